package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Zone history feeds the daily report's device-minutes per zone and follows the
// retention setting like alerts.
func TestZoneHistoryDeviceMinutesAndRetention(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	visits := []daemon.ZoneVisit{
		{MAC: "aa:00:00:00:00:01", Zone: "teaching", From: day.Add(9 * time.Hour), To: day.Add(9*time.Hour + 30*time.Minute)},
		{MAC: "aa:00:00:00:00:01", Zone: "reception", From: day.Add(9*time.Hour + 30*time.Minute), To: day.Add(10 * time.Hour)},
		{MAC: "aa:00:00:00:00:02", Zone: "teaching", From: day.Add(8 * time.Hour), To: day.Add(9*time.Hour + 15*time.Minute)},
	}
	for _, v := range visits {
		if err := s.RecordZoneVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	// Recording the same stay again must not double-count.
	if err := s.RecordZoneVisit(ctx, visits[0]); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeviceMinutes(ctx, day.Add(9*time.Hour), day.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got["teaching"] != 45 || got["reception"] != 30 {
		t.Fatalf("device-minutes 09:00-10:00 = %v, want teaching 45 (30 + 15 clipped), reception 30", got)
	}
	one, err := s.ZoneVisits(ctx, "aa:00:00:00:00:01", day, day.Add(24*time.Hour))
	if err != nil || len(one) != 2 || one[0].Zone != "teaching" {
		t.Fatalf("history of one device = %+v, %v", one, err)
	}
	if err := s.RecordZoneVisit(ctx, daemon.ZoneVisit{MAC: "x", Zone: "z", From: day.Add(time.Hour), To: day}); err == nil {
		t.Fatal("a stay that ends before it starts was accepted")
	}
	if _, err := s.Purge(ctx, day.Add(9*time.Hour+20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	left, err := s.ZoneVisits(ctx, "", day, day.Add(24*time.Hour))
	if err != nil || len(left) != 2 {
		t.Fatalf("after purging stays that ended before 09:20: %+v, %v; want the 2 later ones", left, err)
	}
}
