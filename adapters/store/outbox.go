package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Outbox item states.
const (
	OutboxPending    = "pending"    // waiting for its (next) attempt
	OutboxDelivered  = "delivered"  // the channel accepted it
	OutboxFailed     = "failed"     // given up on (too old); last_error says why
	OutboxSuppressed = "suppressed" // throttled: the device+rule was notified recently
)

// Outbox item kinds: the first notification of an alert, or its escalation.
const (
	KindNotify   = "notify"
	KindEscalate = "escalate"
)

// OutboxItem is one notification of one alert on one channel.
type OutboxItem struct {
	ID            string     `json:"id"` // ULID
	SiteID        string     `json:"site_id"`
	AlertID       string     `json:"alert_id"`
	Channel       string     `json:"channel"`
	Kind          string     `json:"kind"` // notify | escalate
	Payload       []byte     `json:"-"`    // JSON, as enqueued (holds personal data)
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"` // or, when suppressed, why
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

const outboxColumns = `id, site_id, alert_id, channel, kind, payload, state, attempts,
	next_attempt_at, last_error, created_at, delivered_at`

// Enqueue records one pending first notification of the alert per channel, due
// at now. It is idempotent per alert and channel: enqueuing again (a retry after
// an error, a restart) adds nothing and keeps the existing rows as they are. The
// alert must already be stored (daemon.ErrNotFound otherwise).
func (s *Store) Enqueue(ctx context.Context, alertID string, channels []string, payload []byte, now time.Time) error {
	if err := s.enqueue(ctx, alertID, KindNotify, channels, payload, now); err != nil {
		return fmt.Errorf("store: enqueue alert %s: %w", alertID, err)
	}
	return nil
}

// EnqueueEscalation is Enqueue for an escalation of the alert (to the deputy DSL,
// say). An escalation and a first notification on the same channel are distinct
// rows; each is idempotent on its own.
func (s *Store) EnqueueEscalation(ctx context.Context, alertID string, channels []string, payload []byte, now time.Time) error {
	if err := s.enqueue(ctx, alertID, KindEscalate, channels, payload, now); err != nil {
		return fmt.Errorf("store: enqueue escalation of alert %s: %w", alertID, err)
	}
	return nil
}

// EnqueueThrottled is Enqueue with a throttle, decided in the same transaction:
// when another alert for the same device (MAC) and rule had a first notification
// created in (now-window, now], the rows are recorded as suppressed — kept, with
// the reason in LastError, never sent — and the ID of that earlier alert is
// returned. Otherwise the rows are pending and "" is returned. Like Enqueue it is
// idempotent: an alert already enqueued keeps its rows and returns "".
func (s *Store) EnqueueThrottled(ctx context.Context, alertID string, channels []string, payload []byte, window time.Duration, now time.Time) (suppressedBy string, err error) {
	err = s.txOutbox(ctx, alertID, channels, payload, now, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE alert_id = ? AND kind = 'notify'`, alertID).Scan(&n); err != nil {
			return err
		}
		if n > 0 || window <= 0 {
			return insertOutbox(ctx, tx, s.siteID, alertID, KindNotify, OutboxPending, "", channels, payload, now)
		}
		var (
			prevAlert string
			prevAt    int64
		)
		err := tx.QueryRowContext(ctx, `SELECT o.alert_id, o.created_at
			FROM outbox o
			JOIN alerts p ON p.id = o.alert_id
			JOIN alerts a ON a.id = ?
			WHERE o.created_at > ? AND o.created_at <= ?
			  AND o.kind = 'notify' AND o.state <> 'suppressed' AND o.alert_id <> a.id
			  AND p.device_mac = a.device_mac AND p.rule = a.rule
			ORDER BY o.created_at DESC LIMIT 1`,
			alertID, nanos(now.Add(-window)), nanos(now)).Scan(&prevAlert, &prevAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return insertOutbox(ctx, tx, s.siteID, alertID, KindNotify, OutboxPending, "", channels, payload, now)
		case err != nil:
			return err
		}
		suppressedBy = prevAlert
		why := fmt.Sprintf("throttled: the same device and rule were notified at %s (alert %s); at most one notification per %s",
			fromNanos(prevAt).Format(time.RFC3339), prevAlert, window)
		return insertOutbox(ctx, tx, s.siteID, alertID, KindNotify, OutboxSuppressed, why, channels, payload, now)
	})
	if err != nil {
		return "", fmt.Errorf("store: enqueue alert %s: %w", alertID, err)
	}
	return suppressedBy, nil
}

func (s *Store) enqueue(ctx context.Context, alertID, kind string, channels []string, payload []byte, now time.Time) error {
	return s.txOutbox(ctx, alertID, channels, payload, now, func(tx *sql.Tx) error {
		return insertOutbox(ctx, tx, s.siteID, alertID, kind, OutboxPending, "", channels, payload, now)
	})
}

// txOutbox validates an enqueue and runs fn in a write transaction after checking
// that the alert exists.
func (s *Store) txOutbox(ctx context.Context, alertID string, channels []string, payload []byte, now time.Time, fn func(*sql.Tx) error) error {
	if !validTime(now) {
		return fmt.Errorf("time %v out of range", now)
	}
	if !json.Valid(payload) {
		return errors.New("payload is not valid JSON")
	}
	for _, c := range channels {
		if strings.TrimSpace(c) == "" {
			return errors.New("empty channel name")
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE id = ?`, alertID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %s: %w", alertID, daemon.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return fn(tx)
	})
}

func insertOutbox(ctx context.Context, tx *sql.Tx, siteID, alertID, kind, state, why string, channels []string, payload []byte, now time.Time) error {
	for _, c := range channels {
		id, err := ulid.New(ulid.Timestamp(now), ulid.DefaultEntropy())
		if err != nil {
			return fmt.Errorf("new ID: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox
			(id, site_id, alert_id, channel, kind, payload, state, attempts, next_attempt_at, last_error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
			ON CONFLICT (alert_id, channel, kind) DO NOTHING`,
			id.String(), siteID, alertID, c, kind, string(payload), state, nanos(now), why, nanos(now)); err != nil {
			return fmt.Errorf("channel %s: %w", c, err)
		}
	}
	return nil
}

// Due returns up to limit pending items whose next attempt is at or before now,
// oldest attempt first (limit <= 0 means 500, capped at 10000).
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	items, err := s.queryOutbox(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE state = 'pending' AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`, nanos(now), listLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: due outbox items: %w", err)
	}
	return items, nil
}

// MarkDelivered records that the channel accepted the item at at (counting the
// attempt, and clearing last_error). Only a pending
// item changes; marking an item that is no longer pending is an error wrapping
// daemon.ErrNotFound.
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	if !validTime(at) {
		return fmt.Errorf("store: mark outbox item %s delivered: time %v out of range", id, at)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, last_error = ''
		WHERE id = ? AND state = 'pending'`, nanos(at), id)
	if err == nil {
		err = oneRow(res)
	}
	if err != nil {
		return fmt.Errorf("store: mark outbox item %s delivered: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt: attempts+1 and the error. With final the
// item is given up (state failed); otherwise it stays pending until next.
func (s *Store) MarkFailed(ctx context.Context, id, errText string, next time.Time, final bool) error {
	if !validTime(next) {
		return fmt.Errorf("store: mark outbox item %s failed: time %v out of range", id, next)
	}
	state := OutboxPending
	if final {
		state = OutboxFailed
	}
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?
		WHERE id = ? AND state = 'pending'`, state, errText, nanos(next), id)
	if err == nil {
		err = oneRow(res)
	}
	if err != nil {
		return fmt.Errorf("store: mark outbox item %s failed: %w", id, err)
	}
	return nil
}

// Deliveries returns every outbox item of the alert (its delivery status per
// channel, for the dashboard), oldest first.
func (s *Store) Deliveries(ctx context.Context, alertID string) ([]OutboxItem, error) {
	items, err := s.queryOutbox(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE alert_id = ? ORDER BY created_at, kind, channel`, alertID)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of alert %s: %w", alertID, err)
	}
	return items, nil
}

// OutboxCounts returns how many items are in each state (for metrics and /healthz).
func (s *Store) OutboxCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: outbox counts: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: outbox counts: %w", err)
	}
	return out, nil
}

func (s *Store) queryOutbox(ctx context.Context, q string, args ...any) ([]OutboxItem, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []OutboxItem
	for rows.Next() {
		var (
			it            OutboxItem
			payload       string
			next, created int64
			delivered     sql.NullInt64
		)
		if err := rows.Scan(&it.ID, &it.SiteID, &it.AlertID, &it.Channel, &it.Kind, &payload, &it.State, &it.Attempts,
			&next, &it.LastError, &created, &delivered); err != nil {
			return nil, err
		}
		it.Payload = []byte(payload)
		it.NextAttemptAt = fromNanos(next)
		it.CreatedAt = fromNanos(created)
		it.DeliveredAt = fromNullNanos(delivered)
		items = append(items, it)
	}
	return items, rows.Err()
}

// Unnotified returns alerts opened at or after since that have no first
// notification in the outbox at all (not even a suppressed one), oldest first,
// at most limit (<= 0 means 500). The outbox sweeps them up, so an alert whose
// live event a slow subscriber missed is still notified.
func (s *Store) Unnotified(ctx context.Context, since time.Time, limit int) ([]daemon.Alert, error) {
	if !validTime(since) {
		return nil, fmt.Errorf("store: unnotified alerts: time %v out of range", since)
	}
	as, err := s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts a
		WHERE a.opened_at >= ?
		  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = a.id AND o.kind = 'notify')
		ORDER BY a.opened_at, a.id LIMIT ?`, nanos(since), listLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: unnotified alerts: %w", err)
	}
	return as, nil
}
