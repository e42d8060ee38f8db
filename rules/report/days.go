package report

import (
	"time"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// PupilWindows returns the windows of the named schedule on date (in the policy's
// time zone): none when the schedule is not active that day (a weekend, a holiday,
// an INSET day for "school-days") or does not exist.
func PupilWindows(p *policy.Policy, schedule string, date calendar.Date) []Window {
	loc := p.Location()
	var out []Window
	for _, s := range p.Schedules() {
		if s.Name != schedule {
			continue
		}
		from := date.At(s.From/60, s.From%60, loc)
		to := date.At(s.To/60, s.To%60, loc)
		if to.After(from) && p.ScheduleActive(schedule, from) {
			out = append(out, Window{From: from, To: to})
		}
	}
	return out
}

// PreviousSchoolDays returns up to n school days before date, oldest first,
// looking back at most maxBack calendar days (holidays can be long).
func PreviousSchoolDays(cal *calendar.Calendar, date calendar.Date, n, maxBack int) []calendar.Date {
	var out []calendar.Date
	for back := 1; back <= maxBack && len(out) < n; back++ {
		if d := date.AddDays(-back); cal.IsSchoolDay(d) {
			out = append(out, d)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Midnight is local midnight of date in loc.
func Midnight(date calendar.Date, loc *time.Location) time.Time { return date.At(0, 0, loc) }
