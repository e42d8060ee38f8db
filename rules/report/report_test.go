package report

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
)

var london = mustLoc("Europe/London")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a time on Monday 23 November 2026, a school day, in London.
func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-23 "+hhmm, london)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

const (
	macA = "aa:aa:aa:00:00:01"
	macB = "aa:aa:aa:00:00:02"
)

func baseInput() Input {
	return Input{
		Day:        at("00:00"),
		Loc:        london,
		PupilHours: []Window{{at("08:30"), at("15:30")}},
		Zones:      []string{"reception", "teaching"},
	}
}

func fakePseudonym(mac string) string {
	return "device-" + strings.ReplaceAll(mac[len(mac)-5:], ":", "")
}

func zone(t *testing.T, d DailyReport, name string) ZoneFigures {
	t.Helper()
	for _, z := range d.Zones {
		if z.Zone == name {
			return z
		}
	}
	t.Fatalf("zone %q not in report (zones %v)", name, d.Zones)
	return ZoneFigures{}
}

func hourCol(t *testing.T, d DailyReport, label string) int {
	t.Helper()
	for i, h := range d.Hours {
		if h.Label == label {
			return i
		}
	}
	t.Fatalf("no heatmap column %s in %v", label, d.Hours)
	return -1
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestDailyZoneFigures(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Input)
		zone   string
		seen   int
		eps    int
		breach float64 // device-minutes in breach
		pres   float64 // device-minutes present
		comp   float64 // compliance %, -1 when not measured
		hour   string  // heatmap column that holds the breach
		// day-wide figures
		outside, open int
	}{
		{
			name: "a phone in a lesson for half an hour lowers the zone's compliance",
			edit: func(in *Input) {
				in.Visits = []Visit{{macA, "teaching", at("08:30"), at("15:30")}, {macB, "teaching", at("09:00"), at("10:00")}}
				in.Alerts = []Alert{{ID: "1", MAC: macB, Zone: "teaching", Rule: "r", Opened: at("09:00"), Closed: ptr(at("09:30"))}}
			},
			zone: "teaching", seen: 2, eps: 1, breach: 30, pres: 480, comp: 100 * (1 - 30.0/480), hour: "09:00",
		},
		{
			name: "breach before 08:30 does not count, only its part in pupil hours",
			edit: func(in *Input) {
				in.Visits = []Visit{{macA, "teaching", at("07:45"), at("12:00")}}
				in.Alerts = []Alert{{ID: "1", MAC: macA, Zone: "teaching", Rule: "r", Opened: at("08:00"), Closed: ptr(at("09:00"))}}
			},
			zone: "teaching", seen: 1, eps: 1, breach: 30, pres: 210, comp: 100 * (1 - 30.0/210), hour: "08:00",
		},
		{
			name: "an episode entirely after school is not a pupil-hours breach but is counted aside",
			edit: func(in *Input) {
				in.Visits = []Visit{{macA, "teaching", at("15:00"), at("17:00")}}
				in.Alerts = []Alert{{ID: "1", MAC: macA, Zone: "teaching", Rule: "r", Opened: at("16:00"), Closed: ptr(at("16:30"))}}
			},
			zone: "teaching", seen: 1, eps: 0, breach: 0, pres: 30, comp: 100, outside: 1,
		},
		{
			name: "an episode still open counts until the report is made",
			edit: func(in *Input) {
				in.Now = at("11:00")
				in.Visits = []Visit{{macA, "teaching", at("08:30"), at("10:00")}}
				in.Alerts = []Alert{{ID: "1", MAC: macB, Zone: "teaching", Rule: "r", Opened: at("10:00")}}
			},
			// B is still in the room (no closed stay yet) but is seen through its alert.
			zone: "teaching", seen: 2, eps: 1, breach: 60, pres: 90, comp: 100 * (1 - 60.0/90), hour: "10:00", open: 1,
		},
		{
			name: "breach longer than recorded presence clamps at 0%, never negative",
			edit: func(in *Input) {
				in.Visits = []Visit{{macA, "teaching", at("09:00"), at("09:10")}}
				in.Alerts = []Alert{{ID: "1", MAC: macA, Zone: "teaching", Rule: "r", Opened: at("09:00"), Closed: ptr(at("10:00"))}}
			},
			zone: "teaching", seen: 1, eps: 1, breach: 60, pres: 10, comp: 0, hour: "09:00",
		},
		{
			name: "a zone nobody entered is not measured (no 100% from no data)",
			edit: func(in *Input) {},
			zone: "reception", comp: -1,
		},
		{
			name: "no pupil hours (not a school day): nothing counts",
			edit: func(in *Input) {
				in.PupilHours = nil
				in.Visits = []Visit{{macA, "teaching", at("09:00"), at("10:00")}}
				in.Alerts = []Alert{{ID: "1", MAC: macA, Zone: "teaching", Rule: "r", Opened: at("09:00"), Closed: ptr(at("09:30"))}}
			},
			zone: "teaching", comp: -1, outside: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.edit(&in)
			d := Daily(in, fakePseudonym)
			z := zone(t, d, tc.zone)
			if z.DevicesSeen != tc.seen || z.Episodes != tc.eps || !near(z.BreachMinutes, tc.breach) || !near(z.PresentMinutes, tc.pres) {
				t.Errorf("%s: seen %d episodes %d breach %.2f present %.2f; want %d %d %.2f %.2f",
					tc.zone, z.DevicesSeen, z.Episodes, z.BreachMinutes, z.PresentMinutes, tc.seen, tc.eps, tc.breach, tc.pres)
			}
			if tc.comp < 0 {
				if z.Measured {
					t.Errorf("compliance %.2f%% reported for a zone with no presence", z.Compliance)
				}
			} else if !z.Measured || !near(z.Compliance, tc.comp) {
				t.Errorf("compliance %.4f (measured %v), want %.4f", z.Compliance, z.Measured, tc.comp)
			}
			if tc.hour != "" {
				if got := z.ByHour[hourCol(t, d, tc.hour)]; !near(got, tc.breach) {
					t.Errorf("heatmap %s = %.2f, want all %.2f breach minutes there", tc.hour, got, tc.breach)
				}
			}
			var sum float64
			for _, v := range z.ByHour {
				sum += v
			}
			if !near(sum, z.BreachMinutes) {
				t.Errorf("heatmap row sums to %.2f, zone breach minutes %.2f", sum, z.BreachMinutes)
			}
			if d.OutsideHoursEpisodes != tc.outside || d.OpenEpisodes != tc.open {
				t.Errorf("outside-hours %d open %d, want %d %d", d.OutsideHoursEpisodes, d.OpenEpisodes, tc.outside, tc.open)
			}
		})
	}
}

func TestDailyHeatmapColumnsArePupilHours(t *testing.T) {
	d := Daily(baseInput(), fakePseudonym)
	var labels []string
	for _, h := range d.Hours {
		labels = append(labels, h.Label)
	}
	if got := strings.Join(labels, " "); got != "08:00 09:00 10:00 11:00 12:00 13:00 14:00 15:00" {
		t.Errorf("columns %s", got)
	}
	if d.Hours[0].From != at("08:30") || d.Hours[len(d.Hours)-1].To != at("15:30") {
		t.Errorf("first/last columns %v..%v, want clipped to 08:30..15:30", d.Hours[0].From, d.Hours[len(d.Hours)-1].To)
	}
	if len(d.PupilHours) != 1 || d.PupilHours[0] != "08:30–15:30" {
		t.Errorf("pupil hours label %v", d.PupilHours)
	}
}

func TestDailyRepeatDevicesArePseudonymised(t *testing.T) {
	in := baseInput()
	in.Alerts = []Alert{
		{ID: "1", MAC: macA, Zone: "teaching", Rule: "pupil-phone", Clauses: []string{"SPT-13"}, Opened: at("09:00"), Closed: ptr(at("09:10"))},
		{ID: "2", MAC: macA, Zone: "reception", Rule: "pupil-phone", Clauses: []string{"SPT-13"}, Opened: at("11:00"), Closed: ptr(at("11:20"))},
		{ID: "3", MAC: macB, Zone: "teaching", Rule: "staff-phone", Clauses: []string{"OSS-2.2"}, Opened: at("10:00"), Closed: ptr(at("10:05"))},
	}
	d := Daily(in, Pseudonymiser([]byte("site secret")))
	if len(d.Repeat) != 1 || d.Repeat[0].Episodes != 2 || !near(d.Repeat[0].BreachMinutes, 30) {
		t.Fatalf("repeat devices %+v, want one device with 2 episodes, 30 minutes", d.Repeat)
	}
	if got := strings.Join(d.Repeat[0].Zones, ","); got != "reception,teaching" {
		t.Errorf("repeat device zones %s", got)
	}
	if len(d.Devices) != 2 {
		t.Errorf("devices in breach %d, want 2", len(d.Devices))
	}
	if !strings.HasPrefix(d.Repeat[0].Device, "device-") {
		t.Errorf("repeat device named %q, want a pseudonym", d.Repeat[0].Device)
	}
	if s := fmt.Sprintf("%+v", d); strings.Contains(s, macA) || strings.Contains(s, macB) || strings.Contains(s, "aa:aa") {
		t.Errorf("the SLT report carries a MAC address: %s", s)
	}
	if d.Rules[0].Rule != "pupil-phone" || d.Rules[0].Episodes != 2 || d.Rules[0].Clauses[0] != "SPT-13" {
		t.Errorf("top rule %+v", d.Rules[0])
	}
}

func TestDailyTrend(t *testing.T) {
	in := baseInput()
	in.Visits = []Visit{{macA, "teaching", at("08:30"), at("15:30")}}
	in.Alerts = []Alert{{ID: "1", MAC: macA, Zone: "teaching", Rule: "r", Opened: at("09:00"), Closed: ptr(at("09:42"))}}
	in.Previous = []DaySummary{
		{Day: "2026-11-19", Episodes: 2, BreachMinutes: 10, PresentMinutes: 100},
		{Day: "2026-11-24", Episodes: 9, BreachMinutes: 1, PresentMinutes: 1}, // later day: not part of the trend
		{Day: "2026-11-20", Episodes: 0, BreachMinutes: 0, PresentMinutes: 0},
		{Day: "2026-11-18", Episodes: 1, BreachMinutes: 50, PresentMinutes: 100},
	}
	d := Daily(in, fakePseudonym)
	var days []string
	for _, p := range d.Trend {
		days = append(days, p.Day)
	}
	if got := strings.Join(days, " "); got != "2026-11-18 2026-11-19 2026-11-20 2026-11-23" {
		t.Fatalf("trend days %s, want the earlier school days oldest first then today", got)
	}
	if p := d.Trend[0]; !near(p.Compliance, 50) || !p.Measured {
		t.Errorf("18th: %+v, want 50%%", p)
	}
	if d.Trend[2].Measured {
		t.Errorf("a day with no presence shows a compliance figure: %+v", d.Trend[2])
	}
	if p := d.Trend[3]; !near(p.Compliance, 90) || p.Episodes != 1 {
		t.Errorf("today: %+v, want 90%% (42 of 420 minutes in breach)", p)
	}
}

func TestDailyZonesOrderAndReview(t *testing.T) {
	in := baseInput()
	in.Visits = []Visit{{macA, "car-park", at("09:00"), at("09:30")}, {macB, "attic", at("09:00"), at("09:30")}}
	in.PolicyReviewDue = time.Date(2026, 9, 1, 0, 0, 0, 0, london)
	in.ExemptionsUsed, in.EnforcementActions = 3, 4
	d := Daily(in, fakePseudonym)
	var names []string
	for _, z := range d.Zones {
		names = append(names, z.Zone)
	}
	if got := strings.Join(names, ","); got != "reception,teaching,attic,car-park" {
		t.Errorf("zones %s: want the configured order, then others sorted", got)
	}
	if !d.ReviewOverdue || d.PolicyReviewDue != "2026-09-01" {
		t.Errorf("review %q overdue=%v, want overdue (SPT-14)", d.PolicyReviewDue, d.ReviewOverdue)
	}
	if d.Totals.DevicesSeen != 2 || d.ExemptionsUsed != 3 || d.EnforcementActions != 4 {
		t.Errorf("totals %+v exemptions %d enforcement %d", d.Totals, d.ExemptionsUsed, d.EnforcementActions)
	}
}

func TestPreviousSchoolDays(t *testing.T) {
	cal := calendar.New([]calendar.Range{{Name: "Autumn", Start: calendar.Date{Year: 2026, Month: 9, Day: 1}, End: calendar.Date{Year: 2026, Month: 12, Day: 18}}},
		[]calendar.Range{{Name: "Half term", Start: calendar.Date{Year: 2026, Month: 10, Day: 26}, End: calendar.Date{Year: 2026, Month: 10, Day: 30}}}, nil)
	tests := []struct {
		day  calendar.Date
		want string
	}{
		{calendar.Date{Year: 2026, Month: 11, Day: 23}, "2026-11-16 2026-11-17 2026-11-18 2026-11-19 2026-11-20"}, // skips the weekend
		{calendar.Date{Year: 2026, Month: 11, Day: 3}, "2026-10-20 2026-10-21 2026-10-22 2026-10-23 2026-11-02"},  // skips half term
		{calendar.Date{Year: 2026, Month: 9, Day: 2}, "2026-09-01"},                                               // start of term
	}
	for _, tc := range tests {
		var got []string
		for _, d := range PreviousSchoolDays(cal, tc.day, 5, 30) {
			got = append(got, d.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("before %s: %v, want %s", tc.day, got, tc.want)
		}
	}
}

func TestPseudonyms(t *testing.T) {
	p := Pseudonymiser([]byte("secret-1"))
	q := Pseudonymiser([]byte("secret-2"))
	tests := []struct {
		name string
		ok   bool
	}{
		{"stable for one device", p(macA) == p(macA) && p(macA) == p(strings.ToUpper(macA))},
		{"different devices differ", p(macA) != p(macB)},
		{"another site's secret gives another name", p(macA) != q(macA)},
		{"shape device-<10 hex>", len(p(macA)) == len("device-")+10 && strings.HasPrefix(p(macA), "device-")},
		{"does not contain the MAC", !strings.Contains(p(macA), macA[9:])},
	}
	for _, tc := range tests {
		if !tc.ok {
			t.Errorf("%s: %s %s %s", tc.name, p(macA), p(macB), q(macA))
		}
	}
	un := Unmasker([]byte("secret-1"), []string{macA, strings.ToUpper(macB)})
	if mac, ok := un(p(macB)); !ok || mac != macB {
		t.Errorf("DSL unmask of %s = %q %v, want %s", p(macB), mac, ok, macB)
	}
	if _, ok := un(q(macA)); ok {
		t.Error("a pseudonym made with another secret was unmasked")
	}
}
