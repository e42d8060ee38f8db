package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// OutboxStore is what the outbox needs from the store (*store.Store has it).
type OutboxStore interface {
	EnqueueThrottled(ctx context.Context, alertID string, channels []string, payload []byte, window time.Duration, now time.Time) (suppressedBy string, err error)
	EnqueueEscalation(ctx context.Context, alertID string, channels []string, payload []byte, now time.Time) error
	Due(ctx context.Context, now time.Time, limit int) ([]store.OutboxItem, error)
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	MarkFailed(ctx context.Context, id, errText string, next time.Time, final bool) error
}

// Sweeper is the optional part of an OutboxStore that lets Run notify alerts
// whose live event never reached Notify (a subscriber that fell behind and had
// events dropped, a crash between commit and Notify).
type Sweeper interface {
	Unnotified(ctx context.Context, since time.Time, limit int) ([]daemon.Alert, error)
}

var (
	_ OutboxStore = (*store.Store)(nil)
	_ Sweeper     = (*store.Store)(nil)
)

// Defaults of the Outbox's zero fields.
const (
	DefaultThrottle     = 10 * time.Minute
	DefaultGroupWindow  = 2 * time.Minute
	DefaultMaxAge       = 24 * time.Hour
	DefaultPollInterval = time.Second
	DefaultSendTimeout  = 20 * time.Second
	MaxBackoff          = 10 * time.Minute
	DefaultSweepWindow  = time.Hour
	sweepEvery          = time.Minute
	batchSize           = 200
)

// RouteAll is the Routes / Escalation key that applies to every severity without
// a route of its own.
const RouteAll = "*"

// Outbox turns committed alerts into durable outbox items and delivers them.
//
// Notify and Escalate only write to the store; Run (one per store) sends what is
// due, marks each item delivered right after its channel accepted it, and on
// failure retries with exponential backoff (1 s, 2 s, 4 s … at most MaxBackoff)
// until the item is MaxAge old, when it is marked failed and an error is logged
// for the admin. Pending items survive a restart: a new Outbox on the same store
// carries on.
//
// Delivery is exactly once as far as the outbox can tell. If the process dies
// after a channel accepted an item but before the store recorded it, the item is
// still pending and is sent again after the restart (at least once); e-mails carry
// a Message-ID per alert, webhooks the alert ID, so receivers can spot the copy.
type Outbox struct {
	Store    OutboxStore
	Channels map[string]Channel // by name; the name is what the store records
	// Routes: severity → channel names for first notifications (RouteAll for
	// the rest). nil sends every alert to every channel.
	Routes map[string][]string
	// Escalation: severity → channel names for Escalate (the deputy DSL...).
	Escalation map[string][]string

	Throttle     time.Duration // per device+rule; 0 → DefaultThrottle, < 0 → off
	GroupWindow  time.Duration // 0 → DefaultGroupWindow, < 0 → no grouping
	MaxAge       time.Duration // 0 → DefaultMaxAge
	PollInterval time.Duration // 0 → DefaultPollInterval
	SendTimeout  time.Duration // per send; 0 → DefaultSendTimeout
	// SweepWindow: Run notifies alerts opened within this window that have no
	// outbox row (when Store is a Sweeper), once a minute. 0 → DefaultSweepWindow,
	// < 0 → off.
	SweepWindow time.Duration

	SiteName     string
	DashboardURL string
	Location     *time.Location // for times in messages; nil → UTC

	Now    func() time.Time // nil → time.Now
	Logger *zap.Logger      // nil → no logs

	once sync.Once
	wake chan struct{}
	mu   sync.Mutex
	// sent holds items a channel accepted but the store has not yet recorded (a
	// store error right after the send): they are marked again, never re-sent.
	sent map[string]time.Time
}

// payload is the stored JSON of an outbox item.
type payload struct {
	Alert      daemon.Alert `json:"alert"`
	Escalation bool         `json:"escalation,omitempty"`
}

func (o *Outbox) init() {
	o.once.Do(func() {
		o.wake = make(chan struct{}, 1)
		o.sent = map[string]time.Time{}
	})
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

func (o *Outbox) log() *zap.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return zap.NewNop()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate checks that every channel is named by its key and every route names a
// configured channel.
func (o *Outbox) Validate() error {
	var errs []error
	for k, ch := range o.Channels {
		if ch == nil || ch.Name() != k {
			errs = append(errs, fmt.Errorf("channel %q: registered under another name than its own", k))
		}
	}
	for what, routes := range map[string]map[string][]string{"routes": o.Routes, "escalation": o.Escalation} {
		for sev, names := range routes {
			for _, n := range names {
				if _, ok := o.Channels[n]; !ok {
					errs = append(errs, fmt.Errorf("%s[%s]: unknown channel %q", what, sev, n))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify: outbox: %w", err)
	}
	return nil
}

// route returns the channels for severity: its own route, else RouteAll, else
// (for first notifications without any Routes) every channel.
func (o *Outbox) route(routes map[string][]string, severity string, all bool) []string {
	if routes == nil && all {
		names := make([]string, 0, len(o.Channels))
		for n := range o.Channels {
			names = append(names, n)
		}
		slices.Sort(names)
		return names
	}
	if r, ok := routes[severity]; ok {
		return r
	}
	return routes[RouteAll]
}

// Notify enqueues the first notification of a committed alert on the channels
// its severity routes to. Call it after the store committed the alert. When the
// same device and rule were notified within Throttle, the items are recorded as
// suppressed instead (visible in the store's Deliveries), never sent. Calling it
// again for the same alert adds nothing.
func (o *Outbox) Notify(ctx context.Context, a daemon.Alert) error {
	o.init()
	channels := o.route(o.Routes, a.Severity, true)
	if len(channels) == 0 {
		o.log().Debug("no notification route for severity", zap.String("alert", a.ID), zap.String("severity", a.Severity))
		return nil
	}
	body, err := json.Marshal(payload{Alert: a})
	if err != nil {
		return fmt.Errorf("notify: alert %s: encode: %w", a.ID, err)
	}
	window := orDefault(o.Throttle, DefaultThrottle)
	if window < 0 {
		window = 0
	}
	by, err := o.Store.EnqueueThrottled(ctx, a.ID, channels, body, window, o.now())
	if err != nil {
		return fmt.Errorf("notify: alert %s: %w", a.ID, err)
	}
	if by != "" {
		o.log().Info("notification suppressed by throttle", zap.String("alert", a.ID), zap.String("rule", a.Rule),
			zap.String("notified_alert", by), zap.Duration("window", window))
		return nil
	}
	o.poke()
	return nil
}

// Escalate enqueues an escalation of the alert (it stayed unacknowledged) on the
// channels Escalation routes its severity to. It is never throttled and, like
// Notify, idempotent per alert and channel. Without a route it does nothing.
func (o *Outbox) Escalate(ctx context.Context, a daemon.Alert) error {
	o.init()
	channels := o.route(o.Escalation, a.Severity, false)
	if len(channels) == 0 {
		o.log().Debug("no escalation route for severity", zap.String("alert", a.ID), zap.String("severity", a.Severity))
		return nil
	}
	body, err := json.Marshal(payload{Alert: a, Escalation: true})
	if err != nil {
		return fmt.Errorf("notify: escalate alert %s: encode: %w", a.ID, err)
	}
	if err := o.Store.EnqueueEscalation(ctx, a.ID, channels, body, o.now()); err != nil {
		return fmt.Errorf("notify: escalate alert %s: %w", a.ID, err)
	}
	o.log().Info("alert escalated", zap.String("alert", a.ID), zap.String("severity", a.Severity), zap.Strings("channels", channels))
	o.poke()
	return nil
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run delivers due items until ctx ends (then it returns nil): at once after
// Notify or Escalate, and every PollInterval for retries. A store error is
// logged and retried at the next poll.
func (o *Outbox) Run(ctx context.Context) error {
	o.init()
	t := time.NewTicker(orDefault(o.PollInterval, DefaultPollInterval))
	defer t.Stop()
	var lastSweep time.Time
	for {
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			if err := o.Sweep(ctx); err != nil && ctx.Err() == nil {
				o.log().Error("outbox: sweep for unnotified alerts failed; retrying", zap.Error(err))
			}
		}
		n, err := o.Flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.log().Error("outbox: delivery round failed; retrying", zap.Error(err))
		}
		if n >= batchSize {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-o.wake:
		}
	}
}

// Sweep notifies every alert opened within SweepWindow that has no outbox row
// yet (Notify is idempotent, so a race with the subscriber is harmless). Run
// calls it at start and once a minute; it does nothing unless Store is a Sweeper.
func (o *Outbox) Sweep(ctx context.Context) error {
	sw, ok := o.Store.(Sweeper)
	window := orDefault(o.SweepWindow, DefaultSweepWindow)
	if !ok || window < 0 {
		return nil
	}
	missed, err := sw.Unnotified(ctx, o.now().Add(-window), batchSize)
	if err != nil {
		return fmt.Errorf("notify: sweep: %w", err)
	}
	var (
		errs []error
		n    int
	)
	for _, a := range missed {
		if len(o.route(o.Routes, a.Severity, true)) == 0 {
			continue // not meant to be notified
		}
		if err := o.Notify(ctx, a); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if n > 0 {
		o.log().Warn("outbox: notified alerts the live feed had missed", zap.Int("alerts", n))
	}
	return errors.Join(errs...)
}

type due struct {
	item store.OutboxItem
	p    payload
}

// Flush makes one delivery round: every item due now (up to a batch), grouped by
// channel, kind, zone and rule (Group), one send per group, channels in parallel.
// It returns how many items it handled (delivered or failed an attempt).
func (o *Outbox) Flush(ctx context.Context) (int, error) {
	o.init()
	now := o.now()
	items, err := o.Store.Due(ctx, now, batchSize)
	if err != nil {
		return 0, fmt.Errorf("notify: outbox: %w", err)
	}
	type key struct{ channel, kind string }
	byChannel := map[key][]due{}
	var keys []key
	for _, it := range items {
		var p payload
		if err := json.Unmarshal(it.Payload, &p); err != nil || p.Alert.ID == "" {
			o.fail(ctx, []due{{item: it}}, fmt.Errorf("unreadable payload: %v", err), now, true)
			continue
		}
		k := key{it.Channel, it.Kind}
		if _, ok := byChannel[k]; !ok {
			keys = append(keys, k)
		}
		byChannel[k] = append(byChannel[k], due{item: it, p: p})
	}
	var handled atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, k := range keys {
		g.Go(func() error {
			handled.Add(int64(o.deliverChannel(gctx, k.channel, byChannel[k], now)))
			return nil
		})
	}
	_ = g.Wait() // deliverChannel reports through the store and the log
	return int(handled.Load()), nil
}

// deliverChannel sends one channel's due items, a group at a time.
func (o *Outbox) deliverChannel(ctx context.Context, name string, ds []due, now time.Time) int {
	byID := map[string]due{}
	alerts := make([]daemon.Alert, 0, len(ds))
	handled := 0
	for _, d := range ds {
		if at, ok := o.alreadySent(d.item.ID); ok {
			o.markDelivered(ctx, d, name, at) // accepted before; only the record is missing
			handled++
			continue
		}
		byID[d.p.Alert.ID] = d
		alerts = append(alerts, d.p.Alert)
	}
	window := orDefault(o.GroupWindow, DefaultGroupWindow)
	ch := o.Channels[name]
	var broken error // the channel failed earlier in this round
	for _, group := range Group(alerts, window) {
		if ctx.Err() != nil {
			return handled // shutting down: the items stay pending, no attempt counted
		}
		members := make([]due, len(group))
		for i, a := range group {
			members[i] = byID[a.ID]
		}
		if ch == nil {
			o.fail(ctx, members, fmt.Errorf("channel %q is not configured", name), now, false)
			handled += len(members)
			continue
		}
		if broken != nil {
			// One timeout per channel and round: a mail server that stopped
			// answering must not hold up every other group (and channel) for
			// SendTimeout each.
			o.fail(ctx, members, fmt.Errorf("not attempted, the channel failed earlier in this round: %w", broken), now, false)
			handled += len(members)
			continue
		}
		n := Notification{
			Alert: group[0], SiteName: o.SiteName, DashboardURL: o.DashboardURL, Location: o.Location,
			Grouped: len(group), Escalation: members[0].p.Escalation,
		}
		if len(group) > 1 {
			n.Alerts = group
		}
		sctx, cancel := context.WithTimeout(ctx, orDefault(o.SendTimeout, DefaultSendTimeout))
		err := ch.Send(sctx, n)
		cancel()
		if err != nil && ctx.Err() != nil {
			return handled // cancelled mid-send: retried after the restart
		}
		handled += len(members)
		if err != nil {
			broken = err
			o.fail(ctx, members, err, now, false)
			continue
		}
		at := o.now()
		for _, d := range members {
			o.markDelivered(ctx, d, name, at)
		}
		o.log().Info("notification delivered", zap.String("alert", group[0].ID), zap.String("channel", name),
			zap.String("kind", members[0].item.Kind), zap.Int("grouped", len(group)), zap.Int("attempt", members[0].item.Attempts+1))
	}
	return handled
}

func (o *Outbox) alreadySent(id string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.sent[id]
	return at, ok
}

// markCtx survives the caller's cancellation: a delivery that happened must be
// recorded even while the daemon shuts down.
func markCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (o *Outbox) markDelivered(ctx context.Context, d due, channel string, at time.Time) {
	mctx, cancel := markCtx(ctx)
	defer cancel()
	err := o.Store.MarkDelivered(mctx, d.item.ID, at)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil && !errors.Is(err, daemon.ErrNotFound) {
		o.sent[d.item.ID] = at
		o.log().Error("outbox: delivered but not recorded; will record again, not resend", zap.String("alert", d.item.AlertID),
			zap.String("channel", channel), zap.Error(err))
		return
	}
	delete(o.sent, d.item.ID)
}

// Backoff returns the wait after the attempts-th failed attempt: 1 s, 2 s, 4 s …
// at most MaxBackoff.
func Backoff(attempts int) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	if attempts > 20 {
		return MaxBackoff
	}
	return min(time.Second<<(attempts-1), MaxBackoff)
}

// fail records a failed attempt for each item: retried after Backoff, or given
// up (state failed, error logged for the admin) once the item is MaxAge old.
func (o *Outbox) fail(ctx context.Context, ds []due, cause error, now time.Time, final bool) {
	maxAge := orDefault(o.MaxAge, DefaultMaxAge)
	mctx, cancel := markCtx(ctx)
	defer cancel()
	for _, d := range ds {
		attempts := d.item.Attempts + 1
		giveUp := final || now.Sub(d.item.CreatedAt) >= maxAge
		next := now.Add(Backoff(attempts))
		text := cause.Error()
		if giveUp && !final {
			text = fmt.Sprintf("gave up after %d attempts over %s: %s", attempts, now.Sub(d.item.CreatedAt).Round(time.Second), text)
		}
		if err := o.Store.MarkFailed(mctx, d.item.ID, text, next, giveUp); err != nil {
			o.log().Error("outbox: failed attempt not recorded", zap.String("alert", d.item.AlertID), zap.String("channel", d.item.Channel), zap.Error(err))
			continue
		}
		if giveUp {
			o.log().Error("notification failed permanently: the alert was NOT delivered on this channel; check the channel's settings and the dashboard",
				zap.String("alert", d.item.AlertID), zap.String("channel", d.item.Channel), zap.String("kind", d.item.Kind),
				zap.Int("attempts", attempts), zap.String("error", text))
			continue
		}
		o.log().Warn("notification attempt failed; will retry", zap.String("alert", d.item.AlertID), zap.String("channel", d.item.Channel),
			zap.Int("attempts", attempts), zap.Time("next_attempt", next), zap.Error(cause))
	}
}
