package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	created := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	jones := daemon.User{Name: "dsl.jones", Role: daemon.RoleDSL, PasswordHash: "$2a$10$old", CreatedAt: created}
	admin := daemon.User{Name: "admin", Role: daemon.RoleAdmin, PasswordHash: "$2a$10$adm", CreatedAt: created}
	for _, u := range []daemon.User{jones, admin} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		u       daemon.User
		wantErr error
	}{
		{"duplicate name", daemon.User{Name: "dsl.jones", Role: daemon.RoleViewer, PasswordHash: "x"}, store.ErrExists},
		{"unknown role", daemon.User{Name: "bob", Role: "headteacher", PasswordHash: "x"}, nil},
		{"empty name", daemon.User{Role: daemon.RoleViewer, PasswordHash: "x"}, nil},
		{"no password hash", daemon.User{Name: "carol", Role: daemon.RoleViewer}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(ctx, tc.u)
			if err == nil {
				t.Fatalf("CreateUser(%+v) succeeded", tc.u)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}

	got, err := s.GetUser(ctx, "dsl.jones")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, jones) {
		t.Errorf("GetUser = %+v, want %+v", got, jones)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("GetUser(nobody) = %v, want ErrNotFound", err)
	}
	all, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, []daemon.User{admin, jones}) {
		t.Errorf("ListUsers = %+v, want admin then dsl.jones", all)
	}
}

func TestSetPasswordEndsSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	now := time.Now().UTC()
	for _, name := range []string{"dsl.jones", "admin"} {
		if err := s.CreateUser(ctx, daemon.User{Name: name, Role: daemon.RoleDSL, PasswordHash: "old"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, daemon.Session{TokenHash: "sess-" + name, User: name, CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPassword(ctx, "dsl.jones", "new"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, "dsl.jones"); u.PasswordHash != "new" {
		t.Errorf("hash = %q, want new", u.PasswordHash)
	}
	if _, err := s.GetSession(ctx, "sess-dsl.jones"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("session survived a password reset: %v", err)
	}
	if _, err := s.GetSession(ctx, "sess-admin"); err != nil {
		t.Errorf("another user's session was ended: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "x"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("SetPassword(nobody) = %v, want ErrNotFound", err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.CreateUser(ctx, daemon.User{Name: "dsl.jones", Role: daemon.RoleDSL, PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	live := daemon.Session{TokenHash: "aa11", User: "dsl.jones", CSRF: "csrf-1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
	expired := daemon.Session{TokenHash: "bb22", User: "dsl.jones", CSRF: "csrf-2", CreatedAt: now.Add(-13 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	for _, se := range []daemon.Session{live, expired} {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSession(ctx, "aa11")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, live) {
		t.Errorf("GetSession = %+v, want %+v", got, live)
	}
	if _, err := s.GetSession(ctx, "not-a-hash"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	err = s.CreateSession(ctx, daemon.Session{TokenHash: "cc33", User: "ghost", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("session for a missing user: %v, want ErrNotFound", err)
	}

	n, err := s.DeleteExpiredSessions(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, want 1", n)
	}
	if _, err := s.GetSession(ctx, "bb22"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("expired session still there: %v", err)
	}
	if err := s.DeleteSession(ctx, "aa11"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "aa11"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("logged-out session still there: %v", err)
	}
	if err := s.DeleteSession(ctx, "aa11"); err != nil {
		t.Errorf("logging out twice: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	tok := daemon.APIToken{Name: "mis-sync", TokenHash: "f00d", Role: daemon.RoleViewer, CreatedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupAPIToken(ctx, "f00d")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tok) {
		t.Errorf("LookupAPIToken = %+v, want %+v", got, tok)
	}
	tests := []struct {
		name string
		tok  daemon.APIToken
	}{
		{"same name", daemon.APIToken{Name: "mis-sync", TokenHash: "other", Role: daemon.RoleViewer}},
		{"same hash", daemon.APIToken{Name: "other", TokenHash: "f00d", Role: daemon.RoleViewer}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreateAPIToken(ctx, tc.tok); !errors.Is(err, store.ErrExists) {
				t.Errorf("CreateAPIToken = %v, want ErrExists", err)
			}
		})
	}
	if _, err := s.LookupAPIToken(ctx, "bad"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPIToken(ctx, "mis-sync"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIToken(ctx, "f00d"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("revoked token still accepted: %v", err)
	}
}

// newestAudit returns the newest audit entry as "actor action target before→after".
func newestAudit(t *testing.T, s *store.Store) string {
	t.Helper()
	es, err := s.ListAudit(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		return ""
	}
	e := es[0]
	return e.Actor + " " + e.Action + " " + e.Target + " " + e.Before + "→" + e.After
}

func auditCount(t *testing.T, s *store.Store) int {
	t.Helper()
	es, err := s.ListAudit(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestUserManagement walks the admin page's changes in order: each either is
// refused with the designed error and changes nothing (no audit entry either), or
// is applied with its audit entry.
func TestUserManagement(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	created := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	if err := s.AddUser(ctx, daemon.User{Name: "head", Role: daemon.RoleAdmin, PasswordHash: "h", CreatedAt: created}, "system"); err != nil {
		t.Fatal(err)
	}
	if got, want := newestAudit(t, s), "system user.create head →admin"; got != want {
		t.Errorf("audit after AddUser = %q, want %q", got, want)
	}
	for _, name := range []string{"jones", "it.tech"} {
		if err := s.CreateUser(ctx, daemon.User{Name: name, Role: daemon.RoleDSL, PasswordHash: "h", CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddUser(ctx, daemon.User{Name: "jones", Role: daemon.RoleViewer, PasswordHash: "h"}, "head"); !errors.Is(err, store.ErrExists) {
		t.Errorf("AddUser(existing) = %v, want ErrExists", err)
	}

	steps := []struct {
		name      string
		do        func() error
		wantErr   error  // nil: applied
		wantAudit string // the newest audit entry afterwards ("" when refused: unchanged)
	}{
		{"head demotes themselves", func() error { return s.SetUserRole(ctx, "head", daemon.RoleDSL, "head") }, store.ErrOwnAccount, ""},
		{"the last admin is demoted", func() error { return s.SetUserRole(ctx, "head", daemon.RoleDSL, "system") }, store.ErrLastAdmin, ""},
		{"the last admin is disabled", func() error { return s.SetUserDisabled(ctx, "head", true, "system") }, store.ErrLastAdmin, ""},
		{"head disables themselves", func() error { return s.SetUserDisabled(ctx, "head", true, "head") }, store.ErrOwnAccount, ""},
		{"unknown role", func() error { return s.SetUserRole(ctx, "jones", "governor", "head") }, errAny, ""},
		{"unknown user's role", func() error { return s.SetUserRole(ctx, "ghost", daemon.RoleSLT, "head") }, daemon.ErrNotFound, ""},
		{"unknown user disabled", func() error { return s.SetUserDisabled(ctx, "ghost", true, "head") }, daemon.ErrNotFound, ""},
		{"it.tech promoted to admin", func() error { return s.SetUserRole(ctx, "it.tech", daemon.RoleAdmin, "head") }, nil, "head user.role it.tech dsl→admin"},
		{"head demoted by another admin", func() error { return s.SetUserRole(ctx, "head", daemon.RoleSLT, "it.tech") }, nil, "it.tech user.role head admin→slt"},
		{"jones disabled", func() error { return s.SetUserDisabled(ctx, "jones", true, "it.tech") }, nil, "it.tech user.disable jones enabled→disabled; 1 session(s) ended"},
		{"jones enabled again", func() error { return s.SetUserDisabled(ctx, "jones", false, "it.tech") }, nil, "it.tech user.enable jones disabled→enabled"},
		{"jones's password reset", func() error { return s.ResetPassword(ctx, "jones", "h2", "it.tech") }, nil, "it.tech user.password jones →password reset; 0 session(s) ended"},
		{"empty password hash", func() error { return s.ResetPassword(ctx, "jones", "", "it.tech") }, errAny, ""},
		{"no actor", func() error { return s.SetUserRole(ctx, "jones", daemon.RoleViewer, "") }, errAny, ""},
	}
	if err := s.CreateSession(ctx, daemon.Session{TokenHash: "sess-jones", User: "jones", CreatedAt: created, ExpiresAt: created.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before, last := auditCount(t, s), newestAudit(t, s)
			err := st.do()
			switch {
			case st.wantErr == nil && err != nil:
				t.Fatalf("err = %v, want success", err)
			case st.wantErr == errAny && err == nil, st.wantErr != nil && st.wantErr != errAny && !errors.Is(err, st.wantErr):
				t.Fatalf("err = %v, want %v", err, st.wantErr)
			}
			if st.wantErr != nil {
				if n := auditCount(t, s); n != before || newestAudit(t, s) != last {
					t.Errorf("a refused change wrote %d audit entries", n-before)
				}
				return
			}
			if got := newestAudit(t, s); got != st.wantAudit {
				t.Errorf("audit = %q, want %q", got, st.wantAudit)
			}
		})
	}

	// Asking for what is already so changes and audits nothing.
	before := auditCount(t, s)
	if err := s.SetUserRole(ctx, "jones", daemon.RoleDSL, "it.tech"); err != nil {
		t.Errorf("same role: %v", err)
	}
	if err := s.SetUserDisabled(ctx, "jones", false, "it.tech"); err != nil {
		t.Errorf("enable an enabled user: %v", err)
	}
	if n := auditCount(t, s); n != before {
		t.Errorf("no-op changes wrote %d audit entries", n-before)
	}

	got, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Account{
		{Name: "head", Role: daemon.RoleSLT, CreatedAt: created},
		{Name: "it.tech", Role: daemon.RoleAdmin, CreatedAt: created},
		{Name: "jones", Role: daemon.RoleDSL, CreatedAt: created, LastLoginAt: &created},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListAccounts =\n%+v\nwant\n%+v", got, want)
	}
	if u, _ := s.GetUser(ctx, "jones"); u.PasswordHash != "h2" {
		t.Errorf("jones's hash = %q after the reset, want h2", u.PasswordHash)
	}
}

// errAny stands for "some error" in the table above.
var errAny = errors.New("any error")

// TestDisabledUserCannotSignIn: disabling ends the sessions, refuses new ones and
// hides any that slipped in; enabling lets the user sign in again and records
// the last login.
func TestDisabledUserCannotSignIn(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	now := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)
	for _, u := range []daemon.User{
		{Name: "head", Role: daemon.RoleAdmin, PasswordHash: "h"},
		{Name: "jones", Role: daemon.RoleDSL, PasswordHash: "h"},
	} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	sess := func(hash string) daemon.Session {
		return daemon.Session{TokenHash: hash, User: "jones", CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	for _, h := range []string{"s1", "s2"} {
		if err := s.CreateSession(ctx, sess(h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUserDisabled(ctx, "jones", true, "head"); err != nil {
		t.Fatal(err)
	}
	if got := newestAudit(t, s); got != "head user.disable jones enabled→disabled; 2 session(s) ended" {
		t.Errorf("audit = %q", got)
	}
	for _, h := range []string{"s1", "s2"} {
		if _, err := s.GetSession(ctx, h); !errors.Is(err, daemon.ErrNotFound) {
			t.Errorf("session %s of a disabled user: %v, want ErrNotFound", h, err)
		}
	}
	err := s.CreateSession(ctx, sess("s3"))
	if !errors.Is(err, daemon.ErrNotFound) || !errors.Is(err, store.ErrUserDisabled) {
		t.Errorf("CreateSession for a disabled user = %v, want ErrNotFound and ErrUserDisabled", err)
	}
	// A session written behind the store's back (a race, a restored backup) does
	// not authenticate a disabled user either.
	if _, err := rawDB(t, path).ExecContext(ctx, `INSERT INTO sessions (token_hash, site_id, user_name, csrf, created_at, expires_at)
		VALUES ('s4', ?, 'jones', 'c', 1, ?)`, s.SiteID(), now.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "s4"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("raw session of a disabled user: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteSessionsOfUser(ctx, "jones"); err != nil || n != 1 {
		t.Errorf("DeleteSessionsOfUser = %d, %v, want 1 (the raw one)", n, err)
	}

	if err := s.SetUserDisabled(ctx, "jones", false, "head"); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	se := sess("s5")
	se.CreatedAt, se.ExpiresAt = later, later.Add(time.Hour)
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatalf("CreateSession after enabling: %v", err)
	}
	as, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Name == "jones" && (a.Disabled || a.LastLoginAt == nil || !a.LastLoginAt.Equal(later)) {
			t.Errorf("jones = %+v, want enabled with last login %v", a, later)
		}
	}
}

func TestAPITokenManagement(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, tok := range []daemon.APIToken{
		{Name: "wallboard", TokenHash: "h1", Role: daemon.RoleViewer, CreatedAt: at},
		{Name: "mis-sync", TokenHash: "h2", Role: daemon.RoleSLT, CreatedAt: at},
	} {
		if err := s.AddAPIToken(ctx, tok, "head"); err != nil {
			t.Fatal(err)
		}
	}
	if got := newestAudit(t, s); got != "head token.create mis-sync →slt" {
		t.Errorf("audit = %q", got)
	}
	got, err := s.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []daemon.APIToken{ // by name, never the hash
		{Name: "mis-sync", Role: daemon.RoleSLT, CreatedAt: at},
		{Name: "wallboard", Role: daemon.RoleViewer, CreatedAt: at},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListAPITokens = %+v, want %+v", got, want)
	}
	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"same name", func() error {
			return s.AddAPIToken(ctx, daemon.APIToken{Name: "wallboard", TokenHash: "h3", Role: daemon.RoleViewer}, "head")
		}, store.ErrExists},
		{"revoke unknown", func() error { return s.RevokeAPIToken(ctx, "ghost", "head") }, daemon.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := auditCount(t, s)
			if err := tc.do(); !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if auditCount(t, s) != n {
				t.Error("a refused change was audited")
			}
		})
	}
	if err := s.RevokeAPIToken(ctx, "wallboard", "head"); err != nil {
		t.Fatal(err)
	}
	if got := newestAudit(t, s); got != "head token.revoke wallboard viewer→revoked" {
		t.Errorf("audit = %q", got)
	}
	if _, err := s.LookupAPIToken(ctx, "h1"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("revoked token still accepted: %v", err)
	}
}
