package dashboard

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

const alertID = "01JAAAAAAAAAAAAAAAAAAAAAAA"

func TestAPIRequiresAValidBearerToken(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name      string
		header    string
		want      int
		noDevices bool // the role may not list devices (TestAuthMatrix checks the 403)
	}{
		{"no token", "", http.StatusUnauthorized, false},
		{"wrong token", "Bearer not-a-real-token", http.StatusUnauthorized, false},
		{"wrong scheme", "Basic " + dslToken, http.StatusUnauthorized, false},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, false},
		{"right token", "Bearer " + dslToken, http.StatusOK, false},
		{"viewer token reads alerts and zones", "Bearer " + viewerToken, http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/devices", "/api/v1/zones", "/api/v1/alerts", "/api/v1/alerts/" + alertID} {
				if tc.noDevices && path == "/api/v1/devices" {
					continue
				}
				req, _ := http.NewRequest(http.MethodGet, f.http.URL+path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := f.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readBody(t, resp)
				_ = resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("GET %s = %d, want %d: %s", path, resp.StatusCode, tc.want, body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("GET %s Content-Type = %q, want JSON", path, ct)
				}
				if tc.want == http.StatusUnauthorized {
					if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", resp.Header.Get("WWW-Authenticate"))
					}
					var e map[string]string
					if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == "" {
						t.Errorf("401 body %q is not {\"error\": ...}", body)
					}
					if strings.Contains(body, "da:a1:19") {
						t.Errorf("401 body leaks device data: %s", body)
					}
				}
			}
		})
	}
}

// keys decodes a JSON object and returns it as a map.
func keys(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %s", raw)
	}
	return m
}

func requireKeys(t *testing.T, what string, m map[string]json.RawMessage, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, ok := m[n]; !ok {
			t.Errorf("%s has no %q field (the API contract names it)", what, n)
		}
	}
}

func TestAPIJSONContract(t *testing.T) {
	f := newFixture(t, nil)
	closed := f.clock.Now()
	a := sampleAlert("01JBBBBBBBBBBBBBBBBBBBBBBB", f.clock.Now(), "Closed episode.")
	a.ClosedAt = &closed
	f.store.putAlert(a)

	var devs []json.RawMessage
	if err := json.Unmarshal([]byte(readBody(t, f.do("GET", "/api/v1/devices", dslToken, nil))), &devs); err != nil || len(devs) != 1 {
		t.Fatalf("devices: %v (%d items)", err, len(devs))
	}
	d := keys(t, devs[0])
	requireKeys(t, "device", d, "mac", "ip", "hostname", "kind", "os", "vendor", "managed", "randomized_mac",
		"confidence", "zone", "zone_type", "role", "vlan", "decision", "evidence", "first_seen", "last_seen")
	requireKeys(t, "device.decision", keys(t, d["decision"]), "action", "severity", "rule", "clauses", "reason")
	if string(d["mac"]) != `"da:a1:19:00:00:01"` || string(keys(t, d["decision"])["clauses"]) != `["SPT-13","OSS-2.1"]` {
		t.Errorf("device values: mac=%s clauses=%s", d["mac"], keys(t, d["decision"])["clauses"])
	}
	if string(d["evidence"]) != "[]" {
		t.Errorf("device evidence = %s, want [] for none", d["evidence"])
	}
	for _, hidden := range []string{"DHCP", "DNSNames", "TTL"} {
		if _, ok := d[hidden]; ok {
			t.Errorf("device JSON exposes internal field %s", hidden)
		}
	}

	var alerts []json.RawMessage
	if err := json.Unmarshal([]byte(readBody(t, f.do("GET", "/api/v1/alerts", dslToken, nil))), &alerts); err != nil || len(alerts) != 2 {
		t.Fatalf("alerts: %v (%d items)", err, len(alerts))
	}
	first := keys(t, alerts[0])
	requireKeys(t, "alert", first, "id", "site_id", "state", "severity", "action", "opened_at", "closed_at",
		"device", "zone", "rule", "clauses", "reason")
	requireKeys(t, "alert.device", keys(t, first["device"]), "mac", "kind", "os")
	if string(first["id"]) != `"01JBBBBBBBBBBBBBBBBBBBBBBB"` {
		t.Errorf("first alert = %s, want the newest (01JBBB...)", first["id"])
	}
	if string(keys(t, alerts[1])["closed_at"]) != "null" {
		t.Errorf("open alert closed_at = %s, want null", keys(t, alerts[1])["closed_at"])
	}

	one := keys(t, json.RawMessage(readBody(t, f.do("GET", "/api/v1/alerts/"+alertID, dslToken, nil))))
	if string(one["reason"]) != `"Pupil phone seen in a teaching area during pupil hours."` {
		t.Errorf("GET alert by id reason = %s", one["reason"])
	}
}

func TestAPIEmptyResultsAreArrays(t *testing.T) {
	f := newFixture(t, nil)
	f.live.devices = nil
	for _, path := range []string{"/api/v1/devices", "/api/v1/alerts?state=resolved"} {
		if got := strings.TrimSpace(readBody(t, f.do("GET", path, dslToken, nil))); got != "[]" {
			t.Errorf("GET %s = %s, want []", path, got)
		}
	}
}

func TestAPIAlertQueries(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/alerts?state=new&limit=5", http.StatusOK},
		{"/api/v1/alerts?state=acknowledged", http.StatusOK},
		{"/api/v1/alerts?state=bogus", http.StatusBadRequest},
		{"/api/v1/alerts?limit=0", http.StatusBadRequest},
		{"/api/v1/alerts?limit=abc", http.StatusBadRequest},
		{"/api/v1/alerts?limit=100000", http.StatusBadRequest},
		{"/api/v1/alerts/01JNOSUCHALERTXXXXXXXXXXXX", http.StatusNotFound},
		{"/api/v1/nothing", http.StatusNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := f.do("GET", tc.path, dslToken, nil)
			if resp.StatusCode != tc.want {
				t.Fatalf("GET %s = %d, want %d: %s", tc.path, resp.StatusCode, tc.want, readBody(t, resp))
			}
		})
	}
	f.store.mu.Lock()
	got := f.store.filters[0]
	f.store.mu.Unlock()
	if got.State != daemon.AlertNew || got.Limit != 5 {
		t.Errorf("store asked for %+v, want state=new limit=5", got)
	}
}

func TestAPIAlertActions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		token     string
		path      string
		body      string
		want      int
		wantState string
		wantBy    string
	}{
		{"viewer may not acknowledge", viewerToken, "/ack", `{"note":"x"}`, http.StatusForbidden, daemon.AlertNew, ""},
		{"no token may not acknowledge", "", "/ack", `{}`, http.StatusUnauthorized, daemon.AlertNew, ""},
		{"dsl acknowledges", dslToken, "/ack", `{"note":"on my way"}`, http.StatusOK, daemon.AlertAcknowledged, "api:dsl-script"},
		{"resolve needs a known outcome", dslToken, "/resolve", `{"outcome":"shrug"}`, http.StatusBadRequest, daemon.AlertNew, ""},
		{"bad JSON", dslToken, "/resolve", `{"outcome":`, http.StatusBadRequest, daemon.AlertNew, ""},
		{"dsl resolves emergency call", dslToken, "/resolve", `{"outcome":"emergency-call","note":"SPT-4, lines busy"}`, http.StatusOK, daemon.AlertResolved, "api:dsl-script"},
		{"unknown alert", dslToken, "/ack", `{}`, http.StatusNotFound, daemon.AlertNew, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			id := alertID
			if tc.want == http.StatusNotFound {
				id = "01JNOSUCHALERTXXXXXXXXXXXX"
			}
			resp := f.do("POST", "/api/v1/alerts/"+id+tc.path, tc.token, strings.NewReader(tc.body))
			body := readBody(t, resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			a := f.store.alert(alertID)
			if a.State != tc.wantState {
				t.Errorf("alert state %q, want %q", a.State, tc.wantState)
			}
			if by := a.AcknowledgedBy + a.ResolvedBy; by != tc.wantBy {
				t.Errorf("actor %q, want %q", by, tc.wantBy)
			}
			if tc.want == http.StatusOK && !strings.Contains(body, `"state":"`+tc.wantState+`"`) {
				t.Errorf("response does not show the new state: %s", body)
			}
		})
	}
}

func TestAPIWritesNeedATokenNotACookie(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	if b.session() == nil {
		t.Fatal("login set no session cookie")
	}
	if resp := b.get("/api/v1/alerts"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET API with a session = %d, want 200", resp.StatusCode)
	}
	resp := f.do("POST", "/api/v1/alerts/"+alertID+"/ack", "", strings.NewReader(`{}`), b.session())
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST API with only a session cookie = %d, want 401 (cookie POSTs would need CSRF)", resp.StatusCode)
	}
	if st := f.store.alert(alertID).State; st != daemon.AlertNew {
		t.Errorf("alert state changed to %q", st)
	}
}

func TestPagesRedirectToLoginWhenSignedOut(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/", "/alerts", "/alerts?state=new", "/devices?q=phone", "/static/app.js"} {
		resp := f.do("GET", path, "", nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s = %d Location %q, want 303 to /login?next=%s", path, resp.StatusCode, loc, url.QueryEscape(path))
		}
		if body := readBody(t, resp); strings.Contains(body, "da:a1:19") {
			t.Errorf("GET %s leaks data while signed out", path)
		}
	}
	// A bearer token is for the API, not for pages.
	if resp := f.do("GET", "/alerts", dslToken, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /alerts with a bearer token = %d, want 303 to login", resp.StatusCode)
	}
	// Signed-out POSTs change nothing.
	resp := f.do("POST", "/alerts/"+alertID+"/ack", "", strings.NewReader("note=x"))
	if resp.StatusCode != http.StatusSeeOther || f.store.alert(alertID).State != daemon.AlertNew {
		t.Errorf("signed-out ack = %d, state %q", resp.StatusCode, f.store.alert(alertID).State)
	}
}

func TestAnonymousRoutes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		health func() (bool, map[string]any)
		path   string
		want   int
		in     string
	}{
		{"healthz ok", func() (bool, map[string]any) { return true, map[string]any{"devices": 3} }, "/healthz", 200, `"status":"ok"`},
		{"healthz detail", func() (bool, map[string]any) { return true, map[string]any{"devices": 3} }, "/healthz", 200, `"devices":3`},
		{"healthz down", func() (bool, map[string]any) { return false, map[string]any{"store": "locked"} }, "/healthz", 503, `"status":"unavailable"`},
		{"healthz default", nil, "/healthz", 200, `"status":"ok"`},
		{"login page", nil, "/login", 200, `<form method="post" action="/login"`},
		{"login page shows the monitoring notice", nil, "/login", 200, "monitored to keep pupils safe"},
		{"login stylesheet", nil, "/static/style.css", 200, "font-family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.Health = tc.health })
			resp := f.do("GET", tc.path, "", nil)
			body := readBody(t, resp)
			if resp.StatusCode != tc.want || !strings.Contains(body, tc.in) {
				t.Fatalf("GET %s = %d, want %d containing %q:\n%s", tc.path, resp.StatusCode, tc.want, tc.in, body)
			}
		})
	}
}

func TestMetricsRequireAuthentication(t *testing.T) {
	f := newFixture(t, nil)
	if resp := f.do("GET", "/metrics", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics = %d, want 401", resp.StatusCode)
	}
	if resp := f.do("GET", "/metrics", "wrong", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token = %d, want 401", resp.StatusCode)
	}
	if body := readBody(t, f.do("GET", "/metrics", viewerToken, nil)); !strings.Contains(body, "hallmonitor_devices 1") {
		t.Errorf("/metrics with a token: %q", body)
	}
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	if resp := b.get("/metrics"); resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics with a session = %d, want 200", resp.StatusCode)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	for _, path := range []string{"/healthz", "/login", "/alerts", "/devices", "/api/v1/alerts", "/no-such-page", "/static/style.css"} {
		resp := b.get(path)
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if !strings.HasPrefix(path, "/static/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
		}
	}
	// No inline scripts: the CSP would block them, and the live page would silently die.
	for _, path := range []string{"/alerts", "/devices", "/login"} {
		body := readBody(t, b.get(path))
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
			t.Errorf("%s has inline script or style, which the CSP blocks", path)
		}
	}
}

func TestLoginSetsAHardenedSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "tls"}[secure], func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.SecureCookies = secure })
			b := f.newBrowser()
			resp := b.login(dslUser, dslPassword)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alerts" {
				t.Fatalf("login = %d to %q, want 303 to /alerts", resp.StatusCode, resp.Header.Get("Location"))
			}
			var c *http.Cookie
			for _, rc := range resp.Cookies() {
				if rc.Name == sessionCookie {
					c = rc
				}
			}
			if c == nil {
				t.Fatal("no hm_session cookie")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != secure {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v; want HttpOnly, Strict, /, Secure=%v",
					c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
			}
			if len(c.Value) < 43 {
				t.Errorf("session token %q is shorter than 32 random bytes", c.Value)
			}
			s, err := f.store.GetSession(t.Context(), HashToken(c.Value))
			if err != nil {
				t.Fatalf("session not stored by its hash: %v", err)
			}
			if s.User != dslUser || s.CSRF == "" || !s.ExpiresAt.Equal(f.clock.Now().Add(DefaultSessionTTL)) {
				t.Errorf("stored session %+v", s)
			}
			if _, err := f.store.GetSession(t.Context(), c.Value); err == nil {
				t.Error("the raw session token is stored: a database copy would hold live sessions")
			}
			if got := f.store.auditActions(); len(got) != 1 || got[0] != "login:dsl" {
				t.Errorf("audit %v, want [login:dsl]", got)
			}
		})
	}
}

func TestFailedLoginsAreAuditedAndCreateNoSession(t *testing.T) {
	for _, tc := range []struct{ name, user, pw string }{
		{"wrong password", dslUser, "guess"},
		{"unknown user", "nobody", dslPassword},
		{"empty password", dslUser, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			b := f.newBrowser()
			resp := b.login(tc.user, tc.pw)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
				t.Errorf("login = %d, want 401 with a message", resp.StatusCode)
			}
			if b.session() != nil || f.store.sessionCount() != 0 {
				t.Error("a failed login created a session")
			}
			if got := f.store.auditActions(); len(got) != 1 || got[0] != "login.failed:"+tc.user {
				t.Errorf("audit %v, want [login.failed:%s]", got, tc.user)
			}
		})
	}
}

func TestLoginFormNeedsItsCSRFToken(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	readBody(t, b.get("/login")) // sets the pre-session cookie
	for _, tok := range []string{"", "forged-token-forged-token-forged-token-xxxx"} {
		resp := b.post("/login", url.Values{"csrf": {tok}, "username": {dslUser}, "password": {dslPassword}})
		if resp.StatusCode != http.StatusForbidden || f.store.sessionCount() != 0 {
			t.Errorf("login with csrf %q = %d, sessions %d; want 403 and none", tok, resp.StatusCode, f.store.sessionCount())
		}
	}
}

func TestLoginThrottlePerUserAndIP(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	for i := range throttleMax {
		if resp := b.login(dslUser, "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := b.login(dslUser, dslPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th attempt (right password) = %d, want 429 with Retry-After", resp.StatusCode)
	}
	if f.store.sessionCount() != 0 {
		t.Fatal("a throttled login created a session")
	}
	b.login(dslUser, dslPassword) // still throttled: audited once per window, not per attempt
	if got := f.store.auditActions(); len(got) != throttleMax+1 {
		t.Errorf("audit has %d entries, want %d (5 failures + 1 throttled): %v", len(got), throttleMax+1, got)
	}
	// Another account from the same address is not locked out by this one.
	if resp := f.newBrowser().login(viewerUser, viewerPass); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("other user's login = %d, want 303", resp.StatusCode)
	}
	f.clock.Advance(throttleWindow)
	if resp := f.newBrowser().login(dslUser, dslPassword); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login after the window = %d, want 303", resp.StatusCode)
	}
}

func TestStateChangingFormsNeedTheSessionCSRFToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string
		form  url.Values
		check func(f *fixture) bool // reports whether the state changed
	}{
		{"acknowledge", "/alerts/" + alertID + "/ack", url.Values{"note": {"seen"}},
			func(f *fixture) bool { return f.store.alert(alertID).State == daemon.AlertAcknowledged }},
		{"resolve", "/alerts/" + alertID + "/resolve", url.Values{"outcome": {"handed-in"}, "note": {"in the office"}},
			func(f *fixture) bool { return f.store.alert(alertID).State == daemon.AlertResolved }},
		{"logout", "/logout", url.Values{},
			func(f *fixture) bool { return f.store.sessionCount() == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			b := f.newBrowser()
			b.login(dslUser, dslPassword)
			good := b.pageCSRF()
			for _, bad := range []string{"", "x" + good[1:]} {
				form := url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				if bad != "" {
					form.Set(csrfField, bad)
				}
				if resp := b.post(tc.path, form); resp.StatusCode != http.StatusForbidden {
					t.Errorf("csrf %q: %d, want 403", bad, resp.StatusCode)
				}
				if tc.check(f) {
					t.Fatalf("csrf %q: the state changed without a valid token", bad)
				}
			}
			form := url.Values{csrfField: {good}}
			for k, v := range tc.form {
				form[k] = v
			}
			resp := b.post(tc.path, form)
			if resp.StatusCode != http.StatusSeeOther || !tc.check(f) {
				t.Fatalf("with the token: %d (state changed: %v), want 303 and a change", resp.StatusCode, tc.check(f))
			}
			if tc.name != "logout" {
				if by := f.store.alert(alertID).AcknowledgedBy + f.store.alert(alertID).ResolvedBy; by != dslUser {
					t.Errorf("actor %q, want %q", by, dslUser)
				}
				if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/alerts") {
					t.Errorf("redirected to %q, want back to /alerts", loc)
				}
			}
		})
	}
}

func TestViewerCannotActFromThePage(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	b.login(viewerUser, viewerPass)
	page := readBody(t, b.get("/alerts"))
	if strings.Contains(page, "/ack\"") {
		t.Error("viewer sees an Acknowledge form")
	}
	tok := csrfFrom(t, page) // from the logout form
	resp := b.post("/alerts/"+alertID+"/ack", url.Values{csrfField: {tok}})
	if resp.StatusCode != http.StatusForbidden || f.store.alert(alertID).State != daemon.AlertNew {
		t.Errorf("viewer ack = %d, state %q; want 403 and no change", resp.StatusCode, f.store.alert(alertID).State)
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	old := b.session()
	tok := b.pageCSRF()
	resp := b.post("/logout", url.Values{csrfField: {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Replaying the old cookie (e.g. copied before logout) no longer works.
	if resp := f.do("GET", "/alerts", "", nil, old); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("old cookie after logout: GET /alerts = %d, want 303 to login", resp.StatusCode)
	}
	if resp := f.do("GET", "/api/v1/alerts", "", nil, old); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old cookie after logout: API = %d, want 401", resp.StatusCode)
	}
	got := f.store.auditActions()
	if len(got) != 2 || got[1] != "logout:dsl" {
		t.Errorf("audit %v, want login then logout", got)
	}
}

func TestSessionExpires(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SessionTTL = time.Hour })
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	if resp := b.get("/alerts"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %d", resp.StatusCode)
	}
	f.clock.Advance(time.Hour)
	if resp := b.get("/alerts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: GET /alerts = %d, want 303 to login", resp.StatusCode)
	}
	if f.store.sessionCount() != 0 {
		t.Error("expired session left in the store")
	}
}

func TestLoginDoesNotRedirectOffSite(t *testing.T) {
	for _, tc := range []struct{ next, want string }{
		{"/devices?q=phone", "/devices?q=phone"},
		{"//evil.example/", "/alerts"},
		{"https://evil.example/", "/alerts"},
		{"/\\evil.example", "/alerts"},
		{"", "/alerts"},
		{"/login", "/alerts"},
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

func TestAlertsPage(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.PrivacyNotice = "Custom notice: monitored for safeguarding." })
	f.store.putAlert(sampleAlert("01JCCCCCCCCCCCCCCCCCCCCCCC", f.clock.Now(), "Newest <script>alert(1)</script> reason"))
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	page := readBody(t, b.get("/alerts"))
	newest := strings.Index(page, `id="alert-01JCCCCCCCCCCCCCCCCCCCCCCC"`)
	older := strings.Index(page, `id="alert-`+alertID+`"`)
	if newest < 0 || older < 0 || newest > older {
		t.Errorf("alerts not newest first (newest at %d, older at %d)", newest, older)
	}
	for _, want := range []string{
		"Oakham Shires School", "Custom notice: monitored for safeguarding.", `action="/logout"`,
		"SPT-13, OSS-2.1", "science-block", "da:a1:19:00:00:01", "Emergency call (SPT-4)",
		`<label for="outcome-` + alertID + `">`, "&lt;script&gt;", `src="/static/app.js"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("alerts page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("alert reason is not escaped")
	}
	b2 := readBody(t, b.get("/alerts?state=resolved"))
	if strings.Contains(b2, `id="alert-`+alertID+`"`) || !strings.Contains(b2, "No alerts.") {
		t.Error("state filter shows a new alert under resolved")
	}
	if js := b.get("/static/app.js"); js.StatusCode != http.StatusOK {
		t.Errorf("signed-in GET /static/app.js = %d", js.StatusCode)
	}
	if list := b.get("/static/"); list.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/ = %d, want 404 (no directory listings)", list.StatusCode)
	}
}

func TestDevicesPage(t *testing.T) {
	f := newFixture(t, nil)
	laptop := sampleDevice()
	laptop.MAC, laptop.Kind, laptop.OS, laptop.Hostname, laptop.Managed = "00:1b:63:00:00:02", "laptop", "windows", "STAFF-LT-12", true
	laptop.Role, laptop.Zone, laptop.ZoneType = "staff-office", "main-office", "office"
	laptop.Decision.Action, laptop.Decision.Clauses = "allow", nil
	f.live.devices = append(f.live.devices, laptop)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	for _, tc := range []struct {
		q       string
		in, out []string
	}{
		{"", []string{"da:a1:19:00:00:01", "00:1b:63:00:00:02", "2 of 2 devices", "2 devices by kind"}, nil},
		{"laptop", []string{"00:1b:63:00:00:02", "1 of 2 devices"}, []string{"da:a1:19:00:00:01</code>"}},
		{"pupil science", []string{"da:a1:19:00:00:01</code>"}, []string{"00:1b:63:00:00:02"}},
		{"no-such-thing", []string{"No devices match."}, []string{"<code>"}},
	} {
		t.Run("q="+tc.q, func(t *testing.T) {
			page := readBody(t, b.get("/devices?q="+url.QueryEscape(tc.q)))
			for _, s := range tc.in {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.out {
				if strings.Contains(page, s) {
					t.Errorf("page shows %q, which the filter excludes", s)
				}
			}
			if !strings.Contains(page, `<label for="q">`) {
				t.Error("filter box has no label")
			}
		})
	}
}

func TestEventStream(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.heartbeat = 50 * time.Millisecond
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.http.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f.live.waitSubscribers(t, 1)

	a := sampleAlert("01JDDDDDDDDDDDDDDDDDDDDDDD", f.clock.Now(), "Phone in the exam hall.")
	f.live.publish(daemon.Event{Type: "alert.opened", Alert: &a})

	lines := make(chan string)
	go func() { // owned by this test: ends when the body is closed below
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended early")
			}
			return l
		case <-time.After(5 * time.Second):
			t.Fatal("no event line within 5s")
		}
		return ""
	}
	// Skip the preamble (retry + comments) up to the event.
	var l string
	for l = next(); !strings.HasPrefix(l, "event:"); l = next() {
	}
	if l != "event: alert.opened" {
		t.Fatalf("event line %q", l)
	}
	data := next()
	if !strings.HasPrefix(data, "data: ") {
		t.Fatalf("data line %q", data)
	}
	if blank := next(); blank != "" {
		t.Fatalf("event not terminated by a blank line: %q", blank)
	}
	var got daemon.Event
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &got); err != nil {
		t.Fatalf("data is not a JSON event: %v", err)
	}
	if got.Type != "alert.opened" || got.Alert == nil || got.Alert.ID != a.ID || got.Alert.Reason != a.Reason {
		t.Errorf("event %+v", got)
	}
	// Heartbeats keep proxies and browsers from timing the stream out.
	for l = next(); l != ": heartbeat"; l = next() {
	}

	_ = resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for f.live.subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("subscription not released after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range lines { // drain until the reader goroutine ends
	}
}

func TestEventStreamEndsOnClose(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.http.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	f.live.waitSubscribers(t, 1)
	f.srv.Close()
	done := make(chan struct{})
	go func() { // owned by this test: ends when the body reaches EOF
		defer close(done)
		_, _ = bufio.NewReader(resp.Body).WriteTo(discard{})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close did not end the event stream")
	}
	if f.live.subscribers() != 0 {
		t.Error("subscription not released")
	}
	if resp := f.do("GET", "/events", viewerToken, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("new stream after Close = %d, want 503", resp.StatusCode)
	}
	if resp := f.do("GET", "/events", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /events = %d, want 401", resp.StatusCode)
	}
}

func TestEventStreamEndsWhenTheCredentialsGo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(f *fixture, b *browser)
	}{
		{"logout", func(f *fixture, b *browser) {
			b.post("/logout", url.Values{csrfField: {b.pageCSRF()}})
		}},
		{"session expires", func(f *fixture, _ *browser) { f.clock.Advance(DefaultSessionTTL) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.srv.heartbeat = 20 * time.Millisecond
			b := f.newBrowser()
			b.login(dslUser, dslPassword)
			cookie := b.session()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.http.URL+"/events", nil)
			req.AddCookie(cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /events with a session = %d", resp.StatusCode)
			}
			f.live.waitSubscribers(t, 1)
			tc.revoke(f, b)
			deadline := time.Now().Add(5 * time.Second)
			for f.live.subscribers() != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the stream kept sending alerts to a browser that is no longer signed in")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestNewRejectsMissingPorts(t *testing.T) {
	st := newFakeStore()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no store", Options{Live: newFakeLive(st, time.Now)}},
		{"no live", Options{Store: st}},
		{"negative ttl", Options{Store: st, Live: newFakeLive(st, time.Now), SessionTTL: -time.Second}},
	} {
		if _, err := New(tc.o); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

func TestPasswordHelpers(t *testing.T) {
	h, err := HashPassword("a long enough passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "a long enough passphrase") || CheckPassword(h, "a long enough passphrasE") {
		t.Error("CheckPassword does not tell the right password from a near miss")
	}
	for _, bad := range []string{"", strings.Repeat("x", 73)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d bytes) succeeded", len(bad))
		}
	}
	if HashToken("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Error("HashToken is not hex SHA-256")
	}
}
