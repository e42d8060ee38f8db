package store_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

var t0 = time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)

func insert(t *testing.T, s *store.Store, a daemon.Alert) daemon.Alert {
	t.Helper()
	if err := s.InsertAlert(context.Background(), a); err != nil {
		t.Fatalf("InsertAlert: %v", err)
	}
	return a
}

func deliveries(t *testing.T, s *store.Store, alertID string) []store.OutboxItem {
	t.Helper()
	items, err := s.Deliveries(context.Background(), alertID)
	if err != nil {
		t.Fatalf("Deliveries(%s): %v", alertID, err)
	}
	return items
}

func states(items []store.OutboxItem) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Kind+"/"+it.Channel+"="+it.State)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// The DSL must get each alert once per channel, however often the daemon retries
// the enqueue (an error, a restart); an escalation is a separate message.
func TestEnqueueIsIdempotentPerAlertAndChannel(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := insert(t, s, openAlert("02:00:00:00:00:01", t0))
	payload := []byte(`{"alert":{"id":"` + a.ID + `"}}`)
	for i := range 3 {
		if err := s.Enqueue(ctx, a.ID, []string{"dsl-email", "teams"}, payload, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("Enqueue #%d: %v", i+1, err)
		}
	}
	if err := s.EnqueueEscalation(ctx, a.ID, []string{"dsl-email"}, payload, t0.Add(time.Hour)); err != nil {
		t.Fatalf("EnqueueEscalation: %v", err)
	}
	if err := s.EnqueueEscalation(ctx, a.ID, []string{"dsl-email"}, payload, t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("EnqueueEscalation again: %v", err)
	}
	got := deliveries(t, s, a.ID)
	if want := "escalate/dsl-email=pending notify/dsl-email=pending notify/teams=pending"; states(got) != want {
		t.Fatalf("deliveries = %s, want %s", states(got), want)
	}
	for _, it := range got {
		if it.Kind == store.KindNotify && !it.CreatedAt.Equal(t0) {
			t.Errorf("%s created %v: a repeated enqueue must not reset it (want %v)", it.Channel, it.CreatedAt, t0)
		}
		if it.SiteID != site || string(it.Payload) != string(payload) {
			t.Errorf("%s: site %q payload %s", it.Channel, it.SiteID, it.Payload)
		}
	}
	due, err := s.Due(ctx, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 {
		t.Errorf("Due = %d items, want 3", len(due))
	}
}

func TestEnqueueRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := insert(t, s, openAlert("02:00:00:00:00:01", t0))
	for _, tc := range []struct {
		name     string
		alertID  string
		channels []string
		payload  string
		now      time.Time
		notFound bool
	}{
		{"alert not stored (must be committed first)", "01JNOTSTORED0000000000000A", []string{"x"}, `{}`, t0, true},
		{"payload not JSON", a.ID, []string{"x"}, `{`, t0, false},
		{"empty channel", a.ID, []string{""}, `{}`, t0, false},
		{"zero time", a.ID, []string{"x"}, `{}`, time.Time{}, false},
	} {
		err := s.Enqueue(ctx, tc.alertID, tc.channels, []byte(tc.payload), tc.now)
		if err == nil {
			t.Errorf("%s: Enqueue succeeded", tc.name)
			continue
		}
		if errors.Is(err, daemon.ErrNotFound) != tc.notFound {
			t.Errorf("%s: err = %v, ErrNotFound %v", tc.name, err, tc.notFound)
		}
	}
	if got := deliveries(t, s, a.ID); len(got) != 0 {
		t.Errorf("rejected enqueues left rows: %s", states(got))
	}
}

// An unreachable server delays an item (pending, attempts, the error for the
// admin, not due before its backoff) and only a final failure stops it.
func TestMarkFailedAndDelivered(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := insert(t, s, openAlert("02:00:00:00:00:01", t0))
	if err := s.Enqueue(ctx, a.ID, []string{"email", "syslog"}, []byte(`{}`), t0); err != nil {
		t.Fatal(err)
	}
	byChannel := func() map[string]store.OutboxItem {
		m := map[string]store.OutboxItem{}
		for _, it := range deliveries(t, s, a.ID) {
			m[it.Channel] = it
		}
		return m
	}
	items := byChannel()
	email, sl := items["email"], items["syslog"]

	steps := []struct {
		name      string
		do        func() error
		dueAt     time.Time
		wantDue   []string
		wantEmail string // state/attempts/error prefix
	}{
		{"first failure", func() error {
			return s.MarkFailed(ctx, email.ID, "dial tcp 127.0.0.1:25: connection refused", t0.Add(time.Second), false)
		}, t0.Add(500 * time.Millisecond), []string{"syslog"}, "pending/1/dial tcp"},
		{"due again after backoff", func() error { return nil }, t0.Add(time.Second), []string{"email", "syslog"}, "pending/1/dial tcp"},
		{"delivered", func() error { return s.MarkDelivered(ctx, email.ID, t0.Add(2*time.Second)) },
			t0.Add(time.Hour), []string{"syslog"}, "delivered/2/"},
		{"syslog given up", func() error { return s.MarkFailed(ctx, sl.ID, "too old", t0.Add(time.Hour), true) },
			t0.Add(48 * time.Hour), nil, "delivered/2/"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		due, err := s.Due(ctx, st.dueAt, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range due {
			got = append(got, it.Channel)
		}
		slices.Sort(got)
		if !slices.Equal(got, st.wantDue) {
			t.Errorf("%s: due at %v = %v, want %v", st.name, st.dueAt, got, st.wantDue)
		}
		e := byChannel()["email"]
		if s := e.State + "/" + strconv.Itoa(e.Attempts) + "/" + e.LastError; !strings.HasPrefix(s, st.wantEmail) {
			t.Errorf("%s: email item = %s, want %s…", st.name, s, st.wantEmail)
		}
	}
	e := byChannel()["email"]
	if e.DeliveredAt == nil || !e.DeliveredAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("delivered_at = %v, want %v", e.DeliveredAt, t0.Add(2*time.Second))
	}
	if got := byChannel()["syslog"]; got.State != store.OutboxFailed || got.LastError != "too old" || got.Attempts != 1 {
		t.Errorf("syslog item = %+v, want failed with its reason", got)
	}
	// A delivered or failed item cannot be marked again (no second send is recorded).
	for name, err := range map[string]error{
		"delivered twice":       s.MarkDelivered(ctx, email.ID, t0.Add(time.Hour)),
		"failed after delivery": s.MarkFailed(ctx, email.ID, "x", t0.Add(time.Hour), false),
		"unknown item":          s.MarkDelivered(ctx, "nope", t0),
	} {
		if !errors.Is(err, daemon.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	counts, err := s.OutboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.OutboxDelivered] != 1 || counts[store.OutboxFailed] != 1 || counts[store.OutboxPending] != 0 {
		t.Errorf("OutboxCounts = %v", counts)
	}
}

// At most one first notification per device and rule per window; the rest are
// recorded as suppressed (visible on the dashboard, with the reason) and never due.
func TestEnqueueThrottled(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	const window = 10 * time.Minute
	mk := func(mac, rule string, at time.Duration) daemon.Alert {
		a := openAlert(mac, t0.Add(at))
		a.Rule = rule
		return insert(t, s, a)
	}
	for _, tc := range []struct {
		name           string
		mac, rule      string
		at             time.Duration
		wantSuppressed bool
	}{
		{"first alert for the phone", "02:00:00:00:00:01", "phones-away", 0, false},
		{"same phone and rule 2 min later", "02:00:00:00:00:01", "phones-away", 2 * time.Minute, true},
		{"another phone, same rule", "02:00:00:00:00:02", "phones-away", 3 * time.Minute, false},
		{"same phone, another rule", "02:00:00:00:00:01", "no-phones-in-exams", 4 * time.Minute, false},
		{"same phone and rule 6 min", "02:00:00:00:00:01", "phones-away", 6 * time.Minute, true},
		{"same phone and rule 8 min", "02:00:00:00:00:01", "phones-away", 8 * time.Minute, true},
		{"same phone and rule 9 min", "02:00:00:00:00:01", "phones-away", 9 * time.Minute, true},
		{"window after the last one sent has passed", "02:00:00:00:00:01", "phones-away", 10*time.Minute + time.Second, false},
	} {
		a := mk(tc.mac, tc.rule, tc.at)
		by, err := s.EnqueueThrottled(ctx, a.ID, []string{"email", "slack"}, []byte(`{}`), window, t0.Add(tc.at))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		items := deliveries(t, s, a.ID)
		want := store.OutboxPending
		if tc.wantSuppressed {
			want = store.OutboxSuppressed
		}
		for _, it := range items {
			if it.State != want {
				t.Errorf("%s: %s is %s, want %s", tc.name, it.Channel, it.State, want)
			}
			if tc.wantSuppressed && !strings.Contains(it.LastError, "throttled") {
				t.Errorf("%s: suppressed without a reason: %q", tc.name, it.LastError)
			}
		}
		if (by != "") != tc.wantSuppressed || len(items) != 2 {
			t.Errorf("%s: suppressedBy %q, %d items", tc.name, by, len(items))
		}
		// Re-enqueuing the same alert (restart) never turns it into a suppressed one.
		if by2, err := s.EnqueueThrottled(ctx, a.ID, []string{"email", "slack"}, []byte(`{}`), window, t0.Add(tc.at+time.Second)); err != nil || by2 != "" {
			t.Errorf("%s: re-enqueue = %q, %v", tc.name, by2, err)
		}
		if got := states(deliveries(t, s, a.ID)); got != states(items) {
			t.Errorf("%s: re-enqueue changed %s to %s", tc.name, states(items), got)
		}
	}
	due, err := s.Due(ctx, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 8 { // 4 alerts notified × 2 channels
		t.Errorf("due = %d, want 8 (suppressed items are never sent)", len(due))
	}
}

// Outbox rows carry the alert (MAC, host name): the retention purge removes them
// with their alert, and pending ones survive a restart.
func TestOutboxFollowsAlertRetentionAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/hm.db"
	s, err := store.Open(ctx, path, site, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := openAlert("02:00:00:00:00:01", t0)
	old.ClosedAt = ptr(t0.Add(time.Minute))
	insert(t, s, old)
	keep := insert(t, s, openAlert("02:00:00:00:00:02", t0))
	for _, a := range []daemon.Alert{old, keep} {
		if err := s.Enqueue(ctx, a.ID, []string{"email"}, []byte(`{"mac":"`+a.Device.MAC+`"}`), t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if due, err := s.Due(ctx, t0, 0); err != nil || len(due) != 2 {
		t.Fatalf("after reopen Due = %d, %v; want both pending items", len(due), err)
	}
	if n, err := s.Purge(ctx, t0.Add(24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if got := deliveries(t, s, old.ID); len(got) != 0 {
		t.Errorf("purged alert still has outbox rows (its MAC): %s", states(got))
	}
	if got := deliveries(t, s, keep.ID); len(got) != 1 {
		t.Errorf("open alert's outbox rows = %d, want 1", len(got))
	}
}
