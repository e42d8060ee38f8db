package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Zone history has its own, shorter retention: PurgeSightings removes stays that
// ended before the cutoff and leaves alerts, exemptions and the audit log alone.
func TestPurgeSightingsKeepsAlertsAndAudit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	old, recent := now.AddDate(0, 0, -40), now.AddDate(0, 0, -10)
	for _, v := range []daemon.ZoneVisit{
		{MAC: "aa:00:00:00:00:01", Zone: "teaching", From: old, To: old.Add(time.Hour)},
		{MAC: "aa:00:00:00:00:01", Zone: "teaching", From: recent, To: recent.Add(time.Hour)},
		{MAC: "aa:00:00:00:00:02", Zone: "reception", From: now.AddDate(0, 0, -31), To: now.AddDate(0, 0, -29)}, // spans the cutoff
	} {
		if err := s.RecordZoneVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	a := openAlert("aa:00:00:00:00:01", old)
	closedAt := old.Add(30 * time.Minute)
	a.ClosedAt = &closedAt
	insert(t, s, a)
	if _, err := s.CreateExemption(ctx, fullExemption(old)); err != nil {
		t.Fatal(err)
	}

	n, err := s.PurgeSightings(ctx, now.Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeSightings = %d, %v; want the one stay that ended 40 days ago", n, err)
	}
	left, err := s.ZoneVisits(ctx, "", now.AddDate(-1, 0, 0), now)
	if err != nil || len(left) != 2 {
		t.Fatalf("zone history left: %+v, %v; want the recent stay and the one spanning the cutoff", left, err)
	}
	if _, err := s.GetAlert(ctx, a.ID); err != nil {
		t.Errorf("the 40-day-old alert went with the sightings: %v", err)
	}
	if ex, err := s.ListExemptions(ctx); err != nil || len(ex) != 1 {
		t.Errorf("exemptions after the purge: %d, %v", len(ex), err)
	}
	audit, err := s.ListAudit(ctx, 1)
	if err != nil || len(audit) != 1 || audit[0].Action != "sightings.purge" || !strings.Contains(audit[0].After, `"zone_visits_deleted":1`) {
		t.Fatalf("newest audit entry = %+v, %v; want sightings.purge", audit, err)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain after the purge: %v", err)
	}
	// Nothing more to purge: no audit entry for nothing.
	if n, err := s.PurgeSightings(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second PurgeSightings = %d, %v", n, err)
	}
	if again, _ := s.ListAudit(ctx, 1); again[0].ID != audit[0].ID {
		t.Errorf("an empty purge was audited: %+v", again[0])
	}
}
