package daemon

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by stores when a record does not exist.
var ErrNotFound = errors.New("not found")

// AlertStore is where alerts and the audit log become durable. The daemon commits
// an alert here before anyone (dashboard, notifier) is told about it.
type AlertStore interface {
	InsertAlert(ctx context.Context, a Alert) error
	CloseAlert(ctx context.Context, id string, at time.Time) error
	// UpdateAlertWithAudit changes an alert (state, acknowledgement, resolution) and
	// appends its audit entry in one transaction: no change without its record.
	UpdateAlertWithAudit(ctx context.Context, a Alert, e AuditEntry) error
	GetAlert(ctx context.Context, id string) (Alert, error)
	OpenAlerts(ctx context.Context) ([]Alert, error) // episodes with ClosedAt == nil, to resume after a restart
	AppendAudit(ctx context.Context, e AuditEntry) error
}

// Clock is the daemon's source of time. Production uses SystemClock; the demo runs a
// compressed school day with ScaledClock. rules/ never read a clock: time is passed in.
type Clock interface {
	Now() time.Time
	// Timer fires once the clock reaches at (at once if it already has); stop releases it.
	Timer(at time.Time) (c <-chan time.Time, stop func() bool)
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current wall-clock time.
func (SystemClock) Now() time.Time { return time.Now() }

// Timer fires at the wall-clock instant at.
func (SystemClock) Timer(at time.Time) (<-chan time.Time, func() bool) {
	t := time.NewTimer(time.Until(at))
	return t.C, t.Stop
}

// ScaledClock runs Speed times faster than the wall clock, starting at Start when
// created with NewScaledClock. It is safe for concurrent use (it is immutable).
type ScaledClock struct {
	start     time.Time
	realStart time.Time
	speed     float64
}

// NewScaledClock returns a clock that reads start now and advances speed seconds per
// real second. A speed below or equal to zero is taken as 1.
func NewScaledClock(start time.Time, speed float64) *ScaledClock {
	if speed <= 0 {
		speed = 1
	}
	return &ScaledClock{start: start, realStart: time.Now(), speed: speed}
}

// Now returns the scaled time.
func (c *ScaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.realStart)) * c.speed))
}

// Speed returns how many simulated seconds pass per real second.
func (c *ScaledClock) Speed() float64 { return c.speed }

// RealDuration converts a simulated duration into the real time it takes.
func (c *ScaledClock) RealDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// Timer fires when the scaled clock reaches at.
func (c *ScaledClock) Timer(at time.Time) (<-chan time.Time, func() bool) {
	d := c.RealDuration(at.Sub(c.Now()))
	t := time.NewTimer(d)
	out := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() { // owned by the timer: ends when it fires or is stopped
		select {
		case <-t.C:
			out <- c.Now()
		case <-done:
		}
	}()
	var once bool
	return out, func() bool {
		if once {
			return false
		}
		once = true
		close(done)
		return t.Stop()
	}
}
