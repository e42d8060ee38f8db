package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/store"
)

func TestDailyRollupsUpsertReplaces(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	writes := []store.Rollup{
		{Day: "2026-03-09", Zone: "science-block", DevicesSeen: 40, BreachEpisodes: 2, BreachMinutes: 11.5},
		{Day: "2026-03-09", Zone: "exam-hall", DevicesSeen: 3, BreachEpisodes: 1, BreachMinutes: 4},
		{Day: "2026-03-10", Zone: "exam-hall", DevicesSeen: 9, BreachEpisodes: 0, BreachMinutes: 0},
		// The daemon recomputes the day and writes it again: replaced, not added.
		{Day: "2026-03-09", Zone: "science-block", DevicesSeen: 42, BreachEpisodes: 3, BreachMinutes: 12.25},
	}
	for _, r := range writes {
		if err := s.UpsertDailyRollup(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		day  string
		want []store.Rollup
	}{
		{"2026-03-09", []store.Rollup{writes[1], writes[3]}},
		{"2026-03-10", []store.Rollup{writes[2]}},
		{"2026-03-11", []store.Rollup{}},
	}
	for _, tc := range tests {
		t.Run(tc.day, func(t *testing.T) {
			got, err := s.DailyRollups(ctx, tc.day)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DailyRollups(%s) = %+v, want %+v", tc.day, got, tc.want)
			}
		})
	}
}

func TestDailyRollupRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	tests := []struct {
		name string
		r    store.Rollup
	}{
		{"day not a date", store.Rollup{Day: "09/03/2026", Zone: "z"}},
		{"day with time", store.Rollup{Day: "2026-03-09T10:00", Zone: "z"}},
		{"negative count", store.Rollup{Day: "2026-03-09", Zone: "z", DevicesSeen: -1}},
		{"negative minutes", store.Rollup{Day: "2026-03-09", Zone: "z", BreachMinutes: -0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.UpsertDailyRollup(ctx, tc.r); err == nil {
				t.Errorf("UpsertDailyRollup(%+v) accepted", tc.r)
			}
		})
	}
	if _, err := s.DailyRollups(ctx, "yesterday"); err == nil {
		t.Error("DailyRollups accepted a day that is not YYYY-MM-DD")
	}
}
