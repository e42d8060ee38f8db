package report

import (
	"fmt"
	"time"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return l
}()

func on(day, hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, london)
	if err != nil {
		panic(err)
	}
	return t
}

func closed(t time.Time) *time.Time { return &t }

// fixtureInput is Monday 23 November 2026 at a small school: a pupil phone in
// teaching twice (a repeat device), a staff phone in the pupil area, a clean
// staff room and reception.
func fixtureInput() model.Input {
	const day = "2026-11-23"
	at := func(s string) time.Time { return on(day, s) }
	in := model.Input{
		Day: at("00:00"), Loc: london,
		PupilHours: []model.Window{{From: at("08:30"), To: at("15:30")}},
		Zones:      []string{"reception", "staff-room", "teaching", "pupil-area"},
		Visits: []model.Visit{
			{MAC: "02:00:00:00:00:01", Zone: "teaching", From: at("08:30"), To: at("15:30")},
			{MAC: "02:00:00:00:00:02", Zone: "teaching", From: at("08:30"), To: at("15:30")},
			{MAC: "02:00:00:00:00:03", Zone: "pupil-area", From: at("12:00"), To: at("13:00")},
			{MAC: "02:00:00:00:00:04", Zone: "staff-room", From: at("08:00"), To: at("16:00")},
			{MAC: "02:00:00:00:00:05", Zone: "reception", From: at("08:30"), To: at("09:00")},
		},
		Alerts: []model.Alert{
			{ID: "A1", MAC: "02:00:00:00:00:01", Zone: "teaching", Rule: "pupil-device-switched-on", Severity: "high", Clauses: []string{"SPT-13"}, Opened: at("09:10"), Closed: closed(at("09:40"))},
			{ID: "A2", MAC: "02:00:00:00:00:01", Zone: "teaching", Rule: "pupil-device-switched-on", Severity: "high", Clauses: []string{"SPT-13"}, Opened: at("13:50"), Closed: closed(at("14:05")), Outcome: "handed-in"},
			{ID: "A3", MAC: "02:00:00:00:00:03", Zone: "pupil-area", Rule: "staff-phone-with-pupils", Severity: "medium", Clauses: []string{"OSS-2.2"}, Opened: at("12:00"), Closed: closed(at("12:45"))},
		},
		ExemptionsUsed:     1,
		EnforcementActions: 0,
		PolicyReviewDue:    time.Date(2026, 9, 1, 0, 0, 0, 0, london),
		Previous: []model.DaySummary{
			{Day: "2026-11-16", Episodes: 5, BreachMinutes: 120, PresentMinutes: 1500},
			{Day: "2026-11-17", Episodes: 4, BreachMinutes: 90, PresentMinutes: 1500},
			{Day: "2026-11-18", Episodes: 4, BreachMinutes: 100, PresentMinutes: 1480},
			{Day: "2026-11-19", Episodes: 2, BreachMinutes: 40, PresentMinutes: 1490},
			{Day: "2026-11-20", Episodes: 3, BreachMinutes: 60, PresentMinutes: 1510},
		},
	}
	return in
}

func fixturePseudonym(mac string) string {
	return fmt.Sprintf("device-%s", mac[len(mac)-2:]+"f9a0c1e2")
}

func fixtureDaily() model.DailyReport { return model.Daily(fixtureInput(), fixturePseudonym) }

// bigInput is a day at a large school: devices devices moving between zones every
// hour of the day, a third of them breaching once or twice, and a trend of
// trendDays earlier school days.
func bigInput(devices, trendDays int) model.Input {
	const day = "2026-11-23"
	at := func(s string) time.Time { return on(day, s) }
	zones := []string{"reception", "staff-room", "slt-office", "admin-office", "teaching", "pupil-area", "exam-room", "car-park"}
	in := model.Input{Day: at("00:00"), Loc: london, Zones: zones,
		PupilHours: []model.Window{{From: at("08:30"), To: at("15:30")}}}
	start := at("08:00")
	for d := 0; d < devices; d++ {
		mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", d>>16&0xff, d>>8&0xff, d&0xff)
		for h := 0; h < 8; h++ {
			from := start.Add(time.Duration(h)*time.Hour + time.Duration(d%50)*time.Minute)
			in.Visits = append(in.Visits, model.Visit{MAC: mac, Zone: zones[(d+h)%len(zones)], From: from, To: from.Add(55 * time.Minute)})
		}
		for k := 0; k < d%3; k++ { // 0, 1 or 2 episodes
			o := start.Add(time.Duration(1+3*k)*time.Hour + time.Duration(d%50)*time.Minute)
			in.Alerts = append(in.Alerts, model.Alert{ID: fmt.Sprint(d, k), MAC: mac, Zone: zones[(d+1+3*k)%len(zones)],
				Rule: fmt.Sprintf("rule-%d", d%7), Clauses: []string{"SPT-13"}, Opened: o, Closed: closed(o.Add(20 * time.Minute))})
		}
	}
	for i := trendDays; i > 0; i-- {
		in.Previous = append(in.Previous, model.DaySummary{Day: at("00:00").AddDate(0, 0, -i).Format(time.DateOnly),
			Episodes: 2000 + i, BreachMinutes: float64(40000 + 100*i), PresentMinutes: 1.2e6})
	}
	return in
}
