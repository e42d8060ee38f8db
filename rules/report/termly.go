package report

import (
	"cmp"
	"slices"
	"time"
)

// TermlyReport is the governors' summary of a term: aggregate figures only. It names
// no device, not even by pseudonym (data minimisation); repeat devices are a count.
type TermlyReport struct {
	Term       string
	From, To   string // first and last school day reported, YYYY-MM-DD
	SchoolDays int

	Totals ZoneTotals
	Zones  []ZoneTotals
	Rules  []RuleCount // the most breached rules, at most TopRules
	Weeks  []Week

	DevicesInBreach      int     // distinct devices (by pseudonym) with at least one episode
	RepeatDevices        int     // devices with two or more episodes over the term
	RepeatShare          float64 // percent of episodes that were by repeat devices
	OutsideHoursEpisodes int
	ExemptionsUsed       int
	EnforcementActions   int

	PolicyReviewDue string
	ReviewOverdue   bool // as of the last day reported
}

// ZoneTotals are a zone's (or all zones') figures over several days.
type ZoneTotals struct {
	Zone           string
	Episodes       int
	BreachMinutes  float64
	PresentMinutes float64
	Compliance     float64
	Measured       bool
	DaysWithBreach int
}

// Week is one week of the term's trend (weeks start on Monday).
type Week struct {
	WeekOf         string // the Monday, YYYY-MM-DD
	Days           int    // school days reported that week
	Episodes       int
	BreachMinutes  float64
	PresentMinutes float64
	Compliance     float64
	Measured       bool
}

// TopRules is how many rules the termly summary lists.
const TopRules = 10

// Termly sums the daily reports of a term. Days may come in any order; days that
// were not school days are skipped.
func Termly(days []DailyReport, term string) TermlyReport {
	ds := make([]DailyReport, 0, len(days))
	for _, d := range days {
		if d.SchoolDay {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b DailyReport) int { return cmp.Compare(a.Day, b.Day) })
	t := TermlyReport{Term: term, SchoolDays: len(ds), Totals: ZoneTotals{Zone: AllZones}}
	if len(ds) == 0 {
		return t
	}
	t.From, t.To = ds[0].Day, ds[len(ds)-1].Day
	last := ds[len(ds)-1]
	t.PolicyReviewDue, t.ReviewOverdue = last.PolicyReviewDue, last.ReviewOverdue

	zi := map[string]int{}
	rules := map[string]*RuleCount{}
	devEpisodes := map[string]int{}
	for _, d := range ds {
		add(&t.Totals, d.Totals)
		for _, z := range d.Zones {
			i, ok := zi[z.Zone]
			if !ok {
				i = len(t.Zones)
				zi[z.Zone] = i
				t.Zones = append(t.Zones, ZoneTotals{Zone: z.Zone})
			}
			add(&t.Zones[i], z)
		}
		for _, r := range d.Rules {
			rc := rules[r.Rule]
			if rc == nil {
				rc = &RuleCount{Rule: r.Rule}
				rules[r.Rule] = rc
			}
			rc.Episodes += r.Episodes
			rc.BreachMinutes += r.BreachMinutes
			for _, c := range r.Clauses {
				rc.Clauses = addSorted(rc.Clauses, c)
			}
		}
		for _, dev := range d.Devices {
			devEpisodes[dev.Device] += dev.Episodes
		}
		t.OutsideHoursEpisodes += d.OutsideHoursEpisodes
		t.ExemptionsUsed += d.ExemptionsUsed
		t.EnforcementActions += d.EnforcementActions

		wk := weekOf(d.Day)
		if n := len(t.Weeks); n == 0 || t.Weeks[n-1].WeekOf != wk {
			t.Weeks = append(t.Weeks, Week{WeekOf: wk})
		}
		w := &t.Weeks[len(t.Weeks)-1]
		w.Days++
		w.Episodes += d.Totals.Episodes
		w.BreachMinutes += d.Totals.BreachMinutes
		w.PresentMinutes += d.Totals.PresentMinutes
	}
	finish(&t.Totals)
	for i := range t.Zones {
		finish(&t.Zones[i])
	}
	for i := range t.Weeks {
		w := &t.Weeks[i]
		w.Compliance, w.Measured = compliance(w.BreachMinutes, w.PresentMinutes)
	}
	for _, rc := range rules {
		t.Rules = append(t.Rules, *rc)
	}
	sortRules(t.Rules)
	if len(t.Rules) > TopRules {
		t.Rules = t.Rules[:TopRules]
	}
	var repeatEpisodes, allEpisodes int
	for _, n := range devEpisodes {
		allEpisodes += n
		if n >= RepeatThreshold {
			t.RepeatDevices++
			repeatEpisodes += n
		}
	}
	t.DevicesInBreach = len(devEpisodes)
	if allEpisodes > 0 {
		t.RepeatShare = 100 * float64(repeatEpisodes) / float64(allEpisodes)
	}
	return t
}

func add(t *ZoneTotals, z ZoneFigures) {
	t.Episodes += z.Episodes
	t.BreachMinutes += z.BreachMinutes
	t.PresentMinutes += z.PresentMinutes
	if z.Episodes > 0 {
		t.DaysWithBreach++
	}
}

func finish(t *ZoneTotals) { t.Compliance, t.Measured = compliance(t.BreachMinutes, t.PresentMinutes) }

// weekOf returns the Monday of day's week (day is YYYY-MM-DD; a civil date, so UTC
// arithmetic is exact).
func weekOf(day string) string {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	back := (int(d.Weekday()) + 6) % 7
	return d.AddDate(0, 0, -back).Format(time.DateOnly)
}
