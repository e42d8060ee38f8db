// Package report computes the zone-compliance figures SLT read every day and the
// governors' termly summary (SPT-14, OSS-7): devices seen in pupil hours, breach
// episodes, device-minutes in breach, compliance, an hour × zone heatmap, the trend
// over previous school days and repeat devices.
//
// Pure: no I/O and no clock. The caller passes the day, its pupil-hours windows and
// the records (mapped from the store into this package's small input types), and a
// pseudonym function; the result holds no MAC address, only pseudonyms.
package report

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Window is a span of pupil hours, From included, To excluded.
type Window struct{ From, To time.Time }

// Visit is one stay of a device in a zone (zone history).
type Visit struct {
	MAC, Zone string
	From, To  time.Time
}

// Alert is one breach episode: a device in breach of a rule in a zone.
type Alert struct {
	ID, MAC, Zone, Rule, Severity string
	Clauses                       []string
	Opened                        time.Time
	Closed                        *time.Time // nil while open
	Outcome                       string     // how the DSL resolved it, "" when not yet
}

// Input is everything one day's report is computed from.
type Input struct {
	Day        time.Time      // local midnight of the day reported
	Loc        *time.Location // the school's time zone (hour labels, dates)
	Now        time.Time      // when the report is made: open episodes count until then; zero for "end of day"
	PupilHours []Window       // that day's pupil hours (empty on a day that is not a school day)
	Zones      []string       // the configured zones, in the order the report lists them

	Visits []Visit // stays overlapping the day
	Alerts []Alert // episodes overlapping the day

	ExemptionsUsed     int // episodes resolved as permitted under an exemption
	EnforcementActions int // block decisions applied by the firewall

	PolicyReviewDue time.Time    // SPT-14: when the policy must next be reviewed; zero when not set
	Previous        []DaySummary // earlier school days for the trend (any order; typically five)
}

// DaySummary is the part of a day's report the trend and the termly summary need.
type DaySummary struct {
	Day            string // YYYY-MM-DD
	Episodes       int
	BreachMinutes  float64
	PresentMinutes float64
	Zones          []ZoneSummary
}

// ZoneSummary is one zone's figures in a DaySummary.
type ZoneSummary struct {
	Zone           string
	Episodes       int
	BreachMinutes  float64
	PresentMinutes float64
}

// Hour is one column of the heatmap: a local clock hour clipped to pupil hours.
type Hour struct {
	Label    string // "08:00"
	From, To time.Time
}

// ZoneFigures are one zone's figures for the day (or, as DailyReport.Totals, all zones').
type ZoneFigures struct {
	Zone           string
	DevicesSeen    int       // distinct devices present (or in breach) there in pupil hours
	Episodes       int       // breach episodes overlapping pupil hours
	BreachMinutes  float64   // device-minutes in breach: open time of episodes ∩ pupil hours
	PresentMinutes float64   // device-minutes present: recorded stays ∩ pupil hours
	Compliance     float64   // percent: 100 × (1 − BreachMinutes / PresentMinutes), clamped to 0..100
	Measured       bool      // false when nothing was present (Compliance is then meaningless)
	ByHour         []float64 // breach device-minutes per DailyReport.Hours column
}

// TrendPoint is one school day of the trend.
type TrendPoint struct {
	Day           string // YYYY-MM-DD
	Episodes      int
	BreachMinutes float64
	Compliance    float64
	Measured      bool
}

// Device is a device with breach episodes, named only by its pseudonym.
type Device struct {
	Device        string // pseudonym
	Episodes      int
	BreachMinutes float64
	Zones         []string
	Rules         []string
}

// RuleCount is how often a rule was breached.
type RuleCount struct {
	Rule          string
	Clauses       []string
	Episodes      int
	BreachMinutes float64
}

// DailyReport is one school day's report (what Daily computes).
type DailyReport struct {
	Day        string // YYYY-MM-DD
	Weekday    string
	SchoolDay  bool     // there were pupil hours
	PupilHours []string // "08:30–15:30"
	Hours      []Hour
	Zones      []ZoneFigures
	Totals     ZoneFigures // Zone "All zones"; DevicesSeen counts distinct devices
	HeatMax    float64     // the largest heatmap cell, for shading

	Trend   []TrendPoint // previous days then this one, oldest first
	Devices []Device     // every device in breach, most episodes first
	Repeat  []Device     // those with two or more episodes
	Rules   []RuleCount  // most episodes first

	OutsideHoursEpisodes int // episodes opened that day that did not touch pupil hours
	OpenEpisodes         int // episodes still open when the report was made
	ExemptionsUsed       int
	EnforcementActions   int

	PolicyReviewDue string // YYYY-MM-DD, "" when not set
	ReviewOverdue   bool   // the day is on or after the review date
}

// AllZones is the Zone name of DailyReport.Totals.
const AllZones = "All zones"

// RepeatThreshold is the number of episodes in a day that makes a device a repeat device.
const RepeatThreshold = 2

// Daily computes the day's report. pseudonym names devices (it must be stable and
// keyed, see Pseudonymiser); it is called once per device in breach.
func Daily(in Input, pseudonym func(mac string) string) DailyReport {
	loc := in.Loc
	if loc == nil {
		loc = in.Day.Location()
	}
	day := in.Day.In(loc)
	y, m, dd := day.Date()
	dayStart := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	dayEnd := time.Date(y, m, dd+1, 0, 0, 0, 0, loc)
	asOf := dayEnd
	if !in.Now.IsZero() && in.Now.Before(dayEnd) {
		asOf = in.Now
	}

	wins := normalise(in.PupilHours)
	d := DailyReport{
		Day:                dayStart.Format(time.DateOnly),
		Weekday:            dayStart.Weekday().String(),
		SchoolDay:          len(wins) > 0,
		ExemptionsUsed:     in.ExemptionsUsed,
		EnforcementActions: in.EnforcementActions,
	}
	if !in.PolicyReviewDue.IsZero() {
		due := in.PolicyReviewDue.In(loc)
		d.PolicyReviewDue = due.Format(time.DateOnly)
		dy, dm, ddd := due.Date()
		d.ReviewOverdue = !dayStart.Before(time.Date(dy, dm, ddd, 0, 0, 0, 0, loc))
	}
	for _, w := range wins {
		d.PupilHours = append(d.PupilHours, w.From.In(loc).Format("15:04")+"–"+w.To.In(loc).Format("15:04"))
	}
	d.Hours = hours(wins, loc)

	// Zones: the configured order, then any others the records name, sorted.
	idx := map[string]int{}
	addZone := func(z string) int {
		if i, ok := idx[z]; ok {
			return i
		}
		idx[z] = len(d.Zones)
		d.Zones = append(d.Zones, ZoneFigures{Zone: z, ByHour: make([]float64, len(d.Hours))})
		return idx[z]
	}
	for _, z := range in.Zones {
		addZone(z)
	}
	var extra []string
	seenExtra := map[string]bool{}
	for _, v := range in.Visits {
		if _, ok := idx[v.Zone]; !ok && !seenExtra[v.Zone] {
			seenExtra[v.Zone] = true
			extra = append(extra, v.Zone)
		}
	}
	for _, a := range in.Alerts {
		if _, ok := idx[a.Zone]; !ok && !seenExtra[a.Zone] {
			seenExtra[a.Zone] = true
			extra = append(extra, a.Zone)
		}
	}
	slices.Sort(extra)
	for _, z := range extra {
		addZone(z)
	}

	type key struct{ mac, zone string }
	present := make(map[key]bool, len(in.Visits)/2+len(in.Alerts))
	for _, v := range in.Visits {
		mins := overlapMinutes(v.From, v.To, wins)
		if mins <= 0 {
			continue
		}
		zi := idx[v.Zone]
		d.Zones[zi].PresentMinutes += mins
		present[key{v.MAC, v.Zone}] = true
	}

	type devAgg struct {
		episodes int
		minutes  float64
		zones    []string
		rules    []string
	}
	devs := make(map[string]*devAgg, len(in.Alerts))
	rules := map[string]*RuleCount{}
	for _, a := range in.Alerts {
		end := asOf
		if a.Closed != nil {
			end = *a.Closed
		} else if a.Opened.Before(asOf) {
			d.OpenEpisodes++
		}
		if !end.After(a.Opened) && a.Closed == nil {
			end = a.Opened
		}
		if !touches(a.Opened, end, wins) {
			if !a.Opened.Before(dayStart) && a.Opened.Before(dayEnd) {
				d.OutsideHoursEpisodes++
			}
			continue
		}
		zi := idx[a.Zone]
		z := &d.Zones[zi]
		z.Episodes++
		var mins float64
		for hi, h := range d.Hours {
			x := overlap(a.Opened, end, h.From, h.To).Minutes()
			z.ByHour[hi] += x
			mins += x
		}
		z.BreachMinutes += mins
		present[key{a.MAC, a.Zone}] = true

		da := devs[a.MAC]
		if da == nil {
			da = &devAgg{}
			devs[a.MAC] = da
		}
		da.episodes++
		da.minutes += mins
		da.zones = addSorted(da.zones, a.Zone)
		da.rules = addSorted(da.rules, a.Rule)

		rc := rules[a.Rule]
		if rc == nil {
			rc = &RuleCount{Rule: a.Rule}
			rules[a.Rule] = rc
		}
		rc.Episodes++
		rc.BreachMinutes += mins
		for _, c := range a.Clauses {
			rc.Clauses = addSorted(rc.Clauses, c)
		}
	}

	// Devices seen: distinct per zone, and distinct over all zones.
	perZone := make([]int, len(d.Zones))
	all := make(map[string]bool, len(present))
	for k := range present {
		perZone[idx[k.zone]]++
		all[k.mac] = true
	}
	d.Totals = ZoneFigures{Zone: AllZones, DevicesSeen: len(all), ByHour: make([]float64, len(d.Hours))}
	for i := range d.Zones {
		z := &d.Zones[i]
		z.DevicesSeen = perZone[i]
		z.Compliance, z.Measured = compliance(z.BreachMinutes, z.PresentMinutes)
		d.Totals.Episodes += z.Episodes
		d.Totals.BreachMinutes += z.BreachMinutes
		d.Totals.PresentMinutes += z.PresentMinutes
		for h, v := range z.ByHour {
			d.Totals.ByHour[h] += v
			d.HeatMax = max(d.HeatMax, v)
		}
	}
	d.Totals.Compliance, d.Totals.Measured = compliance(d.Totals.BreachMinutes, d.Totals.PresentMinutes)

	for mac, a := range devs {
		dev := Device{Device: pseudonym(mac), Episodes: a.episodes, BreachMinutes: a.minutes, Zones: a.zones, Rules: a.rules}
		d.Devices = append(d.Devices, dev)
	}
	slices.SortFunc(d.Devices, func(a, b Device) int {
		return cmp.Or(cmp.Compare(b.Episodes, a.Episodes), cmp.Compare(b.BreachMinutes, a.BreachMinutes), cmp.Compare(a.Device, b.Device))
	})
	for _, dev := range d.Devices {
		if dev.Episodes >= RepeatThreshold {
			d.Repeat = append(d.Repeat, dev)
		}
	}
	for _, rc := range rules {
		d.Rules = append(d.Rules, *rc)
	}
	sortRules(d.Rules)

	prev := slices.Clone(in.Previous)
	slices.SortFunc(prev, func(a, b DaySummary) int { return cmp.Compare(a.Day, b.Day) })
	for _, p := range prev {
		if p.Day >= d.Day {
			continue // only earlier days belong to the trend
		}
		d.Trend = append(d.Trend, p.point())
	}
	d.Trend = append(d.Trend, d.Summary().point())
	return d
}

// Summary is the part of the report kept for later days' trends and the termly summary.
func (d DailyReport) Summary() DaySummary {
	s := DaySummary{Day: d.Day, Episodes: d.Totals.Episodes, BreachMinutes: d.Totals.BreachMinutes, PresentMinutes: d.Totals.PresentMinutes}
	for _, z := range d.Zones {
		s.Zones = append(s.Zones, ZoneSummary{Zone: z.Zone, Episodes: z.Episodes, BreachMinutes: z.BreachMinutes, PresentMinutes: z.PresentMinutes})
	}
	return s
}

func (s DaySummary) point() TrendPoint {
	c, ok := compliance(s.BreachMinutes, s.PresentMinutes)
	return TrendPoint{Day: s.Day, Episodes: s.Episodes, BreachMinutes: s.BreachMinutes, Compliance: c, Measured: ok}
}

func sortRules(rs []RuleCount) {
	slices.SortFunc(rs, func(a, b RuleCount) int {
		return cmp.Or(cmp.Compare(b.Episodes, a.Episodes), cmp.Compare(b.BreachMinutes, a.BreachMinutes), cmp.Compare(a.Rule, b.Rule))
	})
}

// compliance is 100 × (1 − breach/present), clamped to 0..100; ok is false when
// nothing was present.
func compliance(breach, present float64) (pct float64, ok bool) {
	if present <= 0 {
		return 0, false
	}
	pct = 100 * (1 - breach/present)
	return math.Max(0, math.Min(100, pct)), true
}

// normalise drops empty windows, sorts them and merges overlaps, so no minute counts twice.
func normalise(ws []Window) []Window {
	var out []Window
	for _, w := range ws {
		if w.To.After(w.From) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b Window) int { return a.From.Compare(b.From) })
	merged := out[:0]
	for _, w := range out {
		if n := len(merged); n > 0 && !w.From.After(merged[n-1].To) {
			if w.To.After(merged[n-1].To) {
				merged[n-1].To = w.To
			}
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// hours splits the windows at local clock hours.
func hours(wins []Window, loc *time.Location) []Hour {
	var hs []Hour
	for _, w := range wins {
		from := w.From.In(loc)
		for from.Before(w.To) {
			y, m, d := from.Date()
			next := time.Date(y, m, d, from.Hour()+1, 0, 0, 0, loc)
			if !next.After(from) { // clock change: fall back an hour
				next = from.Add(time.Hour).Truncate(time.Hour)
			}
			to := next
			if to.After(w.To) {
				to = w.To
			}
			label := time.Date(y, m, d, from.Hour(), 0, 0, 0, loc).Format("15:04")
			if n := len(hs); n > 0 && hs[n-1].Label == label && hs[n-1].To.Equal(from) {
				hs[n-1].To = to // two windows meeting inside one hour
			} else {
				hs = append(hs, Hour{Label: label, From: from, To: to})
			}
			from = to
		}
	}
	return hs
}

func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	lo, hi := a0, a1
	if b0.After(lo) {
		lo = b0
	}
	if b1.Before(hi) {
		hi = b1
	}
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo)
}

func overlapMinutes(from, to time.Time, wins []Window) float64 {
	var d time.Duration
	for _, w := range wins {
		d += overlap(from, to, w.From, w.To)
	}
	return d.Minutes()
}

// touches reports whether [from, to) meets pupil hours: a positive overlap, or an
// episode that opened (and closed at once) inside them.
func touches(from, to time.Time, wins []Window) bool {
	for _, w := range wins {
		if overlap(from, to, w.From, w.To) > 0 || (!from.Before(w.From) && from.Before(w.To)) {
			return true
		}
	}
	return false
}

func addSorted(s []string, v string) []string {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}
