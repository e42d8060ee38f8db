package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// fakeStore is an in-memory Store.
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]daemon.User
	sessions map[string]daemon.Session
	tokens   map[string]daemon.APIToken
	alerts   map[string]daemon.Alert
	audit    []daemon.AuditEntry
	filters  []daemon.AlertFilter // every ListAlerts call
	disabled map[string]bool      // as the real store: no new sessions, old ones hidden
	login    map[string]time.Time // last login (session start) per user
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		users:    map[string]daemon.User{},
		sessions: map[string]daemon.Session{},
		tokens:   map[string]daemon.APIToken{},
		alerts:   map[string]daemon.Alert{},
		disabled: map[string]bool{},
		login:    map[string]time.Time{},
	}
}

func (f *fakeStore) ListAlerts(_ context.Context, flt daemon.AlertFilter) ([]daemon.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	var out []daemon.Alert
	for _, a := range f.alerts {
		if flt.State == "" || a.State == flt.State {
			out = append(out, a)
		}
	}
	return out, nil // unordered on purpose: the dashboard sorts
}

func (f *fakeStore) GetAlert(_ context.Context, id string) (daemon.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alerts[id]
	if !ok {
		return a, fmt.Errorf("alert %s: %w", id, daemon.ErrNotFound)
	}
	return a, nil
}

func (f *fakeStore) GetUser(_ context.Context, name string) (daemon.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return u, fmt.Errorf("user %s: %w", name, daemon.ErrNotFound)
	}
	return u, nil
}

func (f *fakeStore) CreateSession(_ context.Context, s daemon.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disabled[s.User] {
		return fmt.Errorf("session for %s: %w: the account is disabled", s.User, daemon.ErrNotFound)
	}
	f.sessions[s.TokenHash] = s
	f.login[s.User] = s.CreatedAt
	return nil
}

func (f *fakeStore) GetSession(_ context.Context, h string) (daemon.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[h]
	if !ok || f.disabled[s.User] {
		return daemon.Session{}, fmt.Errorf("session: %w", daemon.ErrNotFound)
	}
	return s, nil
}

func (f *fakeStore) DeleteSession(_ context.Context, h string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, h)
	return nil
}

func (f *fakeStore) LookupAPIToken(_ context.Context, h string) (daemon.APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[h]
	if !ok {
		return t, fmt.Errorf("token: %w", daemon.ErrNotFound)
	}
	return t, nil
}

func (f *fakeStore) AppendAudit(_ context.Context, e daemon.AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, e)
	return nil
}

func (f *fakeStore) auditActions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.audit {
		out = append(out, e.Action+":"+e.Actor)
	}
	return out
}

func (f *fakeStore) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *fakeStore) alert(id string) daemon.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alerts[id]
}

func (f *fakeStore) putAlert(a daemon.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts[a.ID] = a
}

// fakeLive is an in-memory Live whose actions change the fake store's alerts.
type fakeLive struct {
	store   *fakeStore
	now     func() time.Time
	mu      sync.Mutex
	devices []daemon.Device
	subs    map[int]chan daemon.Event
	nextSub int
}

func newFakeLive(st *fakeStore, now func() time.Time) *fakeLive {
	return &fakeLive{store: st, now: now, subs: map[int]chan daemon.Event{}}
}

func (l *fakeLive) Devices() []daemon.Device {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]daemon.Device(nil), l.devices...)
}

func (l *fakeLive) Subscribe() (<-chan daemon.Event, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextSub
	l.nextSub++
	ch := make(chan daemon.Event, 16)
	l.subs[id] = ch
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if c, ok := l.subs[id]; ok {
			delete(l.subs, id)
			close(c)
		}
	}
}

func (l *fakeLive) subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

func (l *fakeLive) publish(ev daemon.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.subs {
		c <- ev
	}
}

// waitSubscribers waits (bounded) until at least n streams are subscribed.
func (l *fakeLive) waitSubscribers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.subscribers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("no live subscriber after 5s: the dashboard never subscribed to events")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *fakeLive) AcknowledgeAlert(ctx context.Context, id, actor, note string) (daemon.Alert, error) {
	a, err := l.store.GetAlert(ctx, id)
	if err != nil {
		return a, err
	}
	at := l.now()
	a.State, a.AcknowledgedBy, a.AcknowledgedAt, a.Note = daemon.AlertAcknowledged, actor, &at, note
	l.store.putAlert(a)
	return a, nil
}

func (l *fakeLive) ResolveAlert(ctx context.Context, id, actor, outcome, note string) (daemon.Alert, error) {
	a, err := l.store.GetAlert(ctx, id)
	if err != nil {
		return a, err
	}
	at := l.now()
	a.State, a.ResolvedBy, a.ResolvedAt, a.Outcome, a.Note = daemon.AlertResolved, actor, &at, outcome, note
	l.store.putAlert(a)
	return a, nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Fixture credentials.
const (
	dslUser     = "dsl"
	dslPassword = "correct horse battery"
	viewerUser  = "viewer"
	viewerPass  = "viewer password 1"
	dslToken    = "tok-dsl-0123456789"
	viewerToken = "tok-viewer-0123456789"
	sltUser     = "slt"
	sltPass     = "slt password 12"
	adminUser   = "admin"
	adminPass   = "admin password 1"
	sltToken    = "tok-slt-0123456789"
	adminToken  = "tok-admin-0123456789"
)

type fixture struct {
	t      *testing.T
	srv    *Server
	store  *fakeStore
	live   *fakeLive
	clock  *fakeClock
	http   *httptest.Server
	client *http.Client // no cookies, does not follow redirects
}

// newFixture serves a dashboard over httptest on 127.0.0.1 with two users, two API
// tokens, one open alert and one device.
func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 3, 12, 10, 15, 0, 0, time.UTC)}
	st := newFakeStore()
	lv := newFakeLive(st, clock.Now)
	for _, u := range []struct{ name, pw, role string }{
		{dslUser, dslPassword, daemon.RoleDSL},
		{viewerUser, viewerPass, daemon.RoleViewer},
		{sltUser, sltPass, daemon.RoleSLT},
		{adminUser, adminPass, daemon.RoleAdmin},
	} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		st.users[u.name] = daemon.User{Name: u.name, Role: u.role, PasswordHash: string(h)}
	}
	st.tokens[HashToken(dslToken)] = daemon.APIToken{Name: "dsl-script", Role: daemon.RoleDSL}
	st.tokens[HashToken(viewerToken)] = daemon.APIToken{Name: "wallboard", Role: daemon.RoleViewer}
	st.tokens[HashToken(sltToken)] = daemon.APIToken{Name: "slt-sheet", Role: daemon.RoleSLT}
	st.tokens[HashToken(adminToken)] = daemon.APIToken{Name: "admin-script", Role: daemon.RoleAdmin}
	st.alerts["01JAAAAAAAAAAAAAAAAAAAAAAA"] = sampleAlert("01JAAAAAAAAAAAAAAAAAAAAAAA", clock.Now().Add(-time.Hour),
		"Pupil phone seen in a teaching area during pupil hours.")
	lv.devices = []daemon.Device{sampleDevice()}

	o := Options{
		Store: st, Live: lv, Logger: zaptest.NewLogger(t), Now: clock.Now,
		SiteName: "Oakham Shires School",
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hallmonitor_devices 1\n")
		}),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler()) // listens on 127.0.0.1
	t.Cleanup(hs.Close)
	t.Cleanup(s.Close) // runs before hs.Close: ends event streams first
	return &fixture{
		t: t, srv: s, store: st, live: lv, clock: clock, http: hs,
		client: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func sampleAlert(id string, opened time.Time, reason string) daemon.Alert {
	return daemon.Alert{
		ID: id, SiteID: "oss", State: daemon.AlertNew, Severity: "high", Action: "alert",
		OpenedAt: opened,
		Device:   daemon.AlertDevice{MAC: "da:a1:19:00:00:01", Kind: "phone", OS: "ios", Role: "pupil"},
		Zone:     "science-block", Rule: "pupil-devices-in-school", Clauses: []string{"SPT-13", "OSS-2.1"},
		Reason: reason,
	}
}

func sampleDevice() daemon.Device {
	return daemon.Device{
		MAC: "da:a1:19:00:00:01", IP: "10.20.0.31", Hostname: "Jamies-iPhone", Kind: "phone", OS: "ios",
		Vendor: "Apple", RandomizedMAC: true, Confidence: 0.9, Zone: "science-block", ZoneType: "teaching",
		Role: "pupil", VLAN: 20,
		Decision: policy.Decision{Action: "alert", Severity: "high", Rule: "pupil-devices-in-school",
			Clauses: []string{"SPT-13", "OSS-2.1"}, Reason: "Pupil phone in a teaching area."},
		FirstSeen: time.Date(2025, 3, 12, 8, 40, 0, 0, time.UTC),
		LastSeen:  time.Date(2025, 3, 12, 10, 14, 0, 0, time.UTC),
	}
}

// do sends a request with optional bearer token and cookies.
func (f *fixture) do(method, path, token string, body io.Reader, cookies ...*http.Cookie) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil && method == http.MethodPost {
		if _, ok := body.(*strings.Reader); ok && strings.HasPrefix(path, "/api/") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfFrom(t *testing.T, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", html)
	}
	return m[1]
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	f      *fixture
	client *http.Client
}

func (f *fixture) newBrowser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &browser{f: f, client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(path string) *http.Response {
	b.f.t.Helper()
	resp, err := b.client.Get(b.f.http.URL + path)
	if err != nil {
		b.f.t.Fatalf("GET %s: %v", path, err)
	}
	b.f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func (b *browser) post(path string, form url.Values) *http.Response {
	b.f.t.Helper()
	resp, err := b.client.PostForm(b.f.http.URL+path, form)
	if err != nil {
		b.f.t.Fatalf("POST %s: %v", path, err)
	}
	b.f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// login logs in through the form and returns the response to the POST.
func (b *browser) login(user, pw string) *http.Response {
	b.f.t.Helper()
	page := readBody(b.f.t, b.get("/login"))
	return b.post("/login", url.Values{
		"csrf": {csrfFrom(b.f.t, page)}, "username": {user}, "password": {pw}, "next": {"/alerts"},
	})
}

// sessionCookie returns the browser's hm_session cookie, or nil.
func (b *browser) session() *http.Cookie {
	u, _ := url.Parse(b.f.http.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

// pageCSRF loads /alerts and returns the session's CSRF token from its forms.
func (b *browser) pageCSRF() string {
	b.f.t.Helper()
	resp := b.get("/alerts")
	if resp.StatusCode != http.StatusOK {
		b.f.t.Fatalf("GET /alerts = %d, want 200 (logged in?)", resp.StatusCode)
	}
	return csrfFrom(b.f.t, readBody(b.f.t, resp))
}
