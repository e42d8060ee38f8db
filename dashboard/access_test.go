package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/crypto/bcrypt"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// fullStore adds every optional store part to the fake store: the audit log with
// its hash-chain check, and zone history.
type fullStore struct {
	*fakeStore
	chainErr error // what VerifyAudit answers
}

func (s *fullStore) ListAudit(_ context.Context, limit int) ([]daemon.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]daemon.AuditEntry, 0, len(s.audit))
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.audit[i])
	}
	return out, nil
}

func (s *fullStore) VerifyAudit(context.Context) error { return s.chainErr }

func (s *fullStore) ZoneVisits(_ context.Context, mac string, from, _ time.Time) ([]daemon.ZoneVisit, error) {
	return []daemon.ZoneVisit{{MAC: mac, Zone: "reception", From: from, To: from.Add(time.Hour)}}, nil
}

// fakeReports renders a minimal report in each format; the PDF is a real one.
type fakeReports struct {
	mu    sync.Mutex
	calls []string // "2025-03-11 pdf unmask=false"
}

func (r *fakeReports) Daily(_ context.Context, day time.Time, format string, w io.Writer, unmask bool) error {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("%s %s unmask=%t", day.Format("2006-01-02"), format, unmask))
	r.mu.Unlock()
	switch format {
	case "pdf":
		pdf := fpdf.New("P", "mm", "A4", "")
		pdf.AddPage()
		pdf.SetFont("Helvetica", "", 14)
		pdf.Cell(0, 10, "HallMonitor daily report "+day.Format("2006-01-02"))
		return pdf.Output(w)
	case "csv":
		_, err := io.WriteString(w, "zone,breach_minutes\nscience-block,12\n")
		return err
	case "html":
		_, err := io.WriteString(w, "<!doctype html><title>Daily report</title><p>science-block 12</p>")
		return err
	}
	return errors.New("unknown format")
}

func (r *fakeReports) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1]
}

// newFullFixture is newFixture with every optional store part and a report renderer.
func newFullFixture(t *testing.T) (*fixture, *fullStore, *fakeReports) {
	t.Helper()
	var fs *fullStore
	rep := &fakeReports{}
	f := newFixture(t, func(o *Options) {
		fs = &fullStore{fakeStore: o.Store.(*fakeStore)}
		o.Store = fs
		o.Reports = rep
		o.PseudonymSecret = []byte("test pseudonym secret")
		o.Exemptions = newRegister(o.Now)
		st := fs.fakeStore
		h, err := bcrypt.GenerateFromPassword([]byte(teacherPass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		st.users[teacherUser] = daemon.User{Name: teacherUser, Role: daemon.RoleViewer, PasswordHash: string(h)}
		st.tokens[HashToken("tok-old-sheet-0123456789")] = daemon.APIToken{Name: spareToken, Role: daemon.RoleSLT}
		users := newFakeUsers(st)
		users.created[teacherUser] = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		o.Users = users
		o.Deliveries = &fakeDeliveries{by: map[string][]Delivery{alertID: {
			{Channel: "dsl-email", Kind: "notify", State: "delivered", Attempts: 1, CreatedAt: o.Now()},
		}}}
	})
	return f, fs, rep
}

// Roles as the design gives them (issue 6, item 4), written out here rather than
// read from the route table, so that a change to the table shows up as a failure.
var (
	rAll     = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT, daemon.RoleViewer}
	rLead    = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT}
	rDSL     = []string{daemon.RoleAdmin, daemon.RoleDSL}
	rAdmin   = []string{daemon.RoleAdmin}
	allRoles = rAll
)

// designed is the answer each route must give: who may use it, and the status an
// allowed request gets.
var designed = map[string]struct {
	roles []string
	ok    int
}{
	"GET /{$}":                         {rAll, http.StatusSeeOther}, // → /alerts
	"GET /static/":                     {rAll, http.StatusOK},
	"GET /alerts":                      {rAll, http.StatusOK},
	"GET /alerts/{id}":                 {rAll, http.StatusOK},
	"GET /zones":                       {rAll, http.StatusOK},
	"GET /devices":                     {rLead, http.StatusOK},
	"GET /audit":                       {rDSL, http.StatusOK},
	"GET /audit.csv":                   {rDSL, http.StatusOK},
	"GET /reports":                     {rLead, http.StatusOK},
	"GET /reports/daily":               {rLead, http.StatusOK},
	"POST /logout":                     {rAll, http.StatusSeeOther},
	"POST /alerts/{id}/ack":            {rDSL, http.StatusSeeOther},
	"POST /alerts/{id}/resolve":        {rDSL, http.StatusSeeOther},
	"GET /events":                      {rAll, http.StatusOK},
	"GET /metrics":                     {rAll, http.StatusOK},
	"GET /api/v1/devices":              {rLead, http.StatusOK},
	"GET /api/v1/zones":                {rAll, http.StatusOK},
	"GET /api/v1/devices/{mac}/zones":  {rDSL, http.StatusOK},
	"GET /api/v1/alerts":               {rAll, http.StatusOK},
	"GET /api/v1/alerts/{id}":          {rAll, http.StatusOK},
	"POST /api/v1/alerts/{id}/ack":     {rDSL, http.StatusOK},
	"POST /api/v1/alerts/{id}/resolve": {rDSL, http.StatusOK},
	// The exemptions register: SLT, the DSL and admins see, grant and revoke.
	"GET /exemptions":                     {rLead, http.StatusOK},
	"POST /exemptions":                    {rLead, http.StatusSeeOther},
	"POST /exemptions/{id}/revoke":        {rLead, http.StatusSeeOther},
	"GET /api/v1/exemptions":              {rLead, http.StatusOK},
	"POST /api/v1/exemptions":             {rLead, http.StatusCreated},
	"POST /api/v1/exemptions/{id}/revoke": {rLead, http.StatusOK},
	// User and API token management: admins only, browser forms only.
	"GET /users":                       {rAdmin, http.StatusOK},
	"POST /users":                      {rAdmin, http.StatusSeeOther},
	"POST /users/{name}/role":          {rAdmin, http.StatusSeeOther},
	"POST /users/{name}/disable":       {rAdmin, http.StatusSeeOther},
	"POST /users/{name}/enable":        {rAdmin, http.StatusSeeOther},
	"POST /users/{name}/password":      {rAdmin, http.StatusSeeOther},
	"POST /users/tokens":               {rAdmin, http.StatusOK}, // the page showing the new token once
	"POST /users/tokens/{name}/revoke": {rAdmin, http.StatusSeeOther},
}

// anonymousRoutes answer without authentication; the status is what any caller gets
// (a signed-in browser asking for /login is sent on).
var anonymousRoutes = map[string]int{
	"GET /healthz":          http.StatusOK,
	"GET /login":            http.StatusOK,
	"POST /login":           http.StatusForbidden, // no login-form CSRF cookie
	"GET /static/style.css": http.StatusOK,
	"/api/":                 http.StatusNotFound,
}

// who is one kind of caller in the matrix.
type who struct {
	name  string
	role  string // "" for anonymous
	token bool
}

func callers() []who {
	out := []who{{name: "anonymous"}}
	for _, r := range allRoles {
		out = append(out, who{name: "session:" + r, role: r})
	}
	for _, r := range allRoles {
		out = append(out, who{name: "bearer:" + r, role: r, token: true})
	}
	return out
}

var roleToken = map[string]string{
	daemon.RoleAdmin: adminToken, daemon.RoleDSL: dslToken, daemon.RoleSLT: sltToken, daemon.RoleViewer: viewerToken,
}

var roleUser = map[string]string{
	daemon.RoleAdmin: adminUser, daemon.RoleDSL: dslUser, daemon.RoleSLT: sltUser, daemon.RoleViewer: viewerUser,
}

// request turns a route pattern into a concrete request (path, body).
func matrixRequest(pattern, csrf string) (method, path string, body url.Values) {
	method, path, found := strings.Cut(pattern, " ")
	if !found {
		method, path = http.MethodGet, pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	if strings.Contains(path, "exemptions") {
		path = strings.ReplaceAll(path, "{id}", exemptionID)
	}
	path = strings.ReplaceAll(path, "{id}", alertID)
	if strings.HasPrefix(path, "/users/tokens/") { // a token no caller signs in with
		path = strings.ReplaceAll(path, "{name}", spareToken)
	}
	path = strings.ReplaceAll(path, "{name}", teacherUser)
	path = strings.ReplaceAll(path, "{mac}", "da:a1:19:00:00:01")
	switch path {
	case "/static/":
		path = "/static/app.js"
	case "/api/":
		path = "/api/v1/no-such-thing"
	case "/reports/daily":
		path += "?day=2025-03-11&format=pdf"
	}
	if method == http.MethodPost && !strings.HasPrefix(path, "/api/") {
		body = url.Values{csrfField: {csrf}, "note": {"matrix"}, "outcome": {"other"}}
		switch path {
		case "/exemptions":
			body = validGrant(csrf)
		case "/users":
			body = url.Values{csrfField: {csrf}, "name": {"matrix.user"}, "role": {"viewer"},
				"password": {"matrix password"}, "password_again": {"matrix password"}}
		case "/users/tokens":
			body = url.Values{csrfField: {csrf}, "name": {"matrix-token"}, "role": {"viewer"}}
		case "/users/teacher/role":
			body.Set("role", daemon.RoleSLT)
		case "/users/teacher/password":
			body.Set("password", "matrix password")
			body.Set("password_again", "matrix password")
		}
	}
	return method, path, body
}

// TestAuthMatrix walks every route of the table with every kind of caller and
// checks the designed answer: anonymous pages 303 to /login, anonymous API 401,
// roles outside the design 403, the rest the route's own answer.
func TestAuthMatrix(t *testing.T) {
	f, _, _ := newFullFixture(t)
	seen := map[string]bool{}
	for _, rt := range f.srv.table {
		seen[rt.Pattern] = true
		code, anon := anonymousRoutes[rt.Pattern]
		d, ok := designed[rt.Pattern]
		switch {
		case rt.Kind == kindAnon && !anon:
			t.Errorf("%s is anonymous in the table but not in the design", rt.Pattern)
			continue
		case rt.Kind != kindAnon && !ok:
			t.Errorf("%s is in the route table but has no designed answer in this test", rt.Pattern)
			continue
		case rt.Kind != kindAnon && !slices.Equal(sortedCopy(rt.Roles), sortedCopy(d.roles)):
			t.Errorf("%s: table allows %v, design says %v", rt.Pattern, rt.Roles, d.roles)
		}
		for _, c := range callers() {
			t.Run(rt.Pattern+"/"+c.name, func(t *testing.T) {
				var cookie *http.Cookie
				csrf := "csrf-" + c.name
				if c.role != "" && !c.token {
					cookie = f.session(roleUser[c.role], csrf)
				}
				method, path, form := matrixRequest(rt.Pattern, csrf)
				tok := ""
				if c.token {
					tok = roleToken[c.role]
				}
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				} else if path == "/api/v1/exemptions" {
					body = strings.NewReader(`{"person":"J. Smith","zones":["library"],"from":"2025-03-12T09:00:00Z",` +
						`"until":"2025-03-13T09:00:00Z","reason":"curriculum","approver":"Head"}`)
				} else if strings.HasPrefix(path, "/api/v1/exemptions/") {
					body = strings.NewReader(`{"note":"matrix"}`)
				} else if method == http.MethodPost {
					body = strings.NewReader(`{"note":"matrix","outcome":"other"}`)
				}
				got, loc := f.status(method, path, tok, body, form != nil, cookie)

				want, wantLoc := 0, ""
				switch {
				case rt.Kind == kindAnon:
					want = code
					if rt.Pattern == "GET /login" && cookie != nil {
						want, wantLoc = http.StatusSeeOther, "/alerts"
					}
				case rt.Kind == kindPage && (c.role == "" || c.token):
					want, wantLoc = http.StatusSeeOther, "/login?next="+url.QueryEscape(path)
				case rt.Kind == kindForm && (c.role == "" || c.token):
					want, wantLoc = http.StatusSeeOther, "/login"
				case (rt.Kind == kindAPI || rt.Kind == kindAPIWrite) && c.role == "":
					want = http.StatusUnauthorized
				case rt.Kind == kindAPIWrite && !c.token:
					want = http.StatusUnauthorized // cookies never write through the API
				case !slices.Contains(d.roles, c.role):
					want = http.StatusForbidden
				default:
					want = d.ok
					if rt.Pattern == "GET /{$}" {
						wantLoc = "/alerts"
					}
				}
				if got != want || (wantLoc != "" && loc != wantLoc) {
					t.Errorf("%s %s as %s = %d (Location %q), want %d (Location %q)", method, path, c.name, got, loc, want, wantLoc)
				}
			})
		}
	}
	for p := range designed {
		if !seen[p] {
			t.Errorf("designed route %s is not in the route table", p)
		}
	}
	for p := range anonymousRoutes {
		if !seen[p] {
			t.Errorf("anonymous route %s is not in the route table", p)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// session puts a fresh browser session for user straight into the store.
func (f *fixture) session(user, csrf string) *http.Cookie {
	f.t.Helper()
	tok, err := randomToken()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.srv.store.CreateSession(context.Background(), daemon.Session{
		TokenHash: HashToken(tok), User: user, CSRF: csrf,
		CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour),
	}); err != nil {
		f.t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: tok}
}

// status sends one request and returns its status and Location, closing the body
// at once (so that /events streams end).
func (f *fixture) status(method, path, token string, body io.Reader, form bool, cookie *http.Cookie) (int, string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.http.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}
