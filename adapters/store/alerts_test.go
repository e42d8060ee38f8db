package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// nonZeroFields fails the test if any field of v (recursively through structs and
// pointers) is zero, so that a field added to daemon.Alert must be added to the
// fixture, and so to the round-trip check, rather than being dropped silently.
func nonZeroFields(t *testing.T, prefix string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			t.Errorf("fixture field %s is nil", prefix)
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[time.Time]() {
		if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
			t.Errorf("fixture field %s is zero: set it so the round trip covers it", prefix)
		}
		return
	}
	for i := range v.NumField() {
		nonZeroFields(t, prefix+"."+v.Type().Field(i).Name, v.Field(i))
	}
}

func TestAlertRoundTripEveryField(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	want := fullAlert(time.Date(2026, 6, 15, 9, 41, 7, 987654321, time.UTC))
	nonZeroFields(t, "Alert", reflect.ValueOf(want))

	// The daemon may hand over local times; they come back as the same instants in UTC.
	in := want
	in.OpenedAt = want.OpenedAt.In(london)
	in.ClosedAt = ptr(want.ClosedAt.In(london))
	if err := s.InsertAlert(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlert(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if got.OpenedAt.Location() != time.UTC || got.ClosedAt.Location() != time.UTC {
		t.Errorf("times not returned in UTC: %v, %v", got.OpenedAt.Location(), got.ClosedAt.Location())
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("API JSON changed by the store:\n got %s\nwant %s", gj, wj)
	}
}

func TestAlertWithoutClausesListsEmptyNotNull(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := openAlert("02:00:00:00:00:01", time.Now())
	a.Clauses = nil
	if err := s.InsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlert(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got); !strings.Contains(string(b), `"clauses":[]`) {
		t.Errorf("JSON = %s, want \"clauses\":[]", b)
	}
	if got.SiteID != site {
		t.Errorf("SiteID = %q, want the store's %q", got.SiteID, site)
	}
}

func TestInsertAlertRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	dup := openAlert("02:00:00:00:00:01", time.Now())
	if err := s.InsertAlert(ctx, dup); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*daemon.Alert)
	}{
		{"ID not a ULID", func(a *daemon.Alert) { a.ID = "alert-1" }},
		{"empty ID", func(a *daemon.Alert) { a.ID = "" }},
		{"duplicate ID", func(a *daemon.Alert) { a.ID = dup.ID }},
		{"unknown state", func(a *daemon.Alert) { a.State = "open" }},
		{"zero opened_at", func(a *daemon.Alert) { a.OpenedAt = time.Time{} }},
		{"another site", func(a *daemon.Alert) { a.SiteID = "other-school" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := openAlert("02:00:00:00:00:02", time.Now())
			tc.change(&a)
			if err := s.InsertAlert(ctx, a); err == nil {
				t.Errorf("InsertAlert accepted %+v", a)
			}
		})
	}
	as, err := s.ListAlerts(ctx, daemon.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 {
		t.Errorf("%d alerts stored after rejected inserts, want 1", len(as))
	}
}

func TestCloseAlert(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC)
	a := openAlert("02:00:00:00:00:01", t0)
	b := openAlert("02:00:00:00:00:02", t0.Add(time.Second))
	for _, x := range []daemon.Alert{a, b} {
		if err := s.InsertAlert(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	closedAt := t0.Add(5 * time.Minute)
	if err := s.CloseAlert(ctx, a.ID, closedAt); err != nil {
		t.Fatal(err)
	}
	// A retried close does not move the end of the episode.
	if err := s.CloseAlert(ctx, a.ID, closedAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlert(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClosedAt == nil || !got.ClosedAt.Equal(closedAt) {
		t.Errorf("ClosedAt = %v, want %v", got.ClosedAt, closedAt)
	}
	if got.State != daemon.AlertNew {
		t.Errorf("closing changed the DSL's state to %q", got.State)
	}
	open, err := s.OpenAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID != b.ID {
		t.Errorf("OpenAlerts = %v, want only %s", ids(open), b.ID)
	}
	if err := s.CloseAlert(ctx, "01HZZZZZZZZZZZZZZZZZZZZZZZ", closedAt); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("closing a missing alert: %v, want ErrNotFound", err)
	}
}

func TestUpdateAlert(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := openAlert("02:00:00:00:00:01", time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC))
	if err := s.InsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	ack := a.OpenedAt.Add(3 * time.Minute)
	res := a.OpenedAt.Add(30 * time.Minute)
	upd := a
	upd.State, upd.AcknowledgedBy, upd.AcknowledgedAt = daemon.AlertResolved, "dsl.jones", &ack
	upd.ResolvedBy, upd.ResolvedAt, upd.Outcome, upd.Note = "dsl.jones", &res, "no-action", "phone was a staff loan"
	upd.Reason = "tampered reason" // facts of the episode are not the DSL's to change
	if err := s.UpdateAlert(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlert(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.SiteID = site
	want.Reason = a.Reason
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after update:\n got %+v\nwant %+v", got, want)
	}
	missing := openAlert("02:00:00:00:00:09", time.Now())
	if err := s.UpdateAlert(ctx, missing); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("updating a missing alert: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAlert(ctx, missing.ID); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("GetAlert of a missing alert: %v, want ErrNotFound", err)
	}
}

func TestUpdateAlertWithAuditIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	a := openAlert("02:00:00:00:00:01", time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC))
	if err := s.InsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		alertID   string
		entry     daemon.AuditEntry
		wantErr   bool
		wantState string
		wantAudit int
	}{
		{"audit entry invalid: alert unchanged", a.ID, daemon.AuditEntry{Action: "alert.acknowledge"}, true, daemon.AlertNew, 0},
		{"alert missing: nothing audited", "01HZZZZZZZZZZZZZZZZZZZZZZZ", daemon.AuditEntry{Actor: "dsl.jones", Action: "alert.acknowledge"}, true, daemon.AlertNew, 0},
		{"both written", a.ID, daemon.AuditEntry{Actor: "dsl.jones", Action: "alert.acknowledge", Target: a.ID}, false, daemon.AlertAcknowledged, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			upd := a
			upd.ID, upd.State, upd.AcknowledgedBy = tc.alertID, daemon.AlertAcknowledged, "dsl.jones"
			err := s.UpdateAlertWithAudit(ctx, upd, tc.entry)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			got, err := s.GetAlert(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			es, err := s.ListAudit(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.wantState || len(es) != tc.wantAudit {
				t.Errorf("state %q with %d audit entries, want %q with %d", got.State, len(es), tc.wantState, tc.wantAudit)
			}
		})
	}
}

func ids(as []daemon.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func TestListAlerts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	t0 := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	var all []daemon.Alert // in opening order
	for i := range 6 {
		a := openAlert(fmt.Sprintf("02:00:00:00:00:%02x", i), t0.Add(time.Duration(i)*time.Hour))
		if i%2 == 1 {
			a.State = daemon.AlertAcknowledged
		}
		if err := s.InsertAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, all[i].ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    daemon.AlertFilter
		want []string
	}{
		{"all newest first", daemon.AlertFilter{}, pick(5, 4, 3, 2, 1, 0)},
		{"by state", daemon.AlertFilter{State: daemon.AlertAcknowledged}, pick(5, 3, 1)},
		{"since is inclusive", daemon.AlertFilter{Since: t0.Add(3 * time.Hour)}, pick(5, 4, 3)},
		{"limit keeps newest", daemon.AlertFilter{Limit: 2}, pick(5, 4)},
		{"state, since and limit", daemon.AlertFilter{State: daemon.AlertNew, Since: t0.Add(time.Hour), Limit: 1}, pick(4)},
		{"nothing matches", daemon.AlertFilter{State: daemon.AlertResolved}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAlerts(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); !reflect.DeepEqual(g, tc.want) && (len(g) != 0 || len(tc.want) != 0) {
				t.Errorf("ListAlerts(%+v) = %v, want %v", tc.f, g, tc.want)
			}
		})
	}
	if _, err := s.ListAlerts(ctx, daemon.AlertFilter{State: "bogus"}); err == nil {
		t.Error("ListAlerts accepted an unknown state")
	}
}

func TestListAlertsDefaultLimit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	t0 := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	const n = 520
	for i := range n {
		if err := s.InsertAlert(ctx, openAlert("02:00:00:00:00:01", t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAlerts(ctx, daemon.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 {
		t.Fatalf("default ListAlerts returned %d, want 500", len(got))
	}
	if want := t0.Add((n - 1) * time.Second); !got[0].OpenedAt.Equal(want) {
		t.Errorf("first = %v, want newest %v", got[0].OpenedAt, want)
	}
}

func TestAlertCounts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	counts, err := s.AlertCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{daemon.AlertNew: 0, daemon.AlertAcknowledged: 0, daemon.AlertResolved: 0}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("empty store counts = %v, want %v", counts, want)
	}
	for i, st := range []string{daemon.AlertNew, daemon.AlertNew, daemon.AlertAcknowledged, daemon.AlertNew} {
		a := openAlert(fmt.Sprintf("02:00:00:00:00:%02x", i), time.Now())
		a.State = st
		if err := s.InsertAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if counts, err = s.AlertCounts(ctx); err != nil {
		t.Fatal(err)
	}
	want = map[string]int{daemon.AlertNew: 3, daemon.AlertAcknowledged: 1, daemon.AlertResolved: 0}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
}

func TestPurgeRemovesOnlyOldClosedAlerts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	cutoff := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := cutoff.AddDate(0, -2, 0)
	tests := []struct {
		name     string
		opened   time.Time
		closed   *time.Time
		state    string
		wantKept bool
	}{
		{"old, closed, resolved", old, ptr(old.Add(time.Hour)), daemon.AlertResolved, false},
		{"old, closed, never acknowledged", old, ptr(old.Add(time.Hour)), daemon.AlertNew, false},
		{"old but still open", old, nil, daemon.AlertNew, true},
		{"closed exactly at cutoff", old, ptr(cutoff), daemon.AlertResolved, true},
		{"recent, closed", cutoff.Add(time.Hour), ptr(cutoff.Add(2 * time.Hour)), daemon.AlertResolved, true},
	}
	idOf := map[string]string{}
	for i, tc := range tests {
		a := openAlert(fmt.Sprintf("02:00:00:00:00:%02x", i), tc.opened)
		a.ClosedAt, a.State = tc.closed, tc.state
		if err := s.InsertAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		idOf[tc.name] = a.ID
	}
	n, err := s.Purge(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Purge deleted %d, want 2", n)
	}
	for _, tc := range tests {
		_, err := s.GetAlert(ctx, idOf[tc.name])
		if kept := err == nil; kept != tc.wantKept {
			t.Errorf("%s: kept = %v, want %v (err %v)", tc.name, kept, tc.wantKept, err)
		}
	}
	// The purge itself is on the record, and the record still verifies.
	es, err := s.ListAudit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "alerts.purge" || !strings.Contains(es[0].After, `"deleted":2`) {
		t.Errorf("audit after purge = %+v, want an alerts.purge entry with deleted:2", es)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
	// Nothing left to purge: no count and no audit noise.
	if n, err := s.Purge(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0, nil", n, err)
	}
	if es, _ := s.ListAudit(ctx, 0); len(es) != 1 {
		t.Errorf("%d audit entries after an empty purge, want 1", len(es))
	}
}

func TestConcurrentInsertsAllLand(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	const writers, each = 8, 25
	t0 := time.Now()
	var g errgroup.Group
	for w := range writers {
		g.Go(func() error {
			for i := range each {
				a := openAlert(fmt.Sprintf("02:00:00:00:%02x:%02x", w, i), t0.Add(time.Duration(w*each+i)*time.Millisecond))
				if err := s.InsertAlert(ctx, a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// The dashboard reads while the daemon writes.
	for range 2 {
		g.Go(func() error {
			for range 20 {
				if _, err := s.ListAlerts(ctx, daemon.AlertFilter{}); err != nil {
					return err
				}
				if _, err := s.AlertCounts(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent use: %v", err)
	}
	counts, err := s.AlertCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[daemon.AlertNew] != writers*each {
		t.Errorf("%d alerts stored, want %d", counts[daemon.AlertNew], writers*each)
	}
}
