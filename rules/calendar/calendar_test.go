package calendar_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
)

func date(t *testing.T, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The demo school's 2026-27 calendar.
func demo(t *testing.T) *calendar.Calendar {
	return calendar.New(
		[]calendar.Range{
			{Name: "Autumn 2026", Start: date(t, "2026-09-03"), End: date(t, "2026-12-18")},
			{Name: "Spring 2027", Start: date(t, "2027-01-05"), End: date(t, "2027-03-26")},
			{Name: "Summer 2027", Start: date(t, "2027-04-12"), End: date(t, "2027-07-21")},
		},
		[]calendar.Range{
			{Name: "Autumn half term", Start: date(t, "2026-10-26"), End: date(t, "2026-10-30")},
			{Name: "Spring half term", Start: date(t, "2027-02-15"), End: date(t, "2027-02-19")},
		},
		[]calendar.Date{date(t, "2026-09-02"), date(t, "2026-11-27")},
	)
}

func TestIsSchoolDay(t *testing.T) {
	c := demo(t)
	tests := []struct {
		date string
		want bool
		why  string
	}{
		{"2026-09-02", false, "INSET day"},
		{"2026-09-03", true, "school day in Autumn 2026"},
		{"2026-09-05", false, "weekend"},
		{"2026-10-23", true, "school day in Autumn 2026"},
		{"2026-10-26", false, "Autumn half term"},
		{"2026-10-30", false, "Autumn half term"},
		{"2026-11-02", true, "school day in Autumn 2026"},
		{"2026-11-27", false, "INSET day"},
		{"2026-12-18", true, "school day in Autumn 2026"},
		{"2026-12-21", false, "outside term"},
		{"2027-03-26", true, "school day in Spring 2027"},
		{"2027-03-29", false, "outside term"},
		{"2027-07-21", true, "school day in Summer 2027"},
		{"2027-07-22", false, "outside term"},
		{"2025-11-04", false, "outside term"},
	}
	for _, tc := range tests {
		d := date(t, tc.date)
		if got := c.IsSchoolDay(d); got != tc.want {
			t.Errorf("IsSchoolDay(%s) = %v, want %v", tc.date, got, tc.want)
		}
		if got := c.Describe(d); got != tc.why {
			t.Errorf("Describe(%s) = %q, want %q", tc.date, got, tc.why)
		}
	}
}

func TestEmptyCalendarHasNoSchoolDays(t *testing.T) {
	var nilCal *calendar.Calendar
	if nilCal.IsSchoolDay(date(t, "2026-11-04")) || calendar.New(nil, nil, nil).IsSchoolDay(date(t, "2026-11-04")) {
		t.Error("a calendar without terms has school days")
	}
}

func TestDateArithmetic(t *testing.T) {
	// Days/FromDays/Weekday agree with the time package over four centuries.
	start := time.Date(1900, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 400*366; i += 7 {
		tm := start.AddDate(0, 0, i)
		d := calendar.DateOf(tm)
		if got := calendar.FromDays(d.Days()); got != d {
			t.Fatalf("FromDays(Days(%s)) = %s", d, got)
		}
		if d.Weekday() != tm.Weekday() {
			t.Fatalf("%s: Weekday = %s, want %s", d, d.Weekday(), tm.Weekday())
		}
		if want := tm.Truncate(24*time.Hour).Unix() / 86400; d.Days() != want {
			t.Fatalf("%s: Days = %d, want %d", d, d.Days(), want)
		}
	}
	if got := date(t, "2026-12-31").AddDays(1).String(); got != "2027-01-01" {
		t.Errorf("AddDays over the year end = %s", got)
	}
}

func TestAtAcrossClockChanges(t *testing.T) {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		date string
		want string
	}{
		{"2026-10-23", "2026-10-23T07:30:00Z"}, // BST
		{"2026-11-02", "2026-11-02T08:30:00Z"}, // GMT
		{"2027-03-29", "2027-03-29T07:30:00Z"}, // BST again
	}
	for _, tc := range tests {
		if got := date(t, tc.date).At(8, 30, loc).UTC().Format(time.RFC3339); got != tc.want {
			t.Errorf("%s 08:30 London = %s, want %s", tc.date, got, tc.want)
		}
	}
}

func TestParseDateRejectsImpossibleDates(t *testing.T) {
	for _, s := range []string{"2027-02-29", "2026-13-01", "26-09-03", "2026-9-3", ""} {
		if _, err := calendar.ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
}
