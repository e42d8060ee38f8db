package calendar

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Event is one VEVENT of an iCalendar (RFC 5545) file: what school calendars export.
type Event struct {
	Summary string
	Start   DateTime
	End     DateTime // DTEND, or DTSTART + DURATION; zero when the event gives neither
	Line    int      // line of its BEGIN:VEVENT
}

// DateTime is an iCalendar DATE or DATE-TIME value, as written.
type DateTime struct {
	Date    Date
	Hour    int
	Minute  int
	Second  int
	HasTime bool   // false for a DATE (an all-day value)
	UTC     bool   // the value ended in Z
	TZID    string // the TZID parameter; "" for UTC or floating time
}

// IsZero reports whether dt is the zero DateTime.
func (dt DateTime) IsZero() bool { return dt.Date.IsZero() }

// localDate is the civil date of dt in the school's time zone: a UTC value is
// converted to loc; a floating or TZID value is taken as written (schools export in
// their own zone).
func (dt DateTime) localDate(loc *time.Location) Date {
	if dt.HasTime && dt.UTC && loc != nil {
		return DateOf(time.Date(dt.Date.Year, dt.Date.Month, dt.Date.Day, dt.Hour, dt.Minute, dt.Second, 0, time.UTC).In(loc))
	}
	return dt.Date
}

func (dt DateTime) midnight() bool { return dt.Hour == 0 && dt.Minute == 0 && dt.Second == 0 }

// Dates returns the first and last civil dates the event covers in loc. An all-day
// event's DTEND is exclusive (RFC 5545 3.6.1); a timed event ending at midnight does
// not cover the day it ends on. An event without an end covers its start day.
func (e Event) Dates(loc *time.Location) (first, last Date) {
	first = e.Start.localDate(loc)
	last = first
	if e.End.IsZero() {
		return first, last
	}
	end := e.End.Date
	switch {
	case !e.End.HasTime:
		end = end.AddDays(-1) // an all-day DTEND is exclusive
	case e.End.UTC && loc != nil:
		t := time.Date(end.Year, end.Month, end.Day, e.End.Hour, e.End.Minute, e.End.Second, 0, time.UTC).In(loc)
		end = DateOf(t)
		if h, m, sec := t.Clock(); h == 0 && m == 0 && sec == 0 {
			end = end.AddDays(-1)
		}
	case e.End.midnight():
		end = end.AddDays(-1)
	}
	if end.Compare(first) > 0 {
		last = end
	}
	return first, last
}

// ICSError is a problem at a line of an iCalendar file (1-based, the line where the
// folded content line starts).
type ICSError struct {
	Line int
	Msg  string
}

func (e *ICSError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxICSEvents bounds what one file may hold: a school year has a few dozen events.
const maxICSEvents = 10000

// ParseICS parses the VEVENTs of an iCalendar file: DTSTART and DTEND (DATE, or
// DATE-TIME in UTC, floating or with a TZID), DURATION, SUMMARY (unescaped), with
// folded lines joined. Cancelled events (STATUS:CANCELLED) are left out. Recurring
// events (RRULE, RDATE) are refused rather than silently expanded wrongly: export the
// calendar with recurrences expanded. Other components (VTIMEZONE, VALARM, VTODO) and
// properties are skipped. The error is an *ICSError naming the line.
func ParseICS(data []byte) ([]Event, error) {
	lines := unfold(string(data))
	var (
		events    []Event
		stack     []string
		cur       *Event
		cancelled bool
		sawCal    bool
	)
	fail := func(line int, format string, a ...any) ([]Event, error) {
		return nil, &ICSError{Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	for _, ln := range lines {
		name, params, value, err := contentLine(ln.text)
		if err != nil {
			return fail(ln.no, "%v", err)
		}
		if !sawCal {
			if name != "BEGIN" || !strings.EqualFold(value, "VCALENDAR") {
				return fail(ln.no, "not an iCalendar file (want BEGIN:VCALENDAR first, got %q)", clip(ln.text))
			}
			sawCal = true
			stack = append(stack, "VCALENDAR")
			continue
		}
		if len(stack) == 0 {
			return fail(ln.no, "content after END:VCALENDAR")
		}
		switch name {
		case "BEGIN":
			comp := strings.ToUpper(value)
			if comp == "" {
				return fail(ln.no, "BEGIN without a component name")
			}
			if len(stack) > 8 {
				return fail(ln.no, "components nested too deeply")
			}
			stack = append(stack, comp)
			if comp == "VEVENT" {
				if len(stack) != 2 {
					return fail(ln.no, "VEVENT inside %s", stack[len(stack)-2])
				}
				cur, cancelled = &Event{Line: ln.no}, false
			}
			continue
		case "END":
			comp := strings.ToUpper(value)
			if top := stack[len(stack)-1]; comp != top {
				return fail(ln.no, "END:%s does not close BEGIN:%s", value, top)
			}
			stack = stack[:len(stack)-1]
			if comp == "VEVENT" {
				if cur.Start.IsZero() {
					return fail(cur.Line, "VEVENT has no DTSTART")
				}
				if !cur.End.IsZero() && endBefore(cur.End, cur.Start) {
					return fail(cur.Line, "VEVENT %q ends before it starts", cur.Summary)
				}
				if !cancelled {
					if len(events) == maxICSEvents {
						return fail(ln.no, "more than %d events", maxICSEvents)
					}
					events = append(events, *cur)
				}
				cur = nil
			}
			continue
		}
		if cur == nil || stack[len(stack)-1] != "VEVENT" {
			continue // a property of the calendar, a time zone or an alarm
		}
		switch name {
		case "SUMMARY":
			cur.Summary = unescapeText(value)
		case "DTSTART":
			if !cur.Start.IsZero() {
				return fail(ln.no, "VEVENT has two DTSTART properties")
			}
			dt, err := parseDateTime(params, value)
			if err != nil {
				return fail(ln.no, "DTSTART: %v", err)
			}
			cur.Start = dt
		case "DTEND":
			dt, err := parseDateTime(params, value)
			if err != nil {
				return fail(ln.no, "DTEND: %v", err)
			}
			cur.End = dt
		case "DURATION":
			if cur.Start.IsZero() {
				return fail(ln.no, "DURATION before DTSTART")
			}
			d, err := parseDuration(value)
			if err != nil {
				return fail(ln.no, "DURATION: %v", err)
			}
			cur.End = addDuration(cur.Start, d)
		case "STATUS":
			cancelled = strings.EqualFold(value, "CANCELLED")
		case "RRULE", "RDATE":
			return fail(ln.no, "%s: recurring events are not supported; export the calendar with recurrences expanded", name)
		}
	}
	if !sawCal {
		return fail(1, "not an iCalendar file (it is empty)")
	}
	if len(stack) > 0 {
		last := 1
		if len(lines) > 0 {
			last = lines[len(lines)-1].no
		}
		return fail(last, "BEGIN:%s is never closed", stack[len(stack)-1])
	}
	return events, nil
}

type physLine struct {
	no   int
	text string
}

// unfold joins folded lines (RFC 5545 3.1: CRLF followed by one space or tab) and
// drops empty ones, keeping each content line's starting line number.
func unfold(s string) []physLine {
	s = strings.TrimPrefix(s, "\ufeff")
	var out []physLine
	for i, raw := range strings.Split(s, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		if len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t') && len(out) > 0 {
			out[len(out)-1].text += raw[1:]
			continue
		}
		if strings.TrimSpace(raw) == "" {
			continue
		}
		out = append(out, physLine{no: i + 1, text: raw})
	}
	return out
}

// contentLine splits NAME;PARAM=VALUE;...:VALUE. Parameter values may be quoted and
// then contain ':' and ';'.
func contentLine(s string) (name string, params map[string]string, value string, err error) {
	i := strings.IndexAny(s, ";:")
	if i <= 0 {
		return "", nil, "", fmt.Errorf("not a NAME:VALUE line: %q", clip(s))
	}
	name = strings.ToUpper(s[:i])
	rest := s[i:]
	for strings.HasPrefix(rest, ";") {
		rest = rest[1:]
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return "", nil, "", fmt.Errorf("%s: malformed parameter in %q", name, clip(s))
		}
		pname := strings.ToUpper(rest[:eq])
		rest = rest[eq+1:]
		var pval string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", nil, "", fmt.Errorf("%s: unterminated quoted parameter value", name)
			}
			pval, rest = rest[1:1+end], rest[2+end:]
		} else {
			end := strings.IndexAny(rest, ";:")
			if end < 0 {
				return "", nil, "", fmt.Errorf("%s: no ':' before the value", name)
			}
			pval, rest = rest[:end], rest[end:]
		}
		if params == nil {
			params = map[string]string{}
		}
		params[pname] = pval
	}
	if !strings.HasPrefix(rest, ":") {
		return "", nil, "", fmt.Errorf("%s: no ':' before the value", name)
	}
	return name, params, rest[1:], nil
}

func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			default: // \\ \; \,
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return strings.TrimSpace(b.String())
}

func parseDateTime(params map[string]string, v string) (DateTime, error) {
	var dt DateTime
	kind := strings.ToUpper(params["VALUE"])
	switch {
	case kind == "DATE" || (kind == "" && len(v) == 8):
		d, err := compactDate(v)
		if err != nil {
			return dt, err
		}
		dt.Date = d
		return dt, nil
	case kind != "" && kind != "DATE-TIME":
		return dt, fmt.Errorf("unsupported VALUE=%s", params["VALUE"])
	}
	if len(v) == 16 && v[15] == 'Z' {
		dt.UTC = true
		v = v[:15]
	}
	if len(v) != 15 || v[8] != 'T' {
		return dt, fmt.Errorf("invalid date-time %q (want YYYYMMDDTHHMMSS, optionally ending in Z)", clip(v))
	}
	d, err := compactDate(v[:8])
	if err != nil {
		return dt, err
	}
	h, e1 := strconv.Atoi(v[9:11])
	m, e2 := strconv.Atoi(v[11:13])
	sec, e3 := strconv.Atoi(v[13:15])
	if e1 != nil || e2 != nil || e3 != nil || !digits(v[9:15]) || h > 23 || m > 59 || sec > 60 {
		return dt, fmt.Errorf("invalid time in %q", clip(v))
	}
	dt.Date, dt.Hour, dt.Minute, dt.Second, dt.HasTime = d, h, m, min(sec, 59), true
	if !dt.UTC {
		dt.TZID = params["TZID"]
	}
	return dt, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func compactDate(v string) (Date, error) {
	if len(v) != 8 || !digits(v) {
		return Date{}, fmt.Errorf("invalid date %q (want YYYYMMDD)", clip(v))
	}
	d, err := ParseDate(v[:4] + "-" + v[4:6] + "-" + v[6:])
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q", v)
	}
	return d, nil
}

var durationRE = regexp.MustCompile(`^\+?P(?:(\d{1,4})W)?(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?(?:(\d{1,9})S)?)?$`)

// parseDuration parses a non-negative RFC 5545 duration (P1D, PT2H30M, P2W).
func parseDuration(v string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(strings.ToUpper(v))
	if m == nil || v == "P" || strings.HasSuffix(strings.ToUpper(v), "T") {
		return 0, fmt.Errorf("invalid duration %q (want e.g. P1D or PT1H)", clip(v))
	}
	n := func(s string) time.Duration {
		x, _ := strconv.Atoi(s)
		return time.Duration(x)
	}
	return n(m[1])*7*24*time.Hour + n(m[2])*24*time.Hour + n(m[3])*time.Hour + n(m[4])*time.Minute + n(m[5])*time.Second, nil
}

// addDuration adds d to a start as civil time (a DATE start moves by whole days).
func addDuration(start DateTime, d time.Duration) DateTime {
	t := time.Date(start.Date.Year, start.Date.Month, start.Date.Day, start.Hour, start.Minute, start.Second, 0, time.UTC).Add(d)
	end := start
	end.Date = DateOf(t)
	if start.HasTime {
		end.Hour, end.Minute, end.Second = t.Clock()
	}
	return end
}

func endBefore(end, start DateTime) bool {
	if c := end.Date.Compare(start.Date); c != 0 {
		return c < 0
	}
	return end.Hour*3600+end.Minute*60+end.Second < start.Hour*3600+start.Minute*60+start.Second
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Keywords sort calendar events into terms, holidays and INSET days by their
// SUMMARY: each keyword matches case-insensitively as whole words (a trailing "s" is
// allowed: "holiday" matches "Christmas holidays"). INSET keywords are tried first,
// then holiday keywords, then term keywords, so "Autumn half term" is a holiday.
type Keywords struct {
	Term    []string
	Holiday []string
	Inset   []string
}

// DefaultKeywords are the words English school calendars use.
func DefaultKeywords() Keywords {
	return Keywords{
		Term:    []string{"term"},
		Holiday: []string{"half term", "half-term", "holiday", "bank holiday", "closed"},
		Inset:   []string{"INSET", "training day", "staff development day"},
	}
}

// Category of a calendar event.
const (
	CategoryTerm    = "term"
	CategoryHoliday = "holiday"
	CategoryInset   = "inset"
)

// Categorize returns the category of a SUMMARY under kw, or "" when no keyword matches.
func (kw Keywords) Categorize(summary string) string {
	s := strings.ToLower(summary)
	for _, c := range []struct {
		cat   string
		words []string
	}{{CategoryInset, kw.Inset}, {CategoryHoliday, kw.Holiday}, {CategoryTerm, kw.Term}} {
		if slices.ContainsFunc(c.words, func(w string) bool { return containsWords(s, strings.ToLower(strings.TrimSpace(w))) }) {
			return c.cat
		}
	}
	return ""
}

func containsWords(s, w string) bool {
	if w == "" {
		return false
	}
	for from := 0; from <= len(s)-len(w); {
		i := strings.Index(s[from:], w)
		if i < 0 {
			return false
		}
		i += from
		j := i + len(w)
		if j < len(s) && s[j] == 's' {
			j++
		}
		if boundary(s, i-1) && boundary(s, j) {
			return true
		}
		from = i + 1
	}
	return false
}

func boundary(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	r := rune(s[i])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

// FromEvents sorts events into terms, holidays and INSET days (every weekday an
// INSET event covers) by kw, reading their dates in loc. Events no keyword matches
// are returned in ignored, so callers can report them.
func FromEvents(events []Event, kw Keywords, loc *time.Location) (terms, holidays []Range, inset []Date, ignored []Event) {
	for _, e := range events {
		first, last := e.Dates(loc)
		switch kw.Categorize(e.Summary) {
		case CategoryInset:
			for d := first; d.Compare(last) <= 0; d = d.AddDays(1) {
				if w := d.Weekday(); w != time.Saturday && w != time.Sunday && !slices.Contains(inset, d) {
					inset = append(inset, d)
				}
			}
		case CategoryHoliday:
			holidays = append(holidays, Range{Name: e.Summary, Start: first, End: last})
		case CategoryTerm:
			terms = append(terms, Range{Name: e.Summary, Start: first, End: last})
		default:
			ignored = append(ignored, e)
		}
	}
	return terms, holidays, inset, ignored
}
