package policy

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// SectionKeys are the top-level configuration keys that hold the policy.
var SectionKeys = []string{"zones", "roles", "register", "schedules", "calendar", "rules", "default", "exemptions", "modes"}

// Sections maps each policy top-level key present in a document to its value node.
type Sections map[string]*yaml.Node

// ParseYAML parses a document holding only the policy keys (SectionKeys). Dates and
// times are read in loc. When invalid, the error is a yamlstrict.Errors listing every
// problem with its line and column.
func ParseYAML(data []byte, loc *time.Location) (*Policy, error) {
	root, err := yamlstrict.Parse(data)
	if err != nil {
		return nil, yamlstrict.Errors{err.(yamlstrict.Error)}
	}
	var d yamlstrict.Decoder
	secs := Sections{}
	fields := yamlstrict.Fields{}
	for _, k := range SectionKeys {
		fields[k] = func(v *yaml.Node) { secs[k] = v }
	}
	d.Mapping(root, "policy", fields)
	p := Decode(&d, secs, loc)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Decode builds a policy from the policy sections of a configuration document,
// recording every problem in d at its position. The policy is only valid when d
// recorded no error during the call. loc must not be nil. A policy naming a file
// (calendar.ics) needs DecodeWithFiles.
func Decode(d *yamlstrict.Decoder, secs Sections, loc *time.Location) *Policy {
	return DecodeWithFiles(d, secs, loc, nil)
}

// ReadFile returns the contents of a file the policy names (calendar.ics), as
// written in the configuration; the caller resolves it (relative to the
// configuration file) and does the I/O, so this package stays pure.
type ReadFile func(name string) ([]byte, error)

// DecodeWithFiles is Decode with a reader for the files the policy names.
func DecodeWithFiles(d *yamlstrict.Decoder, secs Sections, loc *time.Location, read ReadFile) *Policy {
	b := builder{d: d, read: read, p: &Policy{loc: loc, zoneType: map[string]string{}, register: map[string]RegisterEntry{},
		exByMAC: map[string][]int{}, exByPerson: map[string][]int{}}}
	errs := d.Len()
	b.calendar(secs["calendar"])
	b.zones(secs["zones"])
	b.roles(secs["roles"])
	b.register(secs["register"])
	b.schedules(secs["schedules"])
	b.rules(secs["rules"])
	b.defaults(secs["default"])
	b.exemptions(secs["exemptions"])
	b.modes(secs["modes"])
	b.p.precomputeExemptions()
	if d.Len() == errs {
		b.p.warnings = append(b.p.warnings, zoneOverlaps(b.p.zones)...)
		b.p.warnings = append(b.p.warnings, unreachableRules(b.p)...)
		slices.SortStableFunc(b.p.warnings, func(x, y Warning) int {
			if x.Pos.Line != y.Pos.Line {
				return x.Pos.Line - y.Pos.Line
			}
			return x.Pos.Col - y.Pos.Col
		})
	}
	return b.p
}

type builder struct {
	d         *yamlstrict.Decoder
	read      ReadFile
	p         *Policy
	ruleLine  map[string]int
	schedIdx  map[string]int
	schoolDay []*yaml.Node // schedules using school-days, to check the calendar has terms
}

func pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{Line: 1, Col: 1}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// name decodes an identifier (zone, rule, schedule or exemption name).
func (b *builder) name(n *yaml.Node, what string) string {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return ""
	}
	if !nameRE.MatchString(s.Value) {
		b.d.Errorf(s, "%s: %q is not a valid name (letters, digits, '.', '_', '-'; up to 64; starting with a letter or digit)", what, s.Value)
		return ""
	}
	return s.Value
}

// oneOf decodes a scalar that must be one of allowed.
func (b *builder) oneOf(n *yaml.Node, what string, allowed []string) string {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, s.Value) {
		b.d.Errorf(s, "%s: unknown value %q (want one of: %s)", what, s.Value, strings.Join(allowed, ", "))
		return ""
	}
	return s.Value
}

// listOf decodes a list of scalars each in allowed.
func (b *builder) listOf(n *yaml.Node, what string, allowed []string) []string {
	var out []string
	b.d.Seq(n, what, func(it *yaml.Node) {
		if v := b.oneOf(it, what, allowed); v != "" {
			out = append(out, v)
		}
	})
	return out
}

func (b *builder) vlans(n *yaml.Node, what string) []uint16 {
	var out []uint16
	b.d.Seq(n, what, func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, what)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(s.Value, 10, 16)
		if err != nil || v > 4094 {
			b.d.Errorf(s, "%s: invalid VLAN ID %q (want 0 for untagged, or 1-4094)", what, s.Value)
			return
		}
		out = append(out, uint16(v))
	})
	return out
}

func (b *builder) subnets(n *yaml.Node, what string) []netip.Prefix {
	var out []netip.Prefix
	b.d.Seq(n, what, func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, what)
		if !ok {
			return
		}
		pf, err := netip.ParsePrefix(s.Value)
		if err != nil {
			b.d.Errorf(s, "%s: invalid CIDR subnet %q (want e.g. 10.30.1.0/24)", what, s.Value)
			return
		}
		if m := pf.Masked(); m != pf {
			b.d.Errorf(s, "%s: %q has host bits set (did you mean %s?)", what, s.Value, m)
			return
		}
		out = append(out, pf)
	})
	return out
}

func (b *builder) clauses(n *yaml.Node, what string) []string {
	var out []string
	b.d.Seq(n, what, func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, what)
		if !ok {
			return
		}
		if !IsClause(s.Value) {
			b.d.Errorf(s, "%s: %q is not in the clause catalogue (SPT-1..SPT-14, OSS-1, OSS-2.1..OSS-2.4, OSS-3..OSS-8)", what, s.Value)
			return
		}
		out = append(out, s.Value)
	})
	return out
}

func (b *builder) date(n *yaml.Node, what string) (calendar.Date, bool) {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return calendar.Date{}, false
	}
	dt, err := calendar.ParseDate(s.Value)
	if err != nil {
		b.d.Errorf(s, "%s: %v", what, err)
		return calendar.Date{}, false
	}
	return dt, true
}

// instant decodes an RFC 3339 time or a date. A date means the start of that day in
// the policy's zone, or with endOfDay the start of the next day (so "until: 2027-07-21"
// includes all of 21 July).
func (b *builder) instant(n *yaml.Node, what string, endOfDay bool) (time.Time, bool) {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
		return t, true
	}
	dt, err := calendar.ParseDate(s.Value)
	if err != nil {
		b.d.Errorf(s, "%s: invalid time %q (want YYYY-MM-DD or RFC 3339, e.g. 2026-09-03T08:00:00+01:00)", what, s.Value)
		return time.Time{}, false
	}
	if endOfDay {
		dt = dt.AddDays(1)
	}
	return dt.At(0, 0, b.p.loc), true
}

func (b *builder) calendar(n *yaml.Node) {
	var terms, holidays []calendar.Range
	var inset []calendar.Date
	ranges := func(v *yaml.Node, what string) []calendar.Range {
		var out []calendar.Range
		b.d.Seq(v, what, func(it *yaml.Node) {
			var r calendar.Range
			var startOK, endOK bool
			var endNode *yaml.Node
			seen := b.d.Mapping(it, what, yamlstrict.Fields{
				"name":  func(v *yaml.Node) { r.Name = b.d.String(v, what+" name") },
				"start": func(v *yaml.Node) { r.Start, startOK = b.date(v, what+" start") },
				"end":   func(v *yaml.Node) { endNode = v; r.End, endOK = b.date(v, what+" end") },
			})
			b.d.Require(it, seen, what, "name", "start", "end")
			if startOK && endOK && r.End.Compare(r.Start) < 0 {
				b.d.Errorf(endNode, "%s %q: end %s is before start %s", what, r.Name, r.End, r.Start)
				return
			}
			if startOK && endOK {
				out = append(out, r)
			}
		})
		return out
	}
	var icsNode, kwNode *yaml.Node
	b.d.Mapping(n, "calendar", yamlstrict.Fields{
		"terms":    func(v *yaml.Node) { terms = ranges(v, "term") },
		"holidays": func(v *yaml.Node) { holidays = ranges(v, "holiday") },
		"inset_days": func(v *yaml.Node) {
			b.d.Seq(v, "inset_days", func(it *yaml.Node) {
				if dt, ok := b.date(it, "inset_days"); ok {
					inset = append(inset, dt)
				}
			})
		},
		"ics":          func(v *yaml.Node) { icsNode = v },
		"ics_keywords": func(v *yaml.Node) { kwNode = v },
	})
	kw := calendar.DefaultKeywords()
	if kwNode != nil {
		if icsNode == nil {
			b.d.Errorf(kwNode, "calendar ics_keywords: only used with calendar ics")
		}
		list := func(v *yaml.Node, what string) []string {
			out := b.nonEmpty(v, what)
			if len(out) == 0 {
				b.d.Errorf(v, "%s: give at least one keyword", what)
			}
			return out
		}
		b.d.Mapping(kwNode, "calendar ics_keywords", yamlstrict.Fields{
			"term":    func(v *yaml.Node) { kw.Term = list(v, "calendar ics_keywords term") },
			"holiday": func(v *yaml.Node) { kw.Holiday = list(v, "calendar ics_keywords holiday") },
			"inset":   func(v *yaml.Node) { kw.Inset = list(v, "calendar ics_keywords inset") },
		})
	}
	if icsNode != nil {
		t, h, in := b.ics(icsNode, kw)
		terms, holidays, inset = append(terms, t...), append(holidays, h...), append(inset, in...)
	}
	b.p.cal = calendar.New(terms, holidays, inset)
}

// ics imports the terms, holidays and INSET days of an iCalendar file.
func (b *builder) ics(n *yaml.Node, kw calendar.Keywords) (terms, holidays []calendar.Range, inset []calendar.Date) {
	s, ok := b.d.Scalar(n, "calendar ics")
	if !ok {
		return nil, nil, nil
	}
	if b.read == nil {
		b.d.Errorf(s, "calendar ics: %q: this policy is not read from a file, so it cannot name one", s.Value)
		return nil, nil, nil
	}
	data, err := b.read(s.Value)
	if err != nil {
		b.d.Errorf(s, "calendar ics: %v", err)
		return nil, nil, nil
	}
	events, err := calendar.ParseICS(data)
	if err != nil {
		b.d.Errorf(s, "calendar ics: %s: %v", s.Value, err)
		return nil, nil, nil
	}
	terms, holidays, inset, ignored := calendar.FromEvents(events, kw, b.p.loc)
	if len(terms) == 0 {
		b.d.Errorf(s, "calendar ics: %s: no event is a term (no SUMMARY matches the term keywords %q)", s.Value, kw.Term)
	}
	for _, e := range ignored {
		b.p.warnings = append(b.p.warnings, Warning{Pos: pos(s), Msg: fmt.Sprintf(
			"calendar ics: %s:%d: event %q matches no term, holiday or INSET keyword and is ignored", s.Value, e.Line, e.Summary)})
	}
	return terms, holidays, inset
}

func (b *builder) zones(n *yaml.Node) {
	if yamlstrict.IsNull(n) {
		b.d.Errorf(n, "zones: at least one zone is required")
		return
	}
	first := map[string]int{}
	b.d.Seq(n, "zones", func(it *yaml.Node) {
		z := Zone{Pos: pos(it)}
		var nameNode *yaml.Node
		seen := b.d.Mapping(it, "zone", yamlstrict.Fields{
			"name": func(v *yaml.Node) { nameNode = v; z.Name = b.name(v, "zone name") },
			"type": func(v *yaml.Node) {
				z.Type = b.oneOf(v, "zone type", ZoneTypes[:len(ZoneTypes)-1])
			},
			"vlans":       func(v *yaml.Node) { z.VLANs = b.vlans(v, "zone vlans") },
			"subnets":     func(v *yaml.Node) { z.Subnets = b.subnets(v, "zone subnets") },
			"ssids":       func(v *yaml.Node) { z.SSIDs = b.ssids(v) },
			"aps":         func(v *yaml.Node) { z.APs = b.aps(v) },
			"circuit_ids": func(v *yaml.Node) { z.CircuitIDs = b.nonEmpty(v, "zone circuit_ids") },
			"remote_ids":  func(v *yaml.Node) { z.RemoteIDs = b.nonEmpty(v, "zone remote_ids") },
		})
		b.d.Require(it, seen, "zone", "name", "type")
		if z.Name != "" {
			if line, dup := first[z.Name]; dup {
				b.d.Errorf(nameNode, "zone name %q is already used by the zone at line %d", z.Name, line)
				return
			}
			first[z.Name] = nameNode.Line
		}
		criteria := 0
		for _, k := range []string{"vlans", "subnets", "ssids", "aps", "circuit_ids", "remote_ids"} {
			if _, ok := seen[k]; ok {
				criteria++
			}
		}
		if criteria == 0 && b.d.Resolve(it).Kind == yaml.MappingNode {
			b.d.Errorf(it, "zone %q: needs at least one of vlans, subnets, ssids, aps, circuit_ids, remote_ids", z.Name)
		}
		if z.Name != "" { // even when invalid, so rules naming it do not cascade errors
			b.p.zones = append(b.p.zones, z)
			b.p.zoneType[z.Name] = z.Type
		}
	})
	if yn := b.d.Resolve(n); yn != nil && yn.Kind == yaml.SequenceNode && len(yn.Content) == 0 {
		b.d.Errorf(yn, "zones: at least one zone is required")
	}
}

func (b *builder) ssids(n *yaml.Node) []string {
	var out []string
	b.d.Seq(n, "zone ssids", func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, "zone ssids")
		if !ok {
			return
		}
		if len(s.Value) == 0 || len(s.Value) > 32 {
			b.d.Errorf(s, "zone ssids: SSID %q must be 1 to 32 bytes", s.Value)
			return
		}
		out = append(out, s.Value)
	})
	return out
}

var macGlobRE = regexp.MustCompile(`^[0-9A-Fa-f*?]{1,2}([:-][0-9A-Fa-f*?]{1,2}){0,5}\*?$|^\*$`)

func (b *builder) aps(n *yaml.Node) []string {
	var out []string
	b.d.Seq(n, "zone aps", func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, "zone aps")
		if !ok {
			return
		}
		v := s.Value
		if _, err := path.Match(v, ""); err != nil || v == "" {
			b.d.Errorf(s, "zone aps: %q is not a valid name or MAC glob", v)
			return
		}
		if strings.Count(v, ":") >= 2 && !macGlobRE.MatchString(v) {
			b.d.Errorf(s, "zone aps: %q looks like a MAC address but is not a valid MAC glob (e.g. 24:5a:4c:*)", v)
			return
		}
		v = strings.ToLower(v)
		if strings.Count(v, "-") >= 2 && macGlobRE.MatchString(v) {
			v = strings.ReplaceAll(v, "-", ":") // 24-5a-4c-* is the MAC glob 24:5a:4c:*
		}
		out = append(out, v)
	})
	return out
}

func (b *builder) nonEmpty(n *yaml.Node, what string) []string {
	var out []string
	b.d.Seq(n, what, func(it *yaml.Node) {
		s, ok := b.d.Scalar(it, what)
		if !ok {
			return
		}
		if strings.TrimSpace(s.Value) == "" {
			b.d.Errorf(s, "%s: must not be empty", what)
			return
		}
		out = append(out, s.Value)
	})
	return out
}

func (b *builder) roles(n *yaml.Node) {
	b.d.Seq(n, "roles", func(it *yaml.Node) {
		r := RoleMapping{Pos: pos(it)}
		seen := b.d.Mapping(it, "role mapping", yamlstrict.Fields{
			"role":    func(v *yaml.Node) { r.Role = b.oneOf(v, "role", Roles) },
			"vlans":   func(v *yaml.Node) { r.VLANs = b.vlans(v, "role vlans") },
			"subnets": func(v *yaml.Node) { r.Subnets = b.subnets(v, "role subnets") },
		})
		b.d.Require(it, seen, "role mapping", "role")
		_, hv := seen["vlans"]
		_, hs := seen["subnets"]
		if !hv && !hs && b.d.Resolve(it).Kind == yaml.MappingNode {
			b.d.Errorf(it, "role mapping: needs vlans or subnets")
		}
		if r.Role != "" {
			b.p.roles = append(b.p.roles, r)
		}
	})
}

// NormalizeMAC returns mac in lower-case colon form. It accepts colons, hyphens,
// Cisco dots (aabb.ccdd.eeff) or bare hex.
func NormalizeMAC(mac string) (string, error) {
	hex := make([]byte, 0, 12)
	for i := 0; i < len(mac); i++ {
		c := mac[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		case c == ':' || c == '-' || c == '.':
		default:
			return "", fmt.Errorf("invalid MAC address %q", mac)
		}
	}
	if len(hex) != 12 {
		return "", fmt.Errorf("invalid MAC address %q", mac)
	}
	out := make([]byte, 0, 17)
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[i], hex[i+1])
	}
	return string(out), nil
}

func (b *builder) mac(n *yaml.Node, what string) string {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return ""
	}
	m, err := NormalizeMAC(s.Value)
	if err != nil {
		b.d.Errorf(s, "%s: %v (want e.g. aa:bb:cc:dd:ee:ff)", what, err)
		return ""
	}
	return m
}

func (b *builder) register(n *yaml.Node) {
	first := map[string]int{}
	b.d.Seq(n, "register", func(it *yaml.Node) {
		e := RegisterEntry{Managed: true, Pos: pos(it)}
		var macNode *yaml.Node
		seen := b.d.Mapping(it, "register entry", yamlstrict.Fields{
			"mac":       func(v *yaml.Node) { macNode = v; e.MAC = b.mac(v, "register mac") },
			"role":      func(v *yaml.Node) { e.Role = b.oneOf(v, "register role", Roles) },
			"owner":     func(v *yaml.Node) { e.Owner = b.d.String(v, "register owner") },
			"asset_tag": func(v *yaml.Node) { e.AssetTag = b.d.String(v, "register asset_tag") },
			"kind":      func(v *yaml.Node) { e.Kind = b.oneOf(v, "register kind", Kinds) },
			"managed": func(v *yaml.Node) {
				if m, ok := b.d.Bool(v, "register managed"); ok {
					e.Managed = m
				}
			},
		})
		b.d.Require(it, seen, "register entry", "mac")
		if e.MAC == "" {
			return
		}
		if line, dup := first[e.MAC]; dup {
			b.d.Errorf(macNode, "register: MAC %s is already listed at line %d", e.MAC, line)
			return
		}
		first[e.MAC] = macNode.Line
		b.p.register[e.MAC] = e
		b.p.regOrder = append(b.p.regOrder, e.MAC)
	})
}

var weekdayNames = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

var hhmmRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// clock decodes "HH:MM" (00:00 to 23:59; "24:00" too when allow24) into minutes.
func (b *builder) clock(n *yaml.Node, what string, allow24 bool) (int, bool) {
	s, ok := b.d.Scalar(n, what)
	if !ok {
		return 0, false
	}
	if allow24 && s.Value == "24:00" {
		return 24 * 60, true
	}
	m := hhmmRE.FindStringSubmatch(s.Value)
	if m == nil {
		b.d.Errorf(s, "%s: invalid time %q (want HH:MM, 24-hour, quoted, e.g. \"08:30\")", what, s.Value)
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return h*60 + mi, true
}

func (b *builder) schedules(n *yaml.Node) {
	b.schedIdx = map[string]int{}
	b.d.Seq(n, "schedules", func(it *yaml.Node) {
		s := Schedule{Pos: pos(it)}
		var nameNode, toNode, daysNode *yaml.Node
		var fromOK, toOK bool
		seen := b.d.Mapping(it, "schedule", yamlstrict.Fields{
			"name": func(v *yaml.Node) { nameNode = v; s.Name = b.name(v, "schedule name") },
			"days": func(v *yaml.Node) { daysNode = v; b.days(v, &s) },
			"from": func(v *yaml.Node) { s.From, fromOK = b.clock(v, "schedule from", false) },
			"to":   func(v *yaml.Node) { toNode = v; s.To, toOK = b.clock(v, "schedule to", true) },
		})
		b.d.Require(it, seen, "schedule", "name", "days", "from", "to")
		if fromOK && toOK && s.To <= s.From {
			b.d.Errorf(toNode, "schedule %q: to (%02d:%02d) must be after from (%02d:%02d); windows past midnight are two schedules",
				s.Name, s.To/60, s.To%60, s.From/60, s.From%60)
		}
		if s.Name == "" {
			return
		}
		// An invalid schedule is still recorded by name, so rules naming it do not
		// cascade errors (the policy is not used when any error was recorded).
		if i, dup := b.schedIdx[s.Name]; dup {
			b.d.Errorf(nameNode, "schedule name %q is already used at line %d", s.Name, b.p.schedules[i].Pos.Line)
			return
		}
		if s.Days == DaysSchoolDays || s.Days == DaysStaffDays {
			b.schoolDay = append(b.schoolDay, daysNode)
		}
		b.schedIdx[s.Name] = len(b.p.schedules)
		b.p.schedules = append(b.p.schedules, s)
	})
	if len(b.schoolDay) > 0 && len(b.p.cal.Terms()) == 0 {
		for _, dn := range b.schoolDay {
			b.d.Errorf(dn, "schedule days: %s needs calendar terms (none are configured)", dn.Value)
		}
	}
}

func (b *builder) days(n *yaml.Node, s *Schedule) {
	n = b.d.Resolve(n)
	if n != nil && n.Kind == yaml.SequenceNode {
		b.d.Seq(n, "schedule days", func(it *yaml.Node) {
			v, ok := b.d.Scalar(it, "schedule days")
			if !ok {
				return
			}
			w, known := weekdayNames[v.Value]
			if !known {
				b.d.Errorf(v, "schedule days: unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", v.Value)
				return
			}
			if !slices.Contains(s.Weekdays, w) {
				s.Weekdays = append(s.Weekdays, w)
			}
		})
		if len(n.Content) == 0 {
			b.d.Errorf(n, "schedule days: the list of days is empty")
		}
		if len(s.Weekdays) > 0 {
			s.Days = DaysList
		}
		return
	}
	s.Days = b.oneOf(n, "schedule days", []string{DaysSchoolDays, DaysStaffDays, DaysWeekdays, DaysEveryDay})
}

func (b *builder) then(n *yaml.Node, what string, t *Then) (ok bool) {
	errs := b.d.Len()
	var sevSet bool
	seen := b.d.Mapping(n, what, yamlstrict.Fields{
		"action":   func(v *yaml.Node) { t.Action = b.oneOf(v, what+" action", Actions) },
		"severity": func(v *yaml.Node) { sevSet = true; t.Severity = b.oneOf(v, what+" severity", Severities) },
		"clauses":  func(v *yaml.Node) { t.Clauses = b.clauses(v, what+" clauses") },
		"message":  func(v *yaml.Node) { t.Message = strings.TrimSpace(b.d.String(v, what+" message")) },
		"notify":   func(v *yaml.Node) { t.Notify = b.listOf(v, what+" notify", Recipients) },
	})
	b.d.Require(n, seen, what, "action")
	if !sevSet {
		t.Severity = "info"
		if t.Action == ActionAlert || t.Action == ActionBlock {
			t.Severity = "medium"
		}
	}
	if t.Action == ActionAlert || t.Action == ActionBlock {
		if _, has := seen["clauses"]; !has {
			b.d.Errorf(n, "%s: an %s must cite the policy clauses it enforces (clauses: [...])", what, t.Action)
		}
		if t.Message == "" {
			b.d.Errorf(n, "%s: an %s needs a message a DSL can read", what, t.Action)
		}
	}
	if _, has := seen["notify"]; has && t.Action == ActionAllow {
		b.d.Errorf(seen["notify"], "%s: notify is for alert and block; an allow tells nobody", what)
	}
	if t.Clauses == nil {
		t.Clauses = []string{}
	}
	return b.d.Len() == errs
}

func (b *builder) rules(n *yaml.Node) {
	if yamlstrict.IsNull(n) {
		b.d.Errorf(n, "rules: at least one rule is required")
		return
	}
	used := map[int]bool{}
	firstLine := map[string]int{}
	b.ruleLine = firstLine
	b.d.Seq(n, "rules", func(it *yaml.Node) {
		errs := b.d.Len()
		r := compiledRule{Rule: Rule{Pos: pos(it)}, sched: -1, notSched: -1}
		var nameNode *yaml.Node
		seen := b.d.Mapping(it, "rule", yamlstrict.Fields{
			"name": func(v *yaml.Node) { nameNode = v; r.Name = b.name(v, "rule name") },
			"when": func(v *yaml.Node) { b.when(v, &r) },
			"then": func(v *yaml.Node) { b.then(v, "rule then", &r.Then) },
		})
		b.d.Require(it, seen, "rule", "name", "then")
		if r.Name == "default" {
			b.d.Errorf(nameNode, "rule name \"default\" is reserved for the default decision")
		}
		if line, dup := firstLine[r.Name]; dup && r.Name != "" {
			b.d.Errorf(nameNode, "rule name %q is already used at line %d", r.Name, line)
		}
		if r.Name != "" {
			firstLine[r.Name] = nameNode.Line
		}
		if b.d.Len() != errs {
			return
		}
		r.decision = Decision{
			Action:   r.Then.Action,
			Severity: r.Then.Severity,
			Rule:     r.Name,
			Clauses:  r.Then.Clauses,
			Reason:   reason("Rule "+r.Name, ruleMessage(r.Then), r.Then.Clauses),
			Notify:   r.Then.Notify,
		}
		for _, s := range []int{r.sched, r.notSched} {
			if s >= 0 && !used[s] {
				used[s] = true
				b.p.edgeScheds = append(b.p.edgeScheds, s)
			}
		}
		b.p.rules = append(b.p.rules, r)
	})
	if yn := b.d.Resolve(n); yn != nil && yn.Kind == yaml.SequenceNode && len(yn.Content) == 0 {
		b.d.Errorf(yn, "rules: at least one rule is required")
	}
	slices.Sort(b.p.edgeScheds)
}

func ruleMessage(t Then) string {
	if t.Message != "" {
		return t.Message
	}
	return "this device is allowed here"
}

func (b *builder) when(n *yaml.Node, r *compiledRule) {
	w := &r.When
	zoneNames := b.zoneNameList
	sched := func(v *yaml.Node, what string) (string, int) {
		s, ok := b.d.Scalar(v, what)
		if !ok {
			return "", -1
		}
		i, known := b.schedIdx[s.Value]
		if !known {
			b.d.Errorf(s, "%s: no schedule is named %q", what, s.Value)
			return "", -1
		}
		return s.Value, i
	}
	roles := append(slices.Clone(Roles), Unknown)
	b.d.Mapping(n, "rule when", yamlstrict.Fields{
		"roles":          func(v *yaml.Node) { w.Roles = b.listOf(v, "when roles", roles) },
		"not_roles":      func(v *yaml.Node) { w.NotRoles = b.listOf(v, "when not_roles", roles) },
		"kinds":          func(v *yaml.Node) { w.Kinds = b.listOf(v, "when kinds", Kinds) },
		"not_kinds":      func(v *yaml.Node) { w.NotKinds = b.listOf(v, "when not_kinds", Kinds) },
		"zones":          func(v *yaml.Node) { w.Zones = zoneNames(v, "when zones") },
		"not_zones":      func(v *yaml.Node) { w.NotZones = zoneNames(v, "when not_zones") },
		"zone_types":     func(v *yaml.Node) { w.ZoneTypes = b.listOf(v, "when zone_types", ZoneTypes) },
		"not_zone_types": func(v *yaml.Node) { w.NotZoneTypes = b.listOf(v, "when not_zone_types", ZoneTypes) },
		"schedule":       func(v *yaml.Node) { w.Schedule, r.sched = sched(v, "when schedule") },
		"kind_mismatch": func(v *yaml.Node) {
			if m, ok := b.d.Bool(v, "when kind_mismatch"); ok {
				if !m {
					b.d.Errorf(v, "when kind_mismatch: only true is meaningful (leave it out otherwise)")
				}
				w.KindMismatch = m
			}
		},
		"unfiltered": func(v *yaml.Node) {
			if m, ok := b.d.Bool(v, "when unfiltered"); ok {
				if !m {
					b.d.Errorf(v, "when unfiltered: only true is meaningful (leave it out otherwise)")
				}
				w.Unfiltered = m
			}
		},
		"not_schedule": func(v *yaml.Node) { w.NotSchedule, r.notSched = sched(v, "when not_schedule") },
		"managed": func(v *yaml.Node) {
			if m, ok := b.d.Bool(v, "when managed"); ok {
				w.Managed = &m
			}
		},
	})
}

func (b *builder) defaults(n *yaml.Node) {
	t := Then{Action: ActionAllow, Severity: "info", Clauses: []string{}, Message: "No rule applies"}
	if !yamlstrict.IsNull(b.d.Resolve(n)) {
		t = Then{}
		if !b.then(n, "default", &t) {
			return
		}
		if t.Message == "" {
			t.Message = "No rule applies"
		}
	}
	b.p.def = Decision{
		Action:   t.Action,
		Severity: t.Severity,
		Rule:     "default",
		Clauses:  t.Clauses,
		Reason:   reason("Default", t.Message, t.Clauses),
		Notify:   t.Notify,
	}
}

func (b *builder) exemptions(n *yaml.Node) {
	firstLine := map[string]int{}
	b.d.Seq(n, "exemptions", func(it *yaml.Node) {
		errs := b.d.Len()
		e := Exemption{Pos: pos(it)}
		var idNode, untilNode *yaml.Node
		var fromOK, untilOK bool
		seen := b.d.Mapping(it, "exemption", yamlstrict.Fields{
			"id":     func(v *yaml.Node) { idNode = v; e.ID = b.name(v, "exemption id") },
			"mac":    func(v *yaml.Node) { e.MAC = b.mac(v, "exemption mac") },
			"person": func(v *yaml.Node) { e.Person = strings.TrimSpace(b.d.String(v, "exemption person")) },
			"zones": func(v *yaml.Node) {
				b.d.Seq(v, "exemption zones", func(z *yaml.Node) {
					s, ok := b.d.Scalar(z, "exemption zones")
					if !ok {
						return
					}
					if _, known := b.p.zoneType[s.Value]; !known {
						b.d.Errorf(s, "exemption zones: no zone is named %q", s.Value)
						return
					}
					e.Zones = append(e.Zones, s.Value)
				})
			},
			"zone_types": func(v *yaml.Node) { e.ZoneTypes = b.listOf(v, "exemption zone_types", ZoneTypes) },
			"from":       func(v *yaml.Node) { e.From, fromOK = b.instant(v, "exemption from", false) },
			"until":      func(v *yaml.Node) { untilNode = v; e.Until, untilOK = b.instant(v, "exemption until", true) },
			"reason":     func(v *yaml.Node) { e.Reason = b.oneOf(v, "exemption reason", ExemptionReasons) },
			"approver":   func(v *yaml.Node) { e.Approver = strings.TrimSpace(b.d.String(v, "exemption approver")) },
			"clauses":    func(v *yaml.Node) { e.Clauses = b.clauses(v, "exemption clauses") },
			"created": func(v *yaml.Node) {
				if t, ok := b.instant(v, "exemption created", false); ok {
					e.Created = t
				}
			},
		})
		b.d.Require(it, seen, "exemption", "id", "from", "until", "reason", "approver")
		if b.d.Resolve(it) == nil || b.d.Resolve(it).Kind != yaml.MappingNode {
			return
		}
		_, hasMAC := seen["mac"]
		_, hasPerson := seen["person"]
		if hasMAC == hasPerson {
			b.d.Errorf(it, "exemption %q: give exactly one of mac or person", e.ID)
		}
		_, hasZones := seen["zones"]
		_, hasTypes := seen["zone_types"]
		if !hasZones && !hasTypes {
			b.d.Errorf(it, "exemption %q: give the zones or zone_types it covers", e.ID)
		}
		if _, ok := seen["approver"]; ok && e.Approver == "" {
			b.d.Errorf(it, "exemption %q: approver must name who approved it", e.ID)
		}
		if fromOK && untilOK && !e.Until.After(e.From) {
			b.d.Errorf(untilNode, "exemption %q: until must be after from", e.ID)
		}
		if line, dup := firstLine[e.ID]; dup && e.ID != "" {
			b.d.Errorf(idNode, "exemption id %q is already used at line %d", e.ID, line)
		}
		if e.ID != "" {
			firstLine[e.ID] = idNode.Line
		}
		if b.d.Len() != errs {
			return
		}
		i := len(b.p.exemptions)
		b.p.exemptions = append(b.p.exemptions, e)
		if e.MAC != "" {
			b.p.exByMAC[e.MAC] = append(b.p.exByMAC[e.MAC], i)
		} else {
			k := strings.ToLower(e.Person)
			b.p.exByPerson[k] = append(b.p.exByPerson[k], i)
		}
	})
}
