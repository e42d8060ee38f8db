package simulate

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed school.yaml
var schoolYAML []byte

// Embedded returns the demo school's configuration (school.yaml), so that the demo
// loads the same zones, calendar and rules as the traffic the simulator generates.
// The caller gets its own copy.
func Embedded() []byte {
	return append([]byte(nil), schoolYAML...)
}

// schoolConfig is the part of school.yaml the simulator needs: the time zone, the
// calendar (to refuse a day without pupils) and the pupil-hours schedule (to plan
// breaches). The daemon's own loader (rules/policy) reads the whole file.
type schoolConfig struct {
	Timezone string `yaml:"timezone"`
	Calendar struct {
		Terms     []dateRange `yaml:"terms"`
		Holidays  []dateRange `yaml:"holidays"`
		InsetDays []string    `yaml:"inset_days"`
	} `yaml:"calendar"`
	Schedules []struct {
		Name string `yaml:"name"`
		From string `yaml:"from"`
		To   string `yaml:"to"`
	} `yaml:"schedules"`
}

type dateRange struct {
	Name  string `yaml:"name"`
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// calendar is school.yaml's calendar and pupil hours, resolved.
type calendar struct {
	loc        *time.Location
	terms      [][2]civilDate
	holidays   [][2]civilDate
	inset      []civilDate
	pupilFrom  clockTime
	pupilUntil clockTime
}

// civilDate is a date without a time zone (as written in school.yaml).
type civilDate struct {
	y int
	m time.Month
	d int
}

func (c civilDate) before(o civilDate) bool {
	if c.y != o.y {
		return c.y < o.y
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.d < o.d
}

func (c civilDate) String() string { return fmt.Sprintf("%04d-%02d-%02d", c.y, c.m, c.d) }

// clockTime is a local time of day.
type clockTime struct{ h, m int }

func parseDate(s string) (civilDate, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return civilDate{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return civilDate{t.Year(), t.Month(), t.Day()}, nil
}

func parseClock(s string) (clockTime, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, errH := strconv.Atoi(hh)
	m, errM := strconv.Atoi(mm)
	if !ok || errH != nil || errM != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return clockTime{}, fmt.Errorf("parse time of day %q: want HH:MM", s)
	}
	return clockTime{h, m}, nil
}

func parseRanges(rs []dateRange, what string) ([][2]civilDate, error) {
	out := make([][2]civilDate, 0, len(rs))
	for _, r := range rs {
		s, err := parseDate(r.Start)
		if err != nil {
			return nil, fmt.Errorf("%s %q start: %w", what, r.Name, err)
		}
		e, err := parseDate(r.End)
		if err != nil {
			return nil, fmt.Errorf("%s %q end: %w", what, r.Name, err)
		}
		out = append(out, [2]civilDate{s, e})
	}
	return out, nil
}

// loadCalendar reads the time zone, calendar and pupil-hours schedule from a
// school.yaml document.
func loadCalendar(doc []byte) (*calendar, error) {
	var cfg schoolConfig
	if err := yaml.Unmarshal(doc, &cfg); err != nil {
		return nil, fmt.Errorf("parse school.yaml: %w", err)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("school.yaml timezone %q: %w", cfg.Timezone, err)
	}
	c := &calendar{loc: loc}
	if c.terms, err = parseRanges(cfg.Calendar.Terms, "term"); err != nil {
		return nil, fmt.Errorf("school.yaml calendar: %w", err)
	}
	if c.holidays, err = parseRanges(cfg.Calendar.Holidays, "holiday"); err != nil {
		return nil, fmt.Errorf("school.yaml calendar: %w", err)
	}
	for _, s := range cfg.Calendar.InsetDays {
		d, err := parseDate(s)
		if err != nil {
			return nil, fmt.Errorf("school.yaml calendar inset_days: %w", err)
		}
		c.inset = append(c.inset, d)
	}
	found := false
	for _, s := range cfg.Schedules {
		if s.Name != "pupil-hours" {
			continue
		}
		if c.pupilFrom, err = parseClock(s.From); err != nil {
			return nil, fmt.Errorf("school.yaml schedule pupil-hours from: %w", err)
		}
		if c.pupilUntil, err = parseClock(s.To); err != nil {
			return nil, fmt.Errorf("school.yaml schedule pupil-hours to: %w", err)
		}
		found = true
	}
	if !found {
		return nil, errors.New("school.yaml: no schedule named pupil-hours")
	}
	return c, nil
}

func inRange(d civilDate, r [2]civilDate) bool { return !d.before(r[0]) && !r[1].before(d) }

// schoolDay reports whether d is a day with pupils: a weekday inside a term, not in a
// holiday and not an INSET day.
func (c *calendar) schoolDay(d civilDate) (bool, string) {
	wd := time.Date(d.y, d.m, d.d, 12, 0, 0, 0, c.loc).Weekday()
	if wd == time.Saturday || wd == time.Sunday {
		return false, "a weekend"
	}
	for _, i := range c.inset {
		if i == d {
			return false, "an INSET day"
		}
	}
	inTerm := false
	for _, t := range c.terms {
		inTerm = inTerm || inRange(d, t)
	}
	if !inTerm {
		return false, "outside every term"
	}
	for _, h := range c.holidays {
		if inRange(d, h) {
			return false, "a holiday"
		}
	}
	return true, ""
}

// SchoolDay returns the first school day (midnight, Europe/London per school.yaml) on
// or after from's local date, looking at most a year ahead. The demo uses it to pick
// Options.Day.
func SchoolDay(from time.Time) (time.Time, error) {
	cal, err := loadCalendar(schoolYAML)
	if err != nil {
		return time.Time{}, err
	}
	y, m, d := from.In(cal.loc).Date()
	for i := range 366 {
		t := time.Date(y, m, d+i, 0, 0, 0, 0, cal.loc)
		if ok, _ := cal.schoolDay(civilDate{t.Year(), t.Month(), t.Day()}); ok {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("no school day in school.yaml's calendar within a year of %s", from.Format(time.DateOnly))
}
