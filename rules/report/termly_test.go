package report

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func dayOf(t *testing.T, date string, alerts ...Alert) DailyReport {
	t.Helper()
	d, err := time.ParseInLocation(time.DateOnly, date, london)
	if err != nil {
		t.Fatal(err)
	}
	on := func(hhmm string) time.Time {
		h, m := 0, 0
		fmt.Sscanf(hhmm, "%d:%d", &h, &m)
		return d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	in := Input{Day: d, Loc: london, Zones: []string{"teaching"},
		PupilHours:     []Window{{on("08:30"), on("15:30")}},
		Visits:         []Visit{{macA, "teaching", on("08:30"), on("15:30")}}, // 420 device-minutes
		ExemptionsUsed: 1}
	for i, a := range alerts {
		a.Opened, a.Closed = on("09:00"), ptr(on("09:21")) // 21 minutes: 5% of the day
		a.ID = fmt.Sprint(i)
		in.Alerts = append(in.Alerts, a)
	}
	return Daily(in, Pseudonymiser([]byte("k")))
}

func TestTermly(t *testing.T) {
	phone := Alert{MAC: macA, Zone: "teaching", Rule: "pupil-phone", Clauses: []string{"SPT-13"}}
	watch := Alert{MAC: macB, Zone: "teaching", Rule: "smartwatch", Clauses: []string{"OSS-1"}}
	days := []DailyReport{
		dayOf(t, "2026-11-24", phone),        // Tuesday, week of the 23rd
		dayOf(t, "2026-11-23", phone, watch), // Monday
		dayOf(t, "2026-11-30"),               // next Monday: a clean day
	}
	tr := Termly(days, "Autumn 2026")
	tests := []struct {
		what      string
		got, want any
	}{
		{"school days", tr.SchoolDays, 3},
		{"from..to", tr.From + ".." + tr.To, "2026-11-23..2026-11-30"},
		{"episodes", tr.Totals.Episodes, 3},
		{"term compliance % (63 of 1260 minutes)", fmt.Sprintf("%.1f", tr.Totals.Compliance), "95.0"},
		{"weeks", len(tr.Weeks), 2},
		{"first week starts Monday", tr.Weeks[0].WeekOf, "2026-11-23"},
		{"first week's days", tr.Weeks[0].Days, 2},
		{"second week is clean", fmt.Sprintf("%d %.0f", tr.Weeks[1].Episodes, tr.Weeks[1].Compliance), "0 100"},
		{"top rule", tr.Rules[0].Rule + " " + strings.Join(tr.Rules[0].Clauses, ","), "pupil-phone SPT-13"},
		{"top rule episodes", tr.Rules[0].Episodes, 2},
		// one episode a day is never a daily repeat, but twice in a term is.
		{"repeat devices over the term", tr.RepeatDevices, 1},
		{"devices in breach", tr.DevicesInBreach, 2},
		{"share of episodes by repeat devices", fmt.Sprintf("%.0f", tr.RepeatShare), "67"},
		{"zone days with a breach", tr.Zones[0].DaysWithBreach, 2},
		{"exemptions used", tr.ExemptionsUsed, 3},
	}
	for _, tc := range tests {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if s := fmt.Sprintf("%+v", tr); strings.Contains(s, "device-") {
		t.Errorf("the governors' summary names a device: %s", s)
	}
	if empty := Termly(nil, "Spring"); empty.SchoolDays != 0 || empty.Totals.Measured {
		t.Errorf("empty term %+v", empty)
	}
}
