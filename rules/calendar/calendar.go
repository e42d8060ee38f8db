// Package calendar is the school calendar: terms, holidays and INSET (staff training)
// days, and the question the policy asks of them: is this date a school day?
//
// Dates are civil dates (no time zone). Callers turn an instant into a date in the
// school's time zone (DateOf(t.In(loc))): the *time.Location is theirs to load.
//
// Pure: no I/O and no clock.
package calendar

import (
	"fmt"
	"time"
)

// Date is a civil date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD and rejects impossible dates (2027-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q (want YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// DateOf returns the date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Days returns the number of days since 1970-01-01 (negative before it).
func (d Date) Days() int64 {
	// Howard Hinnant's days_from_civil.
	y := int64(d.Year)
	m := int64(d.Month)
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(d.Day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// FromDays is the inverse of Days.
func FromDays(z int64) Date {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return Date{int(y), time.Month(m), int(day)}
}

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date { return FromDays(d.Days() + int64(n)) }

// Weekday returns the day of the week.
func (d Date) Weekday() time.Weekday {
	// 1970-01-01 was a Thursday.
	w := (d.Days() + 4) % 7
	if w < 0 {
		w += 7
	}
	return time.Weekday(w)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	a, b := d.Days(), e.Days()
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// At returns the instant of hour:minute on d in loc. In a spring-forward gap the
// clock time does not exist and time.Date moves it forward by the gap.
func (d Date) At(hour, minute int, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hour, minute, 0, 0, loc)
}

// Range is a named run of dates, both ends included.
type Range struct {
	Name  string
	Start Date
	End   Date
}

// Contains reports whether d falls in the range.
func (r Range) Contains(d Date) bool { return d.Compare(r.Start) >= 0 && d.Compare(r.End) <= 0 }

// Calendar answers IsSchoolDay quickly: New precomputes one bit per day between the
// first term's start and the last term's end. It is immutable and safe for
// concurrent use.
type Calendar struct {
	terms    []Range
	holidays []Range
	inset    []Date
	first    int64    // Days() of the first bit
	bits     []uint64 // bit i: first+i is a school day
	staff    []uint64 // bit i: first+i is a staff day (a school day or an INSET day in term)
}

// New builds a calendar. Terms and holidays may overlap each other in any order: a
// school day is a Monday to Friday inside a term that is neither inside a holiday nor
// an INSET day. A staff day is a school day or an INSET day (on a weekday, inside a
// term or within 30 days of one). Ranges whose End is before Start contain no days.
func New(terms, holidays []Range, inset []Date) *Calendar {
	c := &Calendar{
		terms:    append([]Range(nil), terms...),
		holidays: append([]Range(nil), holidays...),
		inset:    append([]Date(nil), inset...),
	}
	if len(terms) == 0 {
		return c
	}
	lo, hi := terms[0].Start.Days(), terms[0].End.Days()
	for _, t := range terms[1:] {
		lo = min(lo, t.Start.Days())
		hi = max(hi, t.End.Days())
	}
	for _, d := range inset { // INSET days just outside a term are still staff days
		if t := d.Days(); t < lo && lo-t < 31 {
			lo = t
		} else if t > hi && t-hi < 31 {
			hi = t
		}
	}
	if hi < lo {
		return c
	}
	const maxSpan = 20 * 366 // a config naming terms decades apart is a typo; bound memory
	if hi-lo > maxSpan {
		hi = lo + maxSpan
	}
	c.first = lo
	c.bits = make([]uint64, (hi-lo)/64+1)
	c.staff = make([]uint64, (hi-lo)/64+1)
	set := func(bits []uint64, day int64, on bool) {
		if day < lo || day > hi {
			return
		}
		i := day - lo
		if on {
			bits[i/64] |= 1 << (i % 64)
		} else {
			bits[i/64] &^= 1 << (i % 64)
		}
	}
	for _, t := range terms {
		for day := max(t.Start.Days(), lo); day <= min(t.End.Days(), hi); day++ {
			if w := FromDays(day).Weekday(); w != time.Saturday && w != time.Sunday {
				set(c.bits, day, true)
				set(c.staff, day, true)
			}
		}
	}
	for _, h := range holidays {
		for day := max(h.Start.Days(), lo); day <= min(h.End.Days(), hi); day++ {
			set(c.bits, day, false)
			set(c.staff, day, false)
		}
	}
	for _, d := range inset {
		set(c.bits, d.Days(), false)
		if w := d.Weekday(); w != time.Saturday && w != time.Sunday {
			set(c.staff, d.Days(), true)
		}
	}
	return c
}

// IsSchoolDay reports whether pupils are expected on site on d.
func (c *Calendar) IsSchoolDay(d Date) bool { return c.isSchoolDay(d.Days()) }

func (c *Calendar) isSchoolDay(day int64) bool {
	if c == nil {
		return false
	}
	return c.bit(c.bits, day)
}

// IsStaffDay reports whether staff are expected on site on d: a Monday to Friday
// inside a term that is not inside a holiday. INSET days are staff days; they are
// not school days.
func (c *Calendar) IsStaffDay(d Date) bool {
	if c == nil {
		return false
	}
	return c.bit(c.staff, d.Days())
}

func (c *Calendar) bit(bits []uint64, day int64) bool {
	if day < c.first {
		return false
	}
	i := day - c.first
	if i/64 >= int64(len(bits)) {
		return false
	}
	return bits[i/64]&(1<<(i%64)) != 0
}

// Describe says why d is or is not a school day, e.g. "INSET day",
// "Autumn half term", "weekend", "outside term", "school day in Autumn 2026".
func (c *Calendar) Describe(d Date) string {
	for _, x := range c.inset {
		if x == d {
			return "INSET day"
		}
	}
	for _, h := range c.holidays {
		if h.Contains(d) {
			return h.Name
		}
	}
	var term *Range
	for i := range c.terms {
		if c.terms[i].Contains(d) {
			term = &c.terms[i]
			break
		}
	}
	if term == nil {
		return "outside term"
	}
	if w := d.Weekday(); w == time.Saturday || w == time.Sunday {
		return "weekend"
	}
	return "school day in " + term.Name
}

// Terms returns the terms, in the order given.
func (c *Calendar) Terms() []Range { return append([]Range(nil), c.terms...) }

// Holidays returns the holidays, in the order given.
func (c *Calendar) Holidays() []Range { return append([]Range(nil), c.holidays...) }

// InsetDays returns the INSET days, in the order given.
func (c *Calendar) InsetDays() []Date { return append([]Date(nil), c.inset...) }
