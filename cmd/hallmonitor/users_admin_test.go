package main

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/dashboard"
)

func openAdminStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "hm.db"), "test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestUsersAdminRefusals: what the store refuses reaches the dashboard as
// ErrRefused with a message for the admin; unknown names stay ErrNotFound.
func TestUsersAdminRefusals(t *testing.T) {
	ctx := context.Background()
	st := openAdminStore(t)
	u := usersAdmin{st}
	created := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	for _, x := range []daemon.User{
		{Name: "head", Role: daemon.RoleAdmin, PasswordHash: "h", CreatedAt: created},
		{Name: "jones", Role: daemon.RoleDSL, PasswordHash: "h", CreatedAt: created},
	} {
		if err := u.CreateUser(ctx, x, "system"); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.CreateAPIToken(ctx, daemon.APIToken{Name: "wallboard", TokenHash: "h1", Role: daemon.RoleViewer, CreatedAt: created}, "head"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		do      func() error
		want    error
		message string
	}{
		{"name taken", func() error {
			return u.CreateUser(ctx, daemon.User{Name: "jones", Role: daemon.RoleViewer, PasswordHash: "h"}, "head")
		}, dashboard.ErrRefused, "refused: a user named jones already exists"},
		{"token name taken", func() error {
			return u.CreateAPIToken(ctx, daemon.APIToken{Name: "wallboard", TokenHash: "h2", Role: daemon.RoleViewer}, "head")
		}, dashboard.ErrRefused, "refused: a token named wallboard already exists"},
		{"own account", func() error { return u.SetUserDisabled(ctx, "head", true, "head") }, dashboard.ErrRefused,
			"refused: " + store.ErrOwnAccount.Error()},
		{"last admin", func() error { return u.SetUserRole(ctx, "head", daemon.RoleSLT, "jones") }, dashboard.ErrRefused,
			"refused: " + store.ErrLastAdmin.Error()},
		{"unknown user", func() error { return u.ResetPassword(ctx, "ghost", "h", "head") }, daemon.ErrNotFound, ""},
		{"unknown token", func() error { return u.RevokeAPIToken(ctx, "ghost", "head") }, daemon.ErrNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Errorf("message = %q, want %q", err.Error(), tc.message)
			}
		})
	}

	if err := u.SetUserDisabled(ctx, "jones", true, "head"); err != nil {
		t.Fatal(err)
	}
	users, err := u.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dashboard.UserAccount{
		{Name: "head", Role: daemon.RoleAdmin, CreatedAt: created},
		{Name: "jones", Role: daemon.RoleDSL, CreatedAt: created, Disabled: true},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("ListUsers = %+v, want %+v", users, want)
	}
	tokens, err := u.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []dashboard.APITokenInfo{{Name: "wallboard", Role: daemon.RoleViewer, CreatedAt: created}}; !reflect.DeepEqual(tokens, want) {
		t.Errorf("ListAPITokens = %+v, want %+v", tokens, want)
	}
	es, err := st.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 || es[0].Action != "user.disable" || es[0].Actor != "head" || es[0].Target != "jones" {
		t.Errorf("newest audit entry = %+v, want head's user.disable of jones", es[0])
	}
}

// TestAlertDeliveriesAdapter: the outbox rows of an alert reach the alert page
// with their state, attempts, last error and delivery time.
func TestAlertDeliveriesAdapter(t *testing.T) {
	ctx := context.Background()
	st := openAdminStore(t)
	now := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	a := daemon.Alert{ID: ulid.Make().String(), State: daemon.AlertNew, Severity: "high", Action: "alert", OpenedAt: now,
		Device: daemon.AlertDevice{MAC: "da:a1:19:00:00:01", Kind: "phone"}, Zone: "science-block", Rule: "r"}
	if err := st.InsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.Enqueue(ctx, a.ID, []string{"email", "webhook", "teams"}, []byte(`{}`), now); err != nil {
		t.Fatal(err)
	}
	items, err := st.Deliveries(ctx, a.ID)
	if err != nil || len(items) != 3 {
		t.Fatalf("Deliveries = %d items, %v", len(items), err)
	}
	ids := map[string]string{}
	for _, it := range items {
		ids[it.Channel] = it.ID
	}
	sent := now.Add(3 * time.Second)
	next := now.Add(time.Minute)
	if err := st.MarkDelivered(ctx, ids["email"], sent); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(ctx, ids["webhook"], "502 Bad Gateway", next, true); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(ctx, ids["teams"], "timeout", next, false); err != nil {
		t.Fatal(err)
	}
	got, err := alertDeliveries{st}.Deliveries(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range got {
		line := d.Channel + " " + d.Kind + " " + d.State + " " + strconv.Itoa(d.Attempts) + " " + d.LastError
		if d.DeliveredAt != nil {
			line += " at " + d.DeliveredAt.Format(time.TimeOnly)
		}
		if !d.NextAttempt.IsZero() {
			line += " next " + d.NextAttempt.Format(time.TimeOnly)
		}
		lines = append(lines, line)
	}
	want := "email notify delivered 1  at 10:00:03|teams notify pending 1 timeout next 10:01:00|webhook notify failed 1 502 Bad Gateway"
	if g := strings.Join(lines, "|"); g != want {
		t.Errorf("deliveries:\n%s\nwant\n%s", g, want)
	}
}
