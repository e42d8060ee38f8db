package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

func fullExemption(from time.Time) daemon.Exemption {
	return daemon.Exemption{
		MAC:       "da:a1:19:00:00:01",
		Zones:     []string{"classroom-12"},
		ZoneTypes: []string{"teaching"},
		From:      from.UTC(),
		Until:     from.Add(6 * time.Hour).UTC(),
		Reason:    "medical",
		Clauses:   []string{"SPT-7", "OSS-4"},
		Approver:  "Mrs A Patel (Headteacher)",
		Note:      "glucose monitor app on the pupil's phone",
		CreatedBy: "slt.patel",
	}
}

func TestExemptionRoundTripAndGrantAudit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	in := fullExemption(time.Date(2026, 11, 23, 9, 0, 0, 123456789, london))
	before := time.Now()
	got, err := s.CreateExemption(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ulid.ParseStrict(got.ID); err != nil {
		t.Errorf("ID %q is not a ULID: %v", got.ID, err)
	}
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(time.Now()) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want now in UTC", got.CreatedAt)
	}
	want := in
	want.ID, want.CreatedAt = got.ID, got.CreatedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("returned:\n got %+v\nwant %+v", got, want)
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("ListExemptions = %+v\nwant [%+v]", list, want)
	}
	es, err := s.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "exemption.grant" || es[0].Actor != "slt.patel" || es[0].Target != got.ID {
		t.Fatalf("audit = %+v, want one exemption.grant by slt.patel for %s", es, got.ID)
	}
	var logged daemon.Exemption
	if err := json.Unmarshal([]byte(es[0].After), &logged); err != nil || !reflect.DeepEqual(logged, want) {
		t.Errorf("audit After = %s (%v), want the exemption as JSON", es[0].After, err)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

func TestCreateExemptionRejects(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	from := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	dup, err := s.CreateExemption(ctx, fullExemption(from))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*daemon.Exemption)
	}{
		{"ID not a ULID", func(e *daemon.Exemption) { e.ID = "EX-1" }},
		{"duplicate ID", func(e *daemon.Exemption) { e.ID = dup.ID }},
		{"neither mac nor person", func(e *daemon.Exemption) { e.MAC = "" }},
		{"both mac and person", func(e *daemon.Exemption) { e.Person = "J Smith" }},
		{"until before from", func(e *daemon.Exemption) { e.Until = e.From.Add(-time.Hour) }},
		{"zero from", func(e *daemon.Exemption) { e.From = time.Time{} }},
		{"no reason", func(e *daemon.Exemption) { e.Reason = "" }},
		{"no creator", func(e *daemon.Exemption) { e.CreatedBy = " " }},
		{"already revoked", func(e *daemon.Exemption) { e.RevokedAt, e.RevokedBy = ptr(from), "x" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := fullExemption(from)
			tc.change(&e)
			if _, err := s.CreateExemption(ctx, e); err == nil {
				t.Errorf("CreateExemption accepted %+v", e)
			}
		})
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || len(es) != 1 {
		t.Errorf("%d exemptions and %d audit entries after rejected creates, want 1 and 1", len(list), len(es))
	}
}

func TestRevokeExemption(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	from := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	e, err := s.CreateExemption(ctx, fullExemption(from))
	if err != nil {
		t.Fatal(err)
	}
	at := from.Add(time.Hour)
	if err := s.RevokeExemption(ctx, e.ID, "dsl.jones", "no longer needed", at); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.RevokedAt, want.RevokedBy = &at, "dsl.jones"
	if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("after revoke: %+v\nwant %+v", list, want)
	}
	es, err := s.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Action != "exemption.revoke" || es[0].Actor != "dsl.jones" || es[0].Target != e.ID || !es[0].At.Equal(at) {
		t.Fatalf("audit = %+v, want exemption.revoke by dsl.jones for %s at %v on top", es, e.ID, at)
	}
	var after struct {
		daemon.Exemption
		RevokeNote string `json:"revoke_note"`
	}
	if err := json.Unmarshal([]byte(es[0].After), &after); err != nil || after.RevokeNote != "no longer needed" || after.RevokedBy != "dsl.jones" {
		t.Errorf("revoke After = %s (%v)", es[0].After, err)
	}
	var beforeEx daemon.Exemption
	if err := json.Unmarshal([]byte(es[0].Before), &beforeEx); err != nil || beforeEx.RevokedAt != nil || beforeEx.ID != e.ID {
		t.Errorf("revoke Before = %s (%v)", es[0].Before, err)
	}

	// Twice: an error, and the first revocation stands with no second audit entry.
	err = s.RevokeExemption(ctx, e.ID, "someone.else", "", at.Add(time.Hour))
	if !errors.Is(err, store.ErrExemptionRevoked) {
		t.Errorf("second revoke: %v, want ErrExemptionRevoked", err)
	}
	if err := s.RevokeExemption(ctx, "01HZZZZZZZZZZZZZZZZZZZZZZZ", "dsl.jones", "", at); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("revoking a missing exemption: %v, want ErrNotFound", err)
	}
	if err := s.RevokeExemption(ctx, e.ID, "", "", at); err == nil {
		t.Error("revoke without an actor accepted")
	}
	list, _ = s.ListExemptions(ctx)
	es, _ = s.ListAudit(ctx, 0)
	if len(list) != 1 || list[0].RevokedBy != "dsl.jones" || !list[0].RevokedAt.Equal(at) || len(es) != 2 {
		t.Errorf("after refused revokes: %+v, %d audit entries", list, len(es))
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

func TestListExemptionsNewestFirstAndNeverPurged(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	t0 := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 3 {
		e := fullExemption(t0)
		e.CreatedAt = t0.Add(time.Duration(i) * 24 * time.Hour)
		got, err := s.CreateExemption(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{got.ID}, ids...)
	}
	if err := s.RevokeExemption(ctx, ids[2], "dsl.jones", "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Retention: long expired, one revoked, all still there after a purge.
	if _, err := s.Purge(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.ID)
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("ListExemptions = %v, want newest first %v", got, ids)
	}
	// Not even by hand: the rows are safeguarding records.
	if _, err := rawDB(t, path).ExecContext(ctx, `DELETE FROM exemptions`); err == nil || !strings.Contains(err.Error(), "DELETE rejected") {
		t.Errorf("raw DELETE: %v, want the trigger to reject it", err)
	}
}
