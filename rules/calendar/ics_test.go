package calendar_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
)

var update = flag.Bool("update", false, "rewrite golden files")

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestICSGolden: a school calendar export (folded lines, quoted TZID, UTC times either
// side of both clock changes, DURATION, an alarm, a cancelled and an unrecognised
// event) becomes the terms, holidays and INSET days in the golden file.
func TestICSGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/school-2026-27.ics")
	if err != nil {
		t.Fatal(err)
	}
	events, err := calendar.ParseICS(data)
	if err != nil {
		t.Fatalf("ParseICS: %v", err)
	}
	terms, holidays, inset, ignored := calendar.FromEvents(events, calendar.DefaultKeywords(), london(t))
	var b strings.Builder
	for _, r := range terms {
		fmt.Fprintf(&b, "term     %s..%s %s\n", r.Start, r.End, r.Name)
	}
	for _, r := range holidays {
		fmt.Fprintf(&b, "holiday  %s..%s %s\n", r.Start, r.End, r.Name)
	}
	for _, d := range inset {
		fmt.Fprintf(&b, "inset    %s\n", d)
	}
	for _, e := range ignored {
		fmt.Fprintf(&b, "ignored  line %d %q\n", e.Line, e.Summary)
	}
	got := b.String()
	const golden = "testdata/school-2026-27.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// The calendar built from it answers the questions the policy asks.
	c := calendar.New(terms, holidays, inset)
	for _, tc := range []struct {
		date          string
		school, staff bool
	}{
		{"2026-09-01", true, true},   // term starts (this export has no INSET in September)
		{"2026-10-28", false, false}, // half term
		{"2027-01-04", false, true},  // INSET from a UTC event that starts on Sunday night
		{"2027-01-05", true, true},
		{"2027-03-30", false, false}, // outside term anyway
		{"2027-06-08", false, false}, // outside the terms this export lists
	} {
		d := date(t, tc.date)
		if c.IsSchoolDay(d) != tc.school || c.IsStaffDay(d) != tc.staff {
			t.Errorf("%s: school %v staff %v, want %v %v", tc.date, c.IsSchoolDay(d), c.IsStaffDay(d), tc.school, tc.staff)
		}
	}
}

func TestEventDatesAcrossClockChanges(t *testing.T) {
	loc := london(t)
	ev := func(s string) calendar.Event {
		t.Helper()
		es, err := calendar.ParseICS([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\n" + s + "\nEND:VEVENT\nEND:VCALENDAR\n"))
		if err != nil || len(es) != 1 {
			t.Fatalf("%q: %v", s, err)
		}
		return es[0]
	}
	tests := []struct {
		name, props, first, last string
	}{
		{"all-day, DTEND exclusive", "DTSTART;VALUE=DATE:20261026\nDTEND;VALUE=DATE:20261031", "2026-10-26", "2026-10-30"},
		{"all-day, no end", "DTSTART;VALUE=DATE:20270503", "2027-05-03", "2027-05-03"},
		{"all-day, two weeks", "DTSTART;VALUE=DATE:20261221\nDURATION:P2W", "2026-12-21", "2027-01-03"},
		{"UTC midnight BST is the next day", "DTSTART:20261024T230000Z\nDTEND:20261025T230000Z", "2026-10-25", "2026-10-25"},
		{"UTC midnight GMT is the same day", "DTSTART:20261026T000000Z\nDTEND:20261027T000000Z", "2026-10-26", "2026-10-26"},
		{"spring forward", "DTSTART:20270327T233000Z\nDTEND:20270328T233000Z", "2027-03-27", "2027-03-29"},
		{"floating time taken as written", "DTSTART:20270328T010000\nDTEND:20270328T020000", "2027-03-28", "2027-03-28"},
		{"TZID time taken as written", "DTSTART;TZID=Europe/London:20261025T013000\nDTEND;TZID=Europe/London:20261026T000000", "2026-10-25", "2026-10-25"},
	}
	for _, tc := range tests {
		first, last := ev(tc.props).Dates(loc)
		if first.String() != tc.first || last.String() != tc.last {
			t.Errorf("%s: %s..%s, want %s..%s", tc.name, first, last, tc.first, tc.last)
		}
	}
}

func TestParseICSErrors(t *testing.T) {
	const head = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "line 1: not an iCalendar file (it is empty)"},
		{"not ics", "hello: world\n", `line 1: not an iCalendar file (want BEGIN:VCALENDAR first, got "hello: world")`},
		{"bad date", head + "SUMMARY:x\r\nDTSTART;VALUE=DATE:20270230\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", `line 4: DTSTART: invalid date "20270230"`},
		{"bad time", head + "DTSTART:20270301T256000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", `line 3: DTSTART: invalid time in "20270301T256000"`},
		{"no DTSTART", head + "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 2: VEVENT has no DTSTART"},
		{"ends before start", head + "SUMMARY:x\r\nDTSTART;VALUE=DATE:20270302\r\nDTEND;VALUE=DATE:20270301\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", `line 2: VEVENT "x" ends before it starts`},
		{"recurrence", head + "DTSTART;VALUE=DATE:20270302\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 4: RRULE: recurring events are not supported"},
		{"unclosed", head + "DTSTART;VALUE=DATE:20270302\r\n", "line 3: BEGIN:VEVENT is never closed"},
		{"mismatched END", head + "DTSTART;VALUE=DATE:20270302\r\nEND:VCALENDAR\r\n", "line 4: END:VCALENDAR does not close BEGIN:VEVENT"},
		{"no colon", head + "DTSTART\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", `line 3: not a NAME:VALUE line: "DTSTART"`},
		{"unterminated quote", head + "DTSTART;TZID=\"Europe/London:20270302T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 3: DTSTART: unterminated quoted parameter value"},
		{"bad duration", head + "DTSTART;VALUE=DATE:20270302\r\nDURATION:one day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", `line 4: DURATION: invalid duration "one day"`},
		{"nested event", "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nBEGIN:VEVENT\r\n", "line 3: VEVENT inside VTODO"},
	}
	for _, tc := range tests {
		_, err := calendar.ParseICS([]byte(tc.doc))
		var ie *calendar.ICSError
		if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want prefix %q", tc.name, err, tc.want)
		}
	}
}

func TestKeywords(t *testing.T) {
	kw := calendar.DefaultKeywords()
	tests := map[string]string{
		"Autumn Term":            calendar.CategoryTerm,
		"Autumn half term":       calendar.CategoryHoliday,
		"Half-Term":              calendar.CategoryHoliday,
		"Christmas Holidays":     calendar.CategoryHoliday,
		"Early May bank holiday": calendar.CategoryHoliday,
		"INSET Day":              calendar.CategoryInset,
		"Staff training day":     calendar.CategoryInset,
		"Terminal maintenance":   "", // "term" must be a whole word
		"Sports day":             "",
		"Parents' evening":       "",
	}
	for s, want := range tests {
		if got := kw.Categorize(s); got != want {
			t.Errorf("Categorize(%q) = %q, want %q", s, got, want)
		}
	}
	custom := calendar.Keywords{Term: []string{"semester"}, Holiday: []string{"vacation"}, Inset: []string{"PD day"}}
	if custom.Categorize("Fall semester") != calendar.CategoryTerm || custom.Categorize("pd day") != calendar.CategoryInset ||
		custom.Categorize("Autumn term") != "" {
		t.Error("configured keywords replace the defaults")
	}
}

func TestStaffDays(t *testing.T) {
	c := demo(t) // INSET 2026-09-02 (before term) and 2026-11-27 (in term)
	for _, tc := range []struct {
		date          string
		school, staff bool
	}{
		{"2026-09-02", false, true}, // INSET day just before the term
		{"2026-11-27", false, true}, // INSET day in term
		{"2026-11-26", true, true},
		{"2026-10-27", false, false}, // half term
		{"2026-11-28", false, false}, // Saturday
	} {
		d := date(t, tc.date)
		if c.IsSchoolDay(d) != tc.school || c.IsStaffDay(d) != tc.staff {
			t.Errorf("%s: school %v staff %v, want %v %v", tc.date, c.IsSchoolDay(d), c.IsStaffDay(d), tc.school, tc.staff)
		}
	}
}

func FuzzParseICS(f *testing.F) {
	if data, err := os.ReadFile("testdata/school-2026-27.ics"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260101T000000Z\nDURATION:P1W2DT3H\nEND:VEVENT\nEND:VCALENDAR\n"))
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;TZID=\"a;b:c\":20260101T000000\n x\nEND:VEVENT\nEND:VCALENDAR"))
	loc := london(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := calendar.ParseICS(data)
		if err != nil {
			var ie *calendar.ICSError
			if !errors.As(err, &ie) || ie.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range events {
			first, last := e.Dates(loc)
			if last.Compare(first) < 0 {
				t.Fatalf("event %q covers %s..%s", e.Summary, first, last)
			}
		}
		calendar.FromEvents(events, calendar.DefaultKeywords(), loc)
	})
}
