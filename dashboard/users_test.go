package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Fixture parts for user management: a user and a token that the tests (and the
// auth matrix) change without touching the accounts the callers sign in with.
const (
	teacherUser = "teacher"
	teacherPass = "teacher password 1"
	spareToken  = "old-sheet"
)

// fakeUsers is an in-memory UsersRegister over the fake store's accounts and
// tokens. Like the real one it refuses (ErrRefused) to disable or demote the
// actor's own account or the last enabled admin, and audits each change.
type fakeUsers struct {
	st      *fakeStore
	mu      sync.Mutex
	created map[string]time.Time
	fail    error // when set, every call answers it
}

func newFakeUsers(st *fakeStore) *fakeUsers {
	return &fakeUsers{st: st, created: map[string]time.Time{}}
}

func (u *fakeUsers) ListUsers(context.Context) ([]UserAccount, error) {
	if u.fail != nil {
		return nil, u.fail
	}
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []UserAccount
	for _, x := range u.st.users {
		a := UserAccount{Name: x.Name, Role: x.Role, CreatedAt: u.created[x.Name], Disabled: u.st.disabled[x.Name]}
		if t, ok := u.st.login[x.Name]; ok {
			a.LastLogin = &t
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// auditLocked appends an audit entry; the store's lock is held.
func (u *fakeUsers) auditLocked(actor, action, target, before, after string) {
	u.st.audit = append(u.st.audit, daemon.AuditEntry{Actor: actor, Action: action, Target: target, Before: before, After: after})
}

func (u *fakeUsers) CreateUser(_ context.Context, x daemon.User, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	if _, ok := u.st.users[x.Name]; ok {
		return fmt.Errorf("%w: a user named %s already exists", ErrRefused, x.Name)
	}
	u.st.users[x.Name] = x
	u.mu.Lock()
	u.created[x.Name] = x.CreatedAt
	u.mu.Unlock()
	u.auditLocked(actor, "user.create", x.Name, "", x.Role)
	return nil
}

// keepAdminLocked refuses taking name out of the enabled admins.
func (u *fakeUsers) keepAdminLocked(name, actor string) error {
	if name == actor {
		return fmt.Errorf("%w: an admin may not disable or demote their own account", ErrRefused)
	}
	n := 0
	for _, x := range u.st.users {
		if x.Role == daemon.RoleAdmin && !u.st.disabled[x.Name] {
			n++
		}
	}
	if x := u.st.users[name]; x.Role == daemon.RoleAdmin && !u.st.disabled[name] && n <= 1 {
		return fmt.Errorf("%w: it is the last enabled admin account", ErrRefused)
	}
	return nil
}

func (u *fakeUsers) SetUserRole(_ context.Context, name, role, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	x, ok := u.st.users[name]
	if !ok {
		return fmt.Errorf("user %s: %w", name, daemon.ErrNotFound)
	}
	if x.Role == role {
		return nil
	}
	if x.Role == daemon.RoleAdmin {
		if err := u.keepAdminLocked(name, actor); err != nil {
			return err
		}
	}
	before := x.Role
	x.Role = role
	u.st.users[name] = x
	u.auditLocked(actor, "user.role", name, before, role)
	return nil
}

func (u *fakeUsers) SetUserDisabled(_ context.Context, name string, disable bool, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	if _, ok := u.st.users[name]; !ok {
		return fmt.Errorf("user %s: %w", name, daemon.ErrNotFound)
	}
	if u.st.disabled[name] == disable {
		return nil
	}
	if !disable {
		delete(u.st.disabled, name)
		u.auditLocked(actor, "user.enable", name, "disabled", "enabled")
		return nil
	}
	if err := u.keepAdminLocked(name, actor); err != nil {
		return err
	}
	u.st.disabled[name] = true
	for h, se := range u.st.sessions {
		if se.User == name {
			delete(u.st.sessions, h)
		}
	}
	u.auditLocked(actor, "user.disable", name, "enabled", "disabled")
	return nil
}

func (u *fakeUsers) ResetPassword(_ context.Context, name, hash, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	x, ok := u.st.users[name]
	if !ok {
		return fmt.Errorf("user %s: %w", name, daemon.ErrNotFound)
	}
	x.PasswordHash = hash
	u.st.users[name] = x
	for h, se := range u.st.sessions {
		if se.User == name {
			delete(u.st.sessions, h)
		}
	}
	u.auditLocked(actor, "user.password", name, "", "password reset")
	return nil
}

func (u *fakeUsers) ListAPITokens(context.Context) ([]APITokenInfo, error) {
	if u.fail != nil {
		return nil, u.fail
	}
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	var out []APITokenInfo
	for _, t := range u.st.tokens {
		out = append(out, APITokenInfo{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (u *fakeUsers) CreateAPIToken(_ context.Context, t daemon.APIToken, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	for _, x := range u.st.tokens {
		if x.Name == t.Name {
			return fmt.Errorf("%w: a token named %s already exists", ErrRefused, t.Name)
		}
	}
	u.st.tokens[t.TokenHash] = t
	u.auditLocked(actor, "token.create", t.Name, "", t.Role)
	return nil
}

func (u *fakeUsers) RevokeAPIToken(_ context.Context, name, actor string) error {
	u.st.mu.Lock()
	defer u.st.mu.Unlock()
	for h, x := range u.st.tokens {
		if x.Name == name {
			delete(u.st.tokens, h)
			u.auditLocked(actor, "token.revoke", name, x.Role, "revoked")
			return nil
		}
	}
	return fmt.Errorf("token %s: %w", name, daemon.ErrNotFound)
}

// lastAudit returns the newest audit entry as "actor action target before→after".
func (f *fakeStore) lastAudit() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.audit) == 0 {
		return ""
	}
	e := f.audit[len(f.audit)-1]
	return e.Actor + " " + e.Action + " " + e.Target + " " + e.Before + "→" + e.After
}

func (f *fakeStore) user(name string) (daemon.User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	return u, ok
}

func (f *fakeStore) isDisabled(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disabled[name]
}

func (f *fakeStore) sessionsOf(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, se := range f.sessions {
		if se.User == name {
			n++
		}
	}
	return n
}

// usersCSRF signs an admin in and returns the browser and the CSRF token of /users.
func usersCSRF(t *testing.T, f *fixture) (*browser, string) {
	t.Helper()
	b := f.newBrowser()
	b.login(adminUser, adminPass)
	resp := b.get("/users")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /users as admin = %d, want 200", resp.StatusCode)
	}
	return b, csrfFrom(t, readBody(t, resp))
}

func TestUsersPageLists(t *testing.T) {
	f, _, _ := newFullFixture(t)
	b, _ := usersCSRF(t, f)
	page := readBody(t, b.get("/users"))
	contains(t, "users page", page, []string{
		`id="user-teacher"`, `data-role="viewer"`, `id="user-dsl"`, `id="user-admin"`,
		`<strong>admin</strong> <span class="muted">(you)</span>`,
		`action="/users/teacher/role"`, `action="/users/teacher/disable"`, `action="/users/teacher/password"`,
		`<label for="role-teacher" class="vh">Role of teacher</label>`,
		`<label for="new-name">`, `<label for="new-role">`, `<label for="new-password">`, `<label for="new-password-again">`,
		`<label for="token-name">`, `<label for="token-role">`,
		`id="token-old-sheet"`, `action="/users/tokens/old-sheet/revoke"`, `id="token-wallboard"`,
		`href="/users" aria-current="page"`,
		"2025-03-01", // teacher's creation day
	}, []string{
		`action="/users/admin/disable"`, `action="/users/admin/role"`, // not your own account
		HashToken(viewerToken), viewerToken, "$2a$", // never a secret or hash
	})
	if !strings.Contains(page, `<td data-label="Last login"><time`) {
		t.Error("the admin's own last login is not shown")
	}
	if !strings.Contains(page, `<span class="muted">never</span>`) {
		t.Error("an account that never signed in is not shown as never")
	}

	// The other roles have no Users link.
	for _, u := range []struct{ name, pw string }{{dslUser, dslPassword}, {sltUser, sltPass}, {viewerUser, viewerPass}} {
		b := f.newBrowser()
		b.login(u.name, u.pw)
		contains(t, u.name+" nav", readBody(t, b.get("/alerts")), nil, []string{`href="/users"`})
	}
}

func TestUsersPageUnavailable(t *testing.T) {
	f := newFixture(t, nil) // no Options.Users
	b := f.newBrowser()
	b.login(adminUser, adminPass)
	resp := b.get("/users")
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "User management is not configured") {
		t.Errorf("GET /users without a register = %d %q, want 503", resp.StatusCode, body)
	}
	rf := newFixture(t, func(o *Options) {
		u := newFakeUsers(o.Store.(*fakeStore))
		u.fail = errors.New("database is locked")
		o.Users = u
	})
	b = rf.newBrowser()
	b.login(adminUser, adminPass)
	if resp := b.get("/users"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET /users when the register fails = %d, want 500", resp.StatusCode)
	}
}

// TestUsersChanges sends each /users form in order and checks the answer, the
// register's state and the audit log.
func TestUsersChanges(t *testing.T) {
	f, _, _ := newFullFixture(t)
	b, csrf := usersCSRF(t, f)
	tb := f.newBrowser() // the teacher, signed in: disabling and resets end this
	tb.login(teacherUser, teacherPass)
	form := func(kv ...string) url.Values {
		v := url.Values{csrfField: {csrf}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	const pw = "a long enough one"
	steps := []struct {
		name  string
		path  string
		form  url.Values
		code  int
		loc   string // Location prefix (303) or ""
		body  string // in the page (non-303)
		audit string // newest audit entry afterwards; "" = none written
		check func(t *testing.T)
	}{
		{"add a dsl", "/users", form("name", "j.smith", "role", "dsl", "password", pw, "password_again", pw),
			http.StatusSeeOther, "/users?done=added&name=j.smith#user-j.smith", "", "admin user.create j.smith →dsl",
			func(t *testing.T) {
				u, ok := f.store.user("j.smith")
				if !ok || u.Role != daemon.RoleDSL || !CheckPassword(u.PasswordHash, pw) {
					t.Errorf("j.smith = %+v (found %t), want a dsl with a bcrypt hash of the password", u, ok)
				}
				if nb := f.newBrowser(); nb.login("j.smith", pw).StatusCode != http.StatusSeeOther {
					t.Error("the new user cannot sign in")
				}
			}},
		{"short password", "/users", form("name", "k", "role", "dsl", "password", "short", "password_again", "short"),
			http.StatusBadRequest, "", "at least 10 characters", "", nil},
		{"passwords differ", "/users", form("name", "k", "role", "dsl", "password", pw, "password_again", pw+"x"),
			http.StatusBadRequest, "", "the two passwords differ", "", nil},
		{"bad name", "/users", form("name", "k smith", "role", "dsl", "password", pw, "password_again", pw),
			http.StatusBadRequest, "", "may use only letters", "", nil},
		{"unknown role", "/users", form("name", "k", "role", "governor", "password", pw, "password_again", pw),
			http.StatusBadRequest, "", "choose a role", "", nil},
		{"name taken", "/users", form("name", dslUser, "role", "viewer", "password", pw, "password_again", pw),
			http.StatusBadRequest, "", "The account was not created: a user named dsl already exists.", "", nil},
		{"teacher becomes slt", "/users/teacher/role", form("role", "slt"),
			http.StatusSeeOther, "/users?done=role&name=teacher", "", "admin user.role teacher viewer→slt", nil},
		{"own role", "/users/admin/role", form("role", "dsl"),
			http.StatusBadRequest, "", "you cannot change your own role", "", nil},
		{"role of nobody", "/users/nobody/role", form("role", "dsl"),
			http.StatusNotFound, "", "there is no such account", "", nil},
		{"disable yourself", "/users/admin/disable", form(),
			http.StatusBadRequest, "", "you cannot disable your own account", "", nil},
		{"disable teacher", "/users/teacher/disable", form(),
			http.StatusSeeOther, "/users?done=disabled&name=teacher", "", "admin user.disable teacher enabled→disabled",
			func(t *testing.T) {
				if n := f.store.sessionsOf(teacherUser); n != 0 || !f.store.isDisabled(teacherUser) {
					t.Errorf("teacher disabled=%t with %d sessions, want disabled with none", f.store.isDisabled(teacherUser), n)
				}
				if resp := tb.get("/alerts"); resp.StatusCode != http.StatusSeeOther {
					t.Errorf("the disabled teacher's browser still gets /alerts: %d", resp.StatusCode)
				}
			}},
		{"enable teacher", "/users/teacher/enable", form(),
			http.StatusSeeOther, "/users?done=enabled&name=teacher", "", "admin user.enable teacher disabled→enabled", nil},
		{"reset: passwords differ", "/users/teacher/password", form("password", pw, "password_again", "other password"),
			http.StatusBadRequest, "", "The password of teacher was not reset: the two passwords differ.", "", nil},
		{"reset teacher's password", "/users/teacher/password", form("password", pw, "password_again", pw),
			http.StatusSeeOther, "/users?done=password&name=teacher", "", "admin user.password teacher →password reset",
			func(t *testing.T) {
				if u, _ := f.store.user(teacherUser); !CheckPassword(u.PasswordHash, pw) {
					t.Error("the teacher's hash does not match the new password")
				}
			}},
		{"token name taken", "/users/tokens", form("name", "wallboard", "role", "viewer"),
			http.StatusBadRequest, "", "a token named wallboard already exists", "", nil},
		{"token without a name", "/users/tokens", form("name", "", "role", "viewer"),
			http.StatusBadRequest, "", "give the token a name", "", nil},
		{"revoke a token", "/users/tokens/old-sheet/revoke", form(),
			http.StatusSeeOther, "/users?done=revoked&name=old-sheet", "", "admin token.revoke old-sheet slt→revoked", nil},
		{"revoke it again", "/users/tokens/old-sheet/revoke", form(),
			http.StatusNotFound, "", "there is no such account or token", "", nil},
		{"no CSRF token", "/users/teacher/disable", url.Values{},
			http.StatusForbidden, "", "", "", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := f.store.lastAudit()
			resp := b.post(st.path, st.form)
			body := readBody(t, resp)
			if resp.StatusCode != st.code {
				t.Fatalf("POST %s = %d, want %d\n%s", st.path, resp.StatusCode, st.code, body)
			}
			if loc := resp.Header.Get("Location"); st.loc != "" && !strings.HasPrefix(loc, st.loc) {
				t.Errorf("Location = %q, want %q", loc, st.loc)
			}
			if st.body != "" && !strings.Contains(body, st.body) {
				t.Errorf("page lacks %q:\n%s", st.body, body)
			}
			got := f.store.lastAudit()
			if st.audit == "" && got != before {
				t.Errorf("a refused change was audited: %q", got)
			}
			if st.audit != "" && got != st.audit {
				t.Errorf("audit = %q, want %q", got, st.audit)
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}
	if resp := b.get("/users?done=added&name=j.smith"); !strings.Contains(readBody(t, resp), "The account j.smith was created.") {
		t.Error("the page does not confirm the added user")
	}
}

// TestCreateAPIToken: the secret is shown once, works as a bearer token with its
// role, is never listed, and stops working when revoked.
func TestCreateAPIToken(t *testing.T) {
	f, _, _ := newFullFixture(t)
	b, csrf := usersCSRF(t, f)
	resp := b.post("/users/tokens", url.Values{csrfField: {csrf}, "name": {"mis-sync"}, "role": {"slt"}})
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create token = %d (Cache-Control %q), want 200 no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	found := newTokenRE.FindStringSubmatch(page)
	if found == nil || len(found[1]) < 40 {
		t.Fatalf("the new token is not shown:\n%s", page)
	}
	m := found[1]
	if f.store.lastAudit() != "admin token.create mis-sync →slt" {
		t.Errorf("audit = %q", f.store.lastAudit())
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/devices", http.StatusOK},                // slt may
		{"/api/v1/devices/x/zones", http.StatusForbidden}, // slt may not
	} {
		if got := f.do(http.MethodGet, tc.path, m, nil).StatusCode; got != tc.want {
			t.Errorf("GET %s with the new token = %d, want %d", tc.path, got, tc.want)
		}
	}
	if again := readBody(t, b.get("/users")); strings.Contains(again, m) || !strings.Contains(again, `id="token-mis-sync"`) {
		t.Error("the token list shows the secret again, or lacks the new token")
	}
	b.post("/users/tokens/mis-sync/revoke", url.Values{csrfField: {csrf}})
	if got := f.do(http.MethodGet, "/api/v1/devices", m, nil).StatusCode; got != http.StatusUnauthorized {
		t.Errorf("revoked token = %d, want 401", got)
	}
}

// TestDisabledUserCannotLogIn: the right password of a disabled account gets no
// session, a clear message and an audit entry.
func TestDisabledUserCannotLogIn(t *testing.T) {
	f, _, _ := newFullFixture(t)
	f.store.mu.Lock()
	f.store.disabled[teacherUser] = true
	f.store.mu.Unlock()
	b := f.newBrowser()
	resp := b.login(teacherUser, teacherPass)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This account is disabled") || b.session() != nil {
		t.Errorf("login of a disabled user = %d, session %v:\n%s", resp.StatusCode, b.session(), body)
	}
	if got := f.store.lastAudit(); got != "teacher login.failed teacher →ip=127.0.0.1 account disabled" {
		t.Errorf("audit = %q", got)
	}
	// A wrong password says nothing about the account being disabled.
	if body := readBody(t, f.newBrowser().login(teacherUser, "wrong password")); strings.Contains(body, "disabled") {
		t.Error("a wrong password reveals that the account is disabled")
	}
}

var newTokenRE = regexp.MustCompile(`id="new-token" value="([^"]+)"`)

// fakeDeliveries answers one alert's deliveries, or err.
type fakeDeliveries struct {
	by  map[string][]Delivery
	err error
}

func (d *fakeDeliveries) Deliveries(_ context.Context, id string) ([]Delivery, error) {
	return slices.Clone(d.by[id]), d.err
}

func TestAlertDeliveries(t *testing.T) {
	at := time.Date(2025, 3, 12, 9, 16, 0, 0, time.UTC)
	sent := at.Add(2 * time.Second)
	ds := []Delivery{
		{Channel: "dsl-email", Kind: "notify", State: "delivered", Attempts: 1, CreatedAt: at, DeliveredAt: &sent},
		{Channel: "teams", Kind: "notify", State: "failed", Attempts: 7, LastError: "webhook answered 502 Bad Gateway", CreatedAt: at},
		{Channel: "sms", Kind: "escalate", State: "pending", Attempts: 2, LastError: "timeout", CreatedAt: at, NextAttempt: at.Add(time.Minute)},
		{Channel: "pager", Kind: "notify", State: "suppressed", LastError: "device+rule notified 3 min ago", CreatedAt: at},
	}
	full := []string{`id="delivery-table"`,
		`data-channel="dsl-email" data-state="delivered"`, `<td data-label="Delivered at"><time datetime="2025-03-12T09:16:02Z"`,
		`data-channel="teams" data-state="failed"`, "webhook answered 502 Bad Gateway", `<td data-label="Attempts">7</td>`,
		`data-channel="sms" data-state="pending"`, "escalation", "next try", `datetime="2025-03-12T09:17:00Z"`,
		`data-channel="pager" data-state="suppressed"`, "rule notified 3 min ago"}
	tests := []struct {
		name    string
		dels    DeliveryStatus // nil: not configured
		user    string
		pw      string
		in, out []string
	}{
		{"dsl sees each channel", &fakeDeliveries{by: map[string][]Delivery{alertID: ds}}, dslUser, dslPassword, full, nil},
		{"slt sees them too", &fakeDeliveries{by: map[string][]Delivery{alertID: ds}}, sltUser, sltPass, full, nil},
		{"not the viewer's wallboard", &fakeDeliveries{by: map[string][]Delivery{alertID: ds}}, viewerUser, viewerPass,
			nil, []string{`id="delivery-h"`, "dsl-email"}},
		{"none queued", &fakeDeliveries{}, dslUser, dslPassword, []string{`id="deliveries-none"`}, []string{`id="delivery-table"`}},
		{"not configured", nil, dslUser, dslPassword, []string{`id="deliveries-unavailable"`}, []string{`id="delivery-table"`}},
		{"store error", &fakeDeliveries{err: errors.New("disk I/O error")}, dslUser, dslPassword,
			[]string{`id="deliveries-error"`, `id="alert-history"`}, []string{"disk I/O error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				if tc.dels != nil {
					o.Deliveries = tc.dels
				}
			})
			b := f.newBrowser()
			b.login(tc.user, tc.pw)
			resp := b.get("/alerts/" + alertID)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("alert page = %d", resp.StatusCode)
			}
			contains(t, tc.name, readBody(t, resp), tc.in, tc.out)
		})
	}
}
