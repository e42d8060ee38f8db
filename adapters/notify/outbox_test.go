package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/notify"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, testSite, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// committed stores the alert as the engine does before anyone is told.
func committed(t *testing.T, s *store.Store, a daemon.Alert) daemon.Alert {
	t.Helper()
	if err := s.InsertAlert(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func itemsOf(t *testing.T, s *store.Store, alertID string) []store.OutboxItem {
	t.Helper()
	items, err := s.Deliveries(context.Background(), alertID)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func flush(t *testing.T, o *notify.Outbox) int {
	t.Helper()
	n, err := o.Flush(context.Background())
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return n
}

// observed returns a logger and its captured entries (every level).
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// assertNoPersonalData fails when a log entry above debug mentions a device MAC
// or host name.
func assertNoPersonalData(t *testing.T, logs *observer.ObservedLogs, personal ...string) {
	t.Helper()
	for _, e := range logs.All() {
		if e.Level <= zapcore.DebugLevel {
			continue
		}
		b, _ := json.Marshal(e.ContextMap())
		for _, p := range personal {
			if strings.Contains(e.Message+string(b), p) {
				t.Errorf("log %s %q carries personal data %q: %s", e.Level, e.Message, p, b)
			}
		}
	}
}

// The mail server is down: the alert waits (pending, attempts, the error for the
// admin) with growing backoff; when the server comes back it is delivered once.
func TestOutboxSMTPOutageDelaysButNeverLoses(t *testing.T) {
	ctx := context.Background()
	cert, pool := lab.SelfSigned(t)
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })

	// Reserve a port, then leave it closed: connection refused.
	probe := lab.StartSMTP(t, cert, lab.SMTPOptions{})
	addr, port := probe.Addr(), probe.Port()
	probe.Stop()

	clk := &clock{t: opened}
	log, logs := observed()
	o := &notify.Outbox{
		Store: st, Now: clk.Now, Logger: log, SiteName: "St Mary's",
		Channels: map[string]notify.Channel{"email": &notify.SMTP{
			Host: "127.0.0.1", Port: port, Username: "hm", Password: "pw", IncludeDevice: true,
			From: "hallmonitor@school.example", To: []string{"dsl@school.example"}, TLSConfig: &tls.Config{RootCAs: pool},
		}},
	}
	a := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	if err := o.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name         string
		advance      time.Duration
		serverUp     bool
		wantState    string
		wantAttempts int
		wantErr      string
	}{
		{"server down: first attempt fails", 0, false, store.OutboxPending, 1, "connection refused"},
		{"before the 1 s backoff: no attempt", 500 * time.Millisecond, false, store.OutboxPending, 1, "connection refused"},
		{"after 1 s: second attempt", 500 * time.Millisecond, false, store.OutboxPending, 2, "connection refused"},
		{"before the 2 s backoff", time.Second, false, store.OutboxPending, 2, "connection refused"},
		{"server back: delivered", time.Second, true, store.OutboxDelivered, 3, ""},
		{"later rounds send nothing more", time.Hour, true, store.OutboxDelivered, 3, ""},
	}
	var srv *lab.SMTPServer
	for _, s := range steps {
		clk.Add(s.advance)
		if s.serverUp && srv == nil {
			srv = lab.StartSMTP(t, cert, lab.SMTPOptions{Addr: addr, STARTTLS: true, User: "hm", Pass: "pw"})
		}
		flush(t, o)
		items := itemsOf(t, st, a.ID)
		if len(items) != 1 {
			t.Fatalf("%s: %d outbox items, want 1", s.name, len(items))
		}
		it := items[0]
		if it.State != s.wantState || it.Attempts != s.wantAttempts || !strings.Contains(it.LastError, s.wantErr) {
			t.Errorf("%s: item %s, %d attempts, error %q; want %s, %d, %q", s.name, it.State, it.Attempts, it.LastError, s.wantState, s.wantAttempts, s.wantErr)
		}
	}
	if got := len(srv.Messages()); got != 1 {
		t.Fatalf("the DSL got %d e-mails, want exactly 1", got)
	}
	if _, body := readMail(t, srv.Messages()[0].Data); !strings.Contains(body, mac1) {
		t.Errorf("the DSL's own e-mail lacks the device MAC")
	}
	if logs.FilterMessage("notification attempt failed; will retry").Len() != 2 {
		t.Errorf("want 2 retry warnings for the admin, got %d", logs.FilterMessage("notification attempt failed; will retry").Len())
	}
	assertNoPersonalData(t, logs, mac1, host1)
}

// A restart (store closed and reopened, a new Outbox) resumes pending items and
// does not send delivered ones again.
func TestOutboxResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hm.db")
	r := startReceiver(t)
	clk := &clock{t: opened}
	newOutbox := func(s *store.Store) *notify.Outbox {
		return &notify.Outbox{Store: s, Now: clk.Now, Channels: map[string]notify.Channel{"hook": &notify.Webhook{ChannelName: "hook", URL: r.srv.URL}}}
	}

	st := openStore(t, path)
	o := newOutbox(st)
	delivered := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	if err := o.Notify(ctx, delivered); err != nil {
		t.Fatal(err)
	}
	flush(t, o)
	r.setStatus(502) // the receiver breaks; the next alert waits
	pending := committed(t, st, alertFor("da:a1:19:00:00:02", "phones-away", "exam-hall", opened))
	if err := o.Notify(ctx, pending); err != nil {
		t.Fatal(err)
	}
	flush(t, o)
	if err := st.Close(); err != nil { // the process stops
		t.Fatal(err)
	}

	r.setStatus(200)
	st = openStore(t, path)
	t.Cleanup(func() { _ = st.Close() })
	o = newOutbox(st)
	// The lead re-notifies open alerts after a restart: that must add nothing.
	for _, a := range []daemon.Alert{delivered, pending} {
		if err := o.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Minute)
	flush(t, o)
	flush(t, o)

	count := map[string]int{}
	for _, b := range r.received() {
		var body notify.WebhookBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		count[body.Alert.ID]++
	}
	if count[delivered.ID] != 1 || count[pending.ID] != 1 || len(count) != 2 {
		t.Errorf("deliveries per alert = %v, want each exactly once", count)
	}
	for _, a := range []daemon.Alert{delivered, pending} {
		items := itemsOf(t, st, a.ID)
		if len(items) != 1 || items[0].State != store.OutboxDelivered || items[0].DeliveredAt == nil {
			t.Errorf("alert %s: items %+v, want one delivered", a.ID, items)
		}
	}
}

// After MaxAge the outbox gives up: failed, with the reason, and an error log
// for the admin. Until then it keeps trying, at most every 10 minutes.
func TestOutboxGivesUpAfterMaxAge(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	r.setStatus(500)
	clk := &clock{t: opened}
	log, logs := observed()
	o := &notify.Outbox{Store: st, Now: clk.Now, Logger: log, MaxAge: 24 * time.Hour,
		Channels: map[string]notify.Channel{"teams": &notify.Teams{URL: r.srv.URL}}}
	a := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	if err := o.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	for clk.Now().Sub(opened) < 24*time.Hour+notify.MaxBackoff {
		attempts += flush(t, o)
		it := itemsOf(t, st, a.ID)[0]
		if it.State != store.OutboxPending {
			break
		}
		if it.NextAttemptAt.Sub(clk.Now()) > notify.MaxBackoff {
			t.Fatalf("next attempt %v after %d attempts: backoff above 10 min", it.NextAttemptAt.Sub(clk.Now()), it.Attempts)
		}
		clk.Add(it.NextAttemptAt.Sub(clk.Now())) // jump to the next attempt
	}
	it := itemsOf(t, st, a.ID)[0]
	if it.State != store.OutboxFailed || !strings.Contains(it.LastError, "gave up after") || !strings.Contains(it.LastError, "500") {
		t.Errorf("item = %s %q, want failed with the reason", it.State, it.LastError)
	}
	// 1+2+4+…+512 s ≈ 17 min for the first 10 tries, then one every 10 min.
	if it.Attempts < 140 || it.Attempts > 160 || it.Attempts != attempts {
		t.Errorf("attempts = %d (flushes handled %d), want ≈ 150 over a day", it.Attempts, attempts)
	}
	if e := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("failed permanently"); e.Len() != 1 {
		t.Errorf("want one error log for the admin, got %d", e.Len())
	}
	assertNoPersonalData(t, logs, mac1, host1)
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{10, 512 * time.Second}, {11, 10 * time.Minute}, {64, 10 * time.Minute},
	} {
		if got := notify.Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

// Five alerts for one phone and rule within 10 minutes: the DSL gets one
// message; the four others are recorded as suppressed, not lost.
func TestOutboxThrottle(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	clk := &clock{t: opened}
	o := &notify.Outbox{Store: st, Now: clk.Now, Channels: map[string]notify.Channel{"hook": &notify.Webhook{ChannelName: "hook", URL: r.srv.URL}}}
	var alerts []daemon.Alert
	for i := range 5 { // the phone flaps in and out of the zone
		a := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", clk.Now()))
		alerts = append(alerts, a)
		if err := o.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
		flush(t, o)
		if i < 4 {
			clk.Add(2 * time.Minute)
		}
	}
	if got := len(r.received()); got != 1 {
		t.Errorf("notifications sent = %d, want 1", got)
	}
	var delivered, suppressed int
	for _, a := range alerts {
		for _, it := range itemsOf(t, st, a.ID) {
			switch it.State {
			case store.OutboxDelivered:
				delivered++
			case store.OutboxSuppressed:
				suppressed++
				if !strings.Contains(it.LastError, alerts[0].ID) {
					t.Errorf("suppressed item does not say which notification covered it: %q", it.LastError)
				}
			}
		}
	}
	if delivered != 1 || suppressed != 4 {
		t.Errorf("delivered %d, suppressed %d; want 1 and 4", delivered, suppressed)
	}
	// Another device breaching the same rule is not throttled.
	other := committed(t, st, alertFor("da:a1:19:00:00:09", "phones-away", "teaching-3", clk.Now()))
	if err := o.Notify(ctx, other); err != nil {
		t.Fatal(err)
	}
	flush(t, o)
	if got := len(r.received()); got != 2 {
		t.Errorf("after another device: %d sent, want 2", got)
	}
}

// Thirty phones coming online in one classroom make one grouped notification
// (per channel); each alert's item is marked delivered.
func TestOutboxGroupsOneRoom(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	sys := startSyslog(t, "udp")
	clk := &clock{t: opened}
	o := &notify.Outbox{Store: st, Now: clk.Now, Channels: map[string]notify.Channel{
		"hook":   &notify.Webhook{ChannelName: "hook", URL: r.srv.URL},
		"syslog": &notify.Syslog{Addr: sys.addr, Hostname: "gw"},
	}}
	var ids []string
	for i := range 30 {
		a := alertFor("da:a1:19:00:01:"+string(rune('a'+i/16))+string("0123456789abcdef"[i%16]), "phones-away", "teaching-3", opened.Add(time.Duration(i)*time.Millisecond))
		committed(t, st, a)
		if err := o.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	lone := committed(t, st, alertFor(mac1, "no-phones-in-exams", "exam-hall", opened))
	if err := o.Notify(ctx, lone); err != nil {
		t.Fatal(err)
	}
	if n := flush(t, o); n != 62 {
		t.Errorf("handled %d items, want 62", n)
	}
	got := r.received()
	if len(got) != 2 {
		t.Fatalf("webhook got %d posts, want 2 (one grouped room, one exam hall)", len(got))
	}
	var grouped notify.WebhookBody
	for _, b := range got {
		var body notify.WebhookBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if body.Alert.Zone == "teaching-3" {
			grouped = body
		}
	}
	if grouped.Grouped != 30 || len(grouped.Alerts) != 30 {
		t.Errorf("grouped = %d with %d alerts, want 30", grouped.Grouped, len(grouped.Alerts))
	}
	if msgs := sys.waitMessages(t, 31); len(msgs) != 31 {
		t.Errorf("syslog got %d records, want one per alert (31)", len(msgs))
	}
	for _, id := range ids {
		for _, it := range itemsOf(t, st, id) {
			if it.State != store.OutboxDelivered {
				t.Errorf("alert %s on %s: %s", id, it.Channel, it.State)
			}
		}
	}
}

// Severity routes choose the channels; escalation goes only where Escalation
// routes it and is never throttled; routes naming unknown channels are refused.
func TestOutboxRoutesAndEscalation(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	recv := map[string]*receiver{"dsl-email": startReceiver(t), "slack": startReceiver(t), "deputy": startReceiver(t)}
	chans := map[string]notify.Channel{}
	for name, r := range recv {
		chans[name] = &notify.Webhook{ChannelName: name, URL: r.srv.URL}
	}
	clk := &clock{t: opened}
	o := &notify.Outbox{Store: st, Now: clk.Now, Channels: chans,
		Routes:     map[string][]string{"high": {"dsl-email", "slack"}, notify.RouteAll: {"slack"}},
		Escalation: map[string][]string{"high": {"deputy"}},
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	high := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	low := alertFor("da:a1:19:00:00:02", "watch-in-class", "teaching-3", opened)
	low.Severity = "low"
	committed(t, st, low)
	for _, step := range []struct {
		name string
		do   func() error
		want map[string]int // posts per receiver so far
	}{
		{"high alert: DSL e-mail and Slack", func() error { return o.Notify(ctx, high) }, map[string]int{"dsl-email": 1, "slack": 1}},
		{"low alert: Slack only (RouteAll)", func() error { return o.Notify(ctx, low) }, map[string]int{"dsl-email": 1, "slack": 2}},
		{"high unacknowledged: deputy", func() error { return o.Escalate(ctx, high) }, map[string]int{"dsl-email": 1, "slack": 2, "deputy": 1}},
		{"escalating again adds nothing", func() error { return o.Escalate(ctx, high) }, map[string]int{"dsl-email": 1, "slack": 2, "deputy": 1}},
		{"low has no escalation route", func() error { return o.Escalate(ctx, low) }, map[string]int{"dsl-email": 1, "slack": 2, "deputy": 1}},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		clk.Add(time.Second)
		flush(t, o)
		for name, r := range recv {
			if got := len(r.received()); got != step.want[name] {
				t.Errorf("%s: %s got %d, want %d", step.name, name, got, step.want[name])
			}
		}
	}
	var esc notify.WebhookBody
	if err := json.Unmarshal(recv["deputy"].received()[0], &esc); err != nil {
		t.Fatal(err)
	}
	if esc.Type != "alert.escalated" || esc.Alert.ID != high.ID {
		t.Errorf("escalation body = %+v", esc)
	}

	bad := &notify.Outbox{Channels: chans, Escalation: map[string][]string{"high": {"depty"}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `"depty"`) {
		t.Errorf("Validate with a typo = %v", err)
	}
}

// flakyMarks fails the next MarkDelivered, as a full disk would.
type flakyMarks struct {
	*store.Store
	mu   sync.Mutex
	fail int
}

func (f *flakyMarks) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return errors.New("disk I/O error")
	}
	f.mu.Unlock()
	return f.Store.MarkDelivered(ctx, id, at)
}

// A delivery the store failed to record is recorded later, not sent again.
func TestOutboxRecordsDeliveryWithoutResending(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	fs := &flakyMarks{Store: st, fail: 1}
	clk := &clock{t: opened}
	o := &notify.Outbox{Store: fs, Now: clk.Now, Channels: map[string]notify.Channel{"hook": &notify.Webhook{ChannelName: "hook", URL: r.srv.URL}}}
	a := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	if err := o.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	flush(t, o)
	if it := itemsOf(t, st, a.ID)[0]; it.State != store.OutboxPending {
		t.Fatalf("after the failed mark: %s", it.State)
	}
	clk.Add(time.Second)
	flush(t, o)
	if it := itemsOf(t, st, a.ID)[0]; it.State != store.OutboxDelivered {
		t.Errorf("after the retry: %s, want delivered", it.State)
	}
	if got := len(r.received()); got != 1 {
		t.Errorf("sent %d times, want 1", got)
	}
}

// Run delivers at once after Notify (no poll wait) and stops cleanly.
func TestOutboxRunDeliversPromptly(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	o := &notify.Outbox{Store: st, PollInterval: time.Hour, Channels: map[string]notify.Channel{"hook": &notify.Webhook{ChannelName: "hook", URL: r.srv.URL}}}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return o.Run(gctx) })
	time.Sleep(50 * time.Millisecond) // Run's first (empty) round
	a := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", time.Now()))
	start := time.Now()
	if err := o.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	for len(r.received()) == 0 && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	if err := g.Wait(); err != nil {
		t.Errorf("Run returned %v on shutdown, want nil", err)
	}
	if len(r.received()) != 1 || took > 2*time.Second {
		t.Errorf("delivered %d after %v, want 1 promptly (poll interval was an hour)", len(r.received()), took)
	}
	t.Logf("Notify → webhook received: %v", took)
}

// A mail server that accepts connections and then says nothing costs one
// SendTimeout per round, not one per alert, and does not hold up the webhook.
func TestOutboxSilentServerCostsOneTimeoutPerRound(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never greets
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range held {
			_ = c.Close()
		}
		mu.Unlock()
	})
	r := startReceiver(t)
	clk := &clock{t: opened}
	o := &notify.Outbox{Store: st, Now: clk.Now, SendTimeout: 300 * time.Millisecond, Channels: map[string]notify.Channel{
		"email": &notify.SMTP{Host: "127.0.0.1", Port: silent.Addr().(*net.TCPAddr).Port, From: "hm@school.example", To: []string{"dsl@school.example"}},
		"hook":  &notify.Webhook{ChannelName: "hook", URL: r.srv.URL},
	}}
	var ids []string
	for i, zone := range []string{"teaching-1", "teaching-2", "teaching-3", "teaching-4", "teaching-5"} {
		a := committed(t, st, alertFor("da:a1:19:00:00:0"+string(rune('1'+i)), "phones-away", zone, opened))
		if err := o.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	start := time.Now()
	flush(t, o)
	if took := time.Since(start); took > time.Second {
		t.Errorf("round took %v with a silent mail server, want about one SendTimeout (300ms)", took)
	}
	if got := len(r.received()); got != 5 {
		t.Errorf("webhook got %d of 5 alerts", got)
	}
	for _, id := range ids {
		for _, it := range itemsOf(t, st, id) {
			if it.Channel == "email" && (it.State != store.OutboxPending || it.Attempts != 1 || it.LastError == "") {
				t.Errorf("email item %s %d %q, want pending with one failed attempt", it.State, it.Attempts, it.LastError)
			}
		}
	}
}

// An alert committed but never passed to Notify (the subscriber fell behind and
// its event was dropped, or the process died in between) is swept up.
func TestOutboxSweepNotifiesMissedAlerts(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "hm.db"))
	t.Cleanup(func() { _ = st.Close() })
	r := startReceiver(t)
	clk := &clock{t: opened.Add(time.Minute)}
	log, logs := observed()
	o := &notify.Outbox{Store: st, Now: clk.Now, Logger: log, Routes: map[string][]string{"high": {"hook"}},
		Channels: map[string]notify.Channel{"hook": &notify.Webhook{ChannelName: "hook", URL: r.srv.URL}}}
	missed := committed(t, st, alertFor(mac1, "phones-away", "teaching-3", opened))
	told := committed(t, st, alertFor("da:a1:19:00:00:02", "phones-away", "teaching-4", opened))
	unrouted := alertFor("da:a1:19:00:00:03", "phones-away", "teaching-5", opened)
	unrouted.Severity = "info"
	committed(t, st, unrouted)
	old := committed(t, st, alertFor("da:a1:19:00:00:04", "phones-away", "teaching-6", opened.Add(-2*time.Hour)))
	if err := o.Notify(ctx, told); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, o)
	got := map[string]int{}
	for _, b := range r.received() {
		var body notify.WebhookBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		got[body.Alert.ID]++
	}
	if got[missed.ID] != 1 || got[told.ID] != 1 || got[old.ID] != 0 || len(got) != 2 {
		t.Errorf("sent per alert = %v; want the missed and the told one once each, nothing older than the window", got)
	}
	if n := logs.FilterMessageSnippet("live feed had missed").Len(); n != 1 {
		t.Errorf("sweep warnings = %d, want 1 (the second sweep finds nothing; unrouted alerts are not counted)", n)
	}
}
