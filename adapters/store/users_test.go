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
