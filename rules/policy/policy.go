package policy

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
)

// Zone is a named place and the network facts that put a device in it.
type Zone struct {
	Name    string
	Type    string         // one of ZoneTypes, never "unknown"
	VLANs   []uint16       // 802.1Q VLAN IDs; 0 means untagged
	Subnets []netip.Prefix // masked prefixes
	// Criteria from the access-point and option-82 feeds: ZoneForSighting checks each
	// one the sighting carries; ZoneFor (VLAN and address only) never has them.
	SSIDs      []string
	APs        []string // AP names or MAC address globs (path.Match syntax), lower case
	CircuitIDs []string // DHCP option 82 circuit IDs
	RemoteIDs  []string // DHCP option 82 remote IDs
	Pos        Pos
}

// RoleMapping gives the role of devices on a network when the register does not.
type RoleMapping struct {
	Role    string
	VLANs   []uint16
	Subnets []netip.Prefix
	Pos     Pos
}

// Day sets a schedule may use.
const (
	DaysSchoolDays = "school-days" // weekdays in term, not holidays or INSET days
	DaysStaffDays  = "staff-days"  // school days and INSET days: staff on site (SPT-3 "working hours")
	DaysWeekdays   = "weekdays"    // Monday to Friday, all year
	DaysEveryDay   = "every-day"
	DaysList       = "list" // the days named in Schedule.Weekdays
)

// Schedule is a daily window of local time on some days.
type Schedule struct {
	Name     string
	Days     string         // DaysSchoolDays, DaysWeekdays, DaysEveryDay or DaysList
	Weekdays []time.Weekday // when Days is DaysList
	From     int            // minutes after local midnight, included
	To       int            // minutes after local midnight, excluded; To > From
	Pos      Pos
}

// When is a rule's condition: every non-empty field must hold.
type When struct {
	Roles        []string
	NotRoles     []string
	Kinds        []string
	NotKinds     []string
	Managed      *bool
	Zones        []string
	NotZones     []string
	ZoneTypes    []string
	NotZoneTypes []string
	Schedule     string
	NotSchedule  string
	// KindMismatch: the device is on the register with a kind, and the fingerprint
	// says it is a different (known) kind (SPT-10: a work laptop now looks like a
	// games console).
	KindMismatch bool
	// Unfiltered: the device was seen reaching the internet around the school's
	// web filter (Input.Unfiltered; OSS-2.1: devices "that can be connected to the
	// internet without the protection of the ... web-filtering systems").
	Unfiltered bool
}

// Then is what a rule (or the default) decides.
type Then struct {
	Action   string
	Severity string
	Clauses  []string
	Message  string
	Notify   []string // Recipients to tell at once
}

// Rule is one first-match policy rule.
type Rule struct {
	Name string
	When When
	Then Then
	Pos  Pos
}

// Exemption lets one device (by MAC) or one person's registered devices (by register
// owner) be where a rule would otherwise raise a breach, for a time.
type Exemption struct {
	ID        string
	MAC       string // lower-case colon form, "" when Person is set
	Person    string // matches RegisterEntry.Owner (case-insensitive)
	Zones     []string
	ZoneTypes []string
	From      time.Time // active from (included)
	Until     time.Time // active until (excluded)
	Reason    string    // one of ExemptionReasons
	Approver  string
	Clauses   []string  // the clauses that allow it (SPT-5, SPT-7, OSS-5, ...); added to the decision's
	Created   time.Time // zero when not recorded
	Pos       Pos
}

// Mode is a time-boxed override a school declares: an exam, a lockdown, an emergency.
//
//   - exam: every personal (unmanaged) device in the mode's zones is a critical alert
//     (OSS-5: possession is reported to the exam board), whatever the rules say and
//     whatever the schedule. Only Roles, when given, narrows it.
//   - lockdown: devices of Roles (default staff-direct, staff-office, slt,
//     key-personnel) are allowed in the mode's zones, even where a rule or an exam mode
//     would raise a breach: in a lockdown staff need their phones (safety overrides
//     SPT-3). Pupils' devices are still reported.
//   - emergency: devices of Roles (default every role but pupil) are allowed, so adults
//     can call for help (SPT-4); the alert is replaced by an allow naming the mode,
//     for the incident record.
//
// No zones and no zone types means everywhere (not allowed for exam). Exemptions still
// apply on top of an exam mode when they cover the zone.
type Mode struct {
	Name       string
	Kind       string // one of ModeKinds
	Zones      []string
	ZoneTypes  []string
	Roles      []string  // who it applies to ("unknown" allowed); defaults per kind
	From       time.Time // included
	Until      time.Time // excluded
	Reason     string
	DeclaredBy string
	Clauses    []string // cited by its decisions; defaults per kind
	Notify     []string // exam only; default dsl, exams-officer
	Pos        Pos
}

// ActiveAt reports whether the mode's window contains at.
func (m *Mode) ActiveAt(at time.Time) bool { return !at.Before(m.From) && at.Before(m.Until) }

func (m *Mode) covers(zone, zoneType, role string) bool {
	if len(m.Zones)+len(m.ZoneTypes) > 0 &&
		!(zone != "" && slices.Contains(m.Zones, zone)) && !slices.Contains(m.ZoneTypes, zoneType) {
		return false
	}
	return len(m.Roles) == 0 || slices.Contains(m.Roles, role)
}

// ActiveAt reports whether the exemption's window contains at.
func (e *Exemption) ActiveAt(at time.Time) bool { return !at.Before(e.From) && at.Before(e.Until) }

// Policy is a validated, precomputed policy. It is immutable and safe for concurrent
// use; slices it returns are copies.
type Policy struct {
	loc        *time.Location
	zones      []Zone
	zoneType   map[string]string
	roles      []RoleMapping
	register   map[string]RegisterEntry
	regOrder   []string
	schedules  []Schedule
	cal        *calendar.Calendar
	rules      []compiledRule
	def        Decision
	exemptions []Exemption
	exDecision [][]Decision // [exemption][rule index, then default]: the allow it turns a breach into
	exByMAC    map[string][]int
	exByPerson map[string][]int
	edgeScheds []int // schedules some rule uses
	modes      []Mode
	modeDec    []Decision // the decision each mode makes
	warnings   []Warning
}

type compiledRule struct {
	Rule
	sched    int // index into schedules, -1 for none
	notSched int
	decision Decision
}

// Modes returns the modes.
func (p *Policy) Modes() []Mode { return slices.Clone(p.modes) }

// Warnings returns what is valid but probably not meant: zones that can match the
// same devices, rules no device can reach, calendar events no keyword recognised.
func (p *Policy) Warnings() []Warning { return slices.Clone(p.warnings) }

// Location returns the school's time zone, in which schedules and dates are read.
func (p *Policy) Location() *time.Location { return p.loc }

// Zones returns the zones in match order.
func (p *Policy) Zones() []Zone { return slices.Clone(p.zones) }

// Rules returns the rules in match order.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.Rule
	}
	return out
}

// Schedules returns the schedules.
func (p *Policy) Schedules() []Schedule { return slices.Clone(p.schedules) }

// Exemptions returns the exemptions.
func (p *Policy) Exemptions() []Exemption { return slices.Clone(p.exemptions) }

// Calendar returns the school calendar.
func (p *Policy) Calendar() *calendar.Calendar { return p.cal }

// RegisterEntries returns the register in configuration order.
func (p *Policy) RegisterEntries() []RegisterEntry {
	out := make([]RegisterEntry, len(p.regOrder))
	for i, mac := range p.regOrder {
		out[i] = p.register[mac]
	}
	return out
}

// ZoneType returns the type of the zone called name, or "unknown".
func (p *Policy) ZoneType(name string) string {
	if t, ok := p.zoneType[name]; ok {
		return t
	}
	return Unknown
}

// ZoneFor returns the first zone whose VLANs contain vlan and/or whose subnets contain
// ip (a zone listing both needs both), or "", "unknown" when none does. It is
// ZoneForSighting with only the VLAN and the address known.
func (p *Policy) ZoneFor(vlan uint16, ip netip.Addr) (name, zoneType string) {
	ip = ip.Unmap()
	for i := range p.zones {
		z := &p.zones[i]
		if netMatch(z.VLANs, z.Subnets, vlan, ip) {
			return z.Name, z.Type
		}
	}
	return "", Unknown
}

// ZoneForSighting returns the first zone that matches what the network says about a
// device, or "", "unknown" when none does. A zone matches when every criterion it
// lists holds and at least one was checked: its VLANs and subnets always (as for
// ZoneFor), its SSIDs, AP globs (against the AP name, case-insensitive, and the AP's
// MAC) and option 82 circuit and remote IDs only when the sighting carries them.
func (p *Policy) ZoneForSighting(s Sighting) (name, zoneType string) {
	s.IP = s.IP.Unmap()
	ap := strings.ToLower(s.AP)
	apMAC := ""
	if s.APMAC != "" {
		apMAC, _ = NormalizeMAC(s.APMAC)
	}
	for i := range p.zones {
		z := &p.zones[i]
		if zoneMatch(z, &s, ap, apMAC) {
			return z.Name, z.Type
		}
	}
	return "", Unknown
}

func zoneMatch(z *Zone, s *Sighting, ap, apMAC string) bool {
	checked := false
	if len(z.VLANs) > 0 {
		if !slices.Contains(z.VLANs, s.VLAN) {
			return false
		}
		checked = true
	}
	if len(z.Subnets) > 0 {
		if !s.IP.IsValid() || !slices.ContainsFunc(z.Subnets, func(p netip.Prefix) bool { return p.Contains(s.IP) }) {
			return false
		}
		checked = true
	}
	if len(z.SSIDs) > 0 && s.SSID != "" {
		if !slices.Contains(z.SSIDs, s.SSID) {
			return false
		}
		checked = true
	}
	if len(z.APs) > 0 && (ap != "" || apMAC != "") {
		if !slices.ContainsFunc(z.APs, func(g string) bool { return globMatch(g, ap) || globMatch(g, apMAC) }) {
			return false
		}
		checked = true
	}
	if len(z.CircuitIDs) > 0 && s.CircuitID != "" {
		if !slices.Contains(z.CircuitIDs, s.CircuitID) {
			return false
		}
		checked = true
	}
	if len(z.RemoteIDs) > 0 && s.RemoteID != "" {
		if !slices.Contains(z.RemoteIDs, s.RemoteID) {
			return false
		}
		checked = true
	}
	return checked
}

func globMatch(glob, s string) bool {
	if s == "" {
		return false
	}
	ok, _ := path.Match(glob, s)
	return ok
}

// RoleForNetwork returns the role implied by the network a device joined (the first
// role mapping matching, as for zones), or "" when none does.
func (p *Policy) RoleForNetwork(vlan uint16, ip netip.Addr) string {
	ip = ip.Unmap()
	for i := range p.roles {
		r := &p.roles[i]
		if netMatch(r.VLANs, r.Subnets, vlan, ip) {
			return r.Role
		}
	}
	return ""
}

func netMatch(vlans []uint16, subnets []netip.Prefix, vlan uint16, ip netip.Addr) bool {
	if len(vlans) == 0 && len(subnets) == 0 {
		return false
	}
	if len(vlans) > 0 && !slices.Contains(vlans, vlan) {
		return false
	}
	if len(subnets) > 0 {
		if !ip.IsValid() {
			return false
		}
		for _, s := range subnets {
			if s.Contains(ip) {
				return true
			}
		}
		return false
	}
	return true
}

// Registered looks mac up in the school register. mac may be in any common form
// (aa:bb:.., AA-BB-.., aabb.ccdd.eeff).
func (p *Policy) Registered(mac string) (RegisterEntry, bool) {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return RegisterEntry{}, false
	}
	e, ok := p.register[m]
	return e, ok
}

// WithRegister returns a copy of p whose register also holds entries (from an Intune,
// Jamf or Google Admin import, or the demo's simulated devices). An entry replaces a
// configured one with the same MAC. Invalid entries are an error naming each.
func (p *Policy) WithRegister(entries []RegisterEntry) (*Policy, error) {
	q := *p
	q.register = make(map[string]RegisterEntry, len(p.register)+len(entries))
	for k, v := range p.register {
		q.register[k] = v
	}
	q.regOrder = slices.Clone(p.regOrder)
	var errs []string
	for i, e := range entries {
		m, err := NormalizeMAC(e.MAC)
		if err != nil {
			errs = append(errs, fmt.Sprintf("register entry %d: %v", i+1, err))
			continue
		}
		if e.Role != "" && !IsRole(e.Role) {
			errs = append(errs, fmt.Sprintf("register entry %d (%s): unknown role %q", i+1, m, e.Role))
			continue
		}
		if e.Kind != "" && !IsKind(e.Kind) {
			errs = append(errs, fmt.Sprintf("register entry %d (%s): unknown kind %q", i+1, m, e.Kind))
			continue
		}
		e.MAC = m
		if _, ok := q.register[m]; !ok {
			q.regOrder = append(q.regOrder, m)
		}
		q.register[m] = e
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("add to register: %s", strings.Join(errs, "; "))
	}
	return &q, nil
}

// localTime is the lazily computed local date and minute of an instant.
type localTime struct {
	done   bool
	date   calendar.Date
	day    int64
	minute int
}

func (p *Policy) local(at time.Time, lt *localTime) {
	if lt.done {
		return
	}
	t := at.In(p.loc)
	y, m, d := t.Date()
	h, mi, _ := t.Clock()
	lt.date = calendar.Date{Year: y, Month: m, Day: d}
	lt.day = lt.date.Days()
	lt.minute = h*60 + mi
	lt.done = true
}

func (p *Policy) dayActive(s *Schedule, date calendar.Date) bool {
	switch s.Days {
	case DaysEveryDay:
		return true
	case DaysWeekdays:
		w := date.Weekday()
		return w != time.Saturday && w != time.Sunday
	case DaysSchoolDays:
		return p.cal.IsSchoolDay(date)
	case DaysStaffDays:
		return p.cal.IsStaffDay(date)
	default:
		return slices.Contains(s.Weekdays, date.Weekday())
	}
}

// ScheduleActive reports whether the named schedule is active at at (false for an
// unknown name).
func (p *Policy) ScheduleActive(name string, at time.Time) bool {
	for i := range p.schedules {
		if p.schedules[i].Name == name {
			var lt localTime
			return p.scheduleActive(i, at, &lt)
		}
	}
	return false
}

func (p *Policy) scheduleActive(i int, at time.Time, lt *localTime) bool {
	s := &p.schedules[i]
	p.local(at, lt)
	if lt.minute < s.From || lt.minute >= s.To {
		return false
	}
	return p.dayActive(s, lt.date)
}

func (r *compiledRule) matches(p *Policy, in *Input, zoneType, role, kind string, at time.Time, lt *localTime) bool {
	w := &r.When
	if len(w.Roles) > 0 && !slices.Contains(w.Roles, role) {
		return false
	}
	if len(w.NotRoles) > 0 && slices.Contains(w.NotRoles, role) {
		return false
	}
	if len(w.Kinds) > 0 && !slices.Contains(w.Kinds, kind) {
		return false
	}
	if len(w.NotKinds) > 0 && slices.Contains(w.NotKinds, kind) {
		return false
	}
	if w.Managed != nil && *w.Managed != in.Managed {
		return false
	}
	if len(w.Zones) > 0 && !slices.Contains(w.Zones, in.Zone) {
		return false
	}
	if len(w.NotZones) > 0 && slices.Contains(w.NotZones, in.Zone) {
		return false
	}
	if len(w.ZoneTypes) > 0 && !slices.Contains(w.ZoneTypes, zoneType) {
		return false
	}
	if len(w.NotZoneTypes) > 0 && slices.Contains(w.NotZoneTypes, zoneType) {
		return false
	}
	if r.sched >= 0 && !p.scheduleActive(r.sched, at, lt) {
		return false
	}
	if r.notSched >= 0 && p.scheduleActive(r.notSched, at, lt) {
		return false
	}
	if w.Unfiltered && !in.Unfiltered {
		return false
	}
	if w.KindMismatch {
		reg, ok := p.register[in.MAC]
		if !ok || reg.Kind == "" || kind == Unknown || kind == reg.Kind {
			return false
		}
	}
	return true
}

// Evaluate decides about one device in one zone at one instant: the first rule whose
// condition holds decides, else the default. When that decision is a breach and an
// active exemption covers the device and zone, the decision is allow and names the
// exemption. The returned Clauses slice is shared: do not modify it.
func (p *Policy) Evaluate(in Input, at time.Time) Decision {
	zoneType := in.ZoneType
	if zoneType == "" {
		zoneType = p.ZoneType(in.Zone)
	}
	role := in.Role
	if role == "" {
		role = Unknown
	}
	kind := in.Kind
	if kind == "" {
		kind = Unknown
	}
	var lt localTime
	d, ri := p.def, len(p.rules)
	for i := range p.rules {
		r := &p.rules[i]
		if r.matches(p, &in, zoneType, role, kind, at, &lt) {
			d, ri = r.decision, i
			break
		}
	}
	if len(p.modes) > 0 {
		d, ri = p.applyModes(d, ri, &in, zoneType, role, at)
	}
	if !d.Breach() || len(p.exemptions) == 0 {
		return d
	}
	if ex := p.exemptionFor(&in, zoneType, at); ex >= 0 {
		return p.exDecision[ex][ri]
	}
	return d
}

// applyModes applies the active modes to a rule's decision: an exam mode first (it
// turns a personal device in its zones into a critical breach), then lockdown and
// emergency modes (they turn a breach of the roles they cover into allow). ri is the
// exemption column of the decision returned.
func (p *Policy) applyModes(d Decision, ri int, in *Input, zoneType, role string, at time.Time) (Decision, int) {
	base := len(p.rules) + 1
	for i := range p.modes {
		m := &p.modes[i]
		if m.Kind == ModeExam && !in.Managed && m.ActiveAt(at) && m.covers(in.Zone, zoneType, role) {
			d, ri = p.modeDec[i], base+i
			break
		}
	}
	if !d.Breach() {
		return d, ri
	}
	for i := range p.modes {
		m := &p.modes[i]
		if m.Kind != ModeExam && m.ActiveAt(at) && m.covers(in.Zone, zoneType, role) {
			return p.modeDec[i], ri
		}
	}
	return d, ri
}

// exemptionFor returns the index of the first active exemption covering the device
// and zone, or -1.
func (p *Policy) exemptionFor(in *Input, zoneType string, at time.Time) int {
	check := func(idx []int) int {
		for _, i := range idx {
			e := &p.exemptions[i]
			if !e.ActiveAt(at) {
				continue
			}
			if slices.Contains(e.Zones, in.Zone) && in.Zone != "" || slices.Contains(e.ZoneTypes, zoneType) {
				return i
			}
		}
		return -1
	}
	if i := check(p.exByMAC[in.MAC]); i >= 0 {
		return i
	}
	if len(p.exByPerson) > 0 {
		if reg, ok := p.register[in.MAC]; ok && reg.Owner != "" {
			return check(p.exByPerson[strings.ToLower(reg.Owner)])
		}
	}
	return -1
}

// precomputeExemptions builds, for every exemption, the decision it turns each
// rule's (and the default's) breach into, so Evaluate allocates nothing.
func (p *Policy) precomputeExemptions() {
	p.exDecision = make([][]Decision, len(p.exemptions))
	for i := range p.exemptions {
		row := make([]Decision, len(p.rules)+1)
		for j := range p.rules {
			if p.rules[j].decision.Breach() {
				row[j] = exempted(p.rules[j].decision, &p.exemptions[i], p.loc)
			}
		}
		if p.def.Breach() {
			row[len(p.rules)] = exempted(p.def, &p.exemptions[i], p.loc)
		}
		for j := range p.modes {
			row = append(row, Decision{})
			if p.modeDec[j].Breach() {
				row[len(row)-1] = exempted(p.modeDec[j], &p.exemptions[i], p.loc)
			}
		}
		p.exDecision[i] = row
	}
}

func exempted(d Decision, e *Exemption, loc *time.Location) Decision {
	who := e.Reason
	if e.Approver != "" {
		who += ", approved by " + e.Approver
	}
	until := e.Until.In(loc)
	var untilText string
	if until.Hour() == 0 && until.Minute() == 0 {
		untilText = until.AddDate(0, 0, -1).Format("2 January 2006")
	} else {
		untilText = until.Format("2 January 2006 15:04")
	}
	verb := "alert on"
	if d.Action == ActionBlock {
		verb = "block"
	}
	what := "rule"
	if d.Mode != "" {
		what = "mode"
	}
	reason := fmt.Sprintf("Exemption %s (%s, until %s) allows what %s %s would %s", e.ID, who, untilText, what, d.Rule, verb)
	clauses := d.Clauses
	for _, c := range e.Clauses {
		if !slices.Contains(clauses, c) {
			clauses = append(slices.Clip(clauses), c)
		}
	}
	if len(clauses) > 0 {
		reason += " (" + strings.Join(clauses, ", ") + ")"
	}
	return Decision{
		Action:    ActionAllow,
		Severity:  "info",
		Rule:      d.Rule,
		Clauses:   clauses,
		Reason:    reason + ".",
		Exemption: e.ID,
		Mode:      d.Mode,
	}
}

// reason builds the one-sentence Reason of a rule's decision.
func reason(prefix, message string, clauses []string) string {
	msg := strings.TrimSpace(message)
	msg = strings.TrimSuffix(msg, ".")
	s := prefix + ": " + msg
	if len(clauses) > 0 {
		s += " (" + strings.Join(clauses, ", ") + ")"
	} else if strings.HasSuffix(msg, "!") || strings.HasSuffix(msg, "?") {
		return s
	}
	return s + "."
}

// NextEdge returns the next instant strictly after after at which a decision could
// change with no new observation: the start or end of a schedule some rule uses, on a
// day that schedule is active, or the start or end of an exemption or a mode. It looks at most
// 400 days ahead for schedule edges and returns the zero time when there is none.
// Edges are computed in the policy's time zone, so 08:30 stays 08:30 local across
// clock changes.
func (p *Policy) NextEdge(after time.Time) time.Time {
	var best time.Time
	consider := func(t time.Time) {
		if t.After(after) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	for i := range p.exemptions {
		consider(p.exemptions[i].From)
		consider(p.exemptions[i].Until)
	}
	for i := range p.modes {
		consider(p.modes[i].From)
		consider(p.modes[i].Until)
	}
	if len(p.edgeScheds) == 0 {
		return best
	}
	start := calendar.DateOf(after.In(p.loc)).AddDays(-1)
	for n := 0; n <= 401; n++ {
		day := start.AddDays(n)
		if !best.IsZero() && !day.At(0, 0, p.loc).Add(-3*time.Hour).Before(best) {
			break // every edge on this day or later is after best
		}
		for _, si := range p.edgeScheds {
			s := &p.schedules[si]
			if !p.dayActive(s, day) {
				continue
			}
			consider(day.At(s.From/60, s.From%60, p.loc))
			consider(day.At(s.To/60, s.To%60, p.loc))
		}
	}
	return best
}

// WithExemptions returns a copy of p that also holds extra (the runtime exemptions
// register), appended after the configured ones: where two cover the same device and
// zone, a configured one is found first. Each is validated as the configuration's
// are: an ID that is a valid name and not already used, exactly one of MAC or
// Person, at least one zone (that exists) or zone type, From before Until, a reason
// from ExemptionReasons, an approver, and clause IDs from the catalogue. A MAC in
// any common form is stored lower-case colon form. Invalid exemptions are an error
// naming each by ID; p is never changed.
func (p *Policy) WithExemptions(extra []Exemption) (*Policy, error) {
	q := *p
	q.exemptions = slices.Clone(p.exemptions)
	used := make(map[string]bool, len(p.exemptions)+len(extra))
	for i := range p.exemptions {
		used[p.exemptions[i].ID] = true
	}
	var errs []string
	for i, e := range extra {
		name := fmt.Sprintf("exemption %q", e.ID)
		if e.ID == "" {
			name = fmt.Sprintf("exemption %d (no ID)", i+1)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, name+": "+fmt.Sprintf(format, args...))
		}
		n := len(errs)
		switch {
		case e.ID == "":
			bad("an ID is required")
		case !nameRE.MatchString(e.ID):
			bad("ID is not a valid name (letters, digits, '.', '_', '-'; up to 64; starting with a letter or digit)")
		case used[e.ID]:
			bad("ID is already used")
		}
		used[e.ID] = true
		e.Person = strings.TrimSpace(e.Person)
		if (e.MAC == "") == (e.Person == "") {
			bad("give exactly one of mac or person")
		} else if e.MAC != "" {
			m, err := NormalizeMAC(e.MAC)
			if err != nil {
				bad("mac: %v", err)
			}
			e.MAC = m
		}
		if len(e.Zones)+len(e.ZoneTypes) == 0 {
			bad("give the zones or zone types it covers")
		}
		for _, z := range e.Zones {
			if _, ok := p.zoneType[z]; !ok {
				bad("no zone is named %q", z)
			}
		}
		for _, zt := range e.ZoneTypes {
			if !slices.Contains(ZoneTypes, zt) {
				bad("unknown zone type %q (want one of: %s)", zt, strings.Join(ZoneTypes, ", "))
			}
		}
		switch {
		case e.From.IsZero() || e.Until.IsZero():
			bad("from and until are required")
		case !e.Until.After(e.From):
			bad("until must be after from")
		}
		if !slices.Contains(ExemptionReasons, e.Reason) {
			bad("unknown reason %q (want one of: %s)", e.Reason, strings.Join(ExemptionReasons, ", "))
		}
		e.Approver = strings.TrimSpace(e.Approver)
		if e.Approver == "" {
			bad("approver must name who approved it")
		}
		for _, c := range e.Clauses {
			if !IsClause(c) {
				bad("clause %q is not in the clause catalogue (SPT-1..SPT-14, OSS-1, OSS-2.1..OSS-2.4, OSS-3..OSS-8)", c)
			}
		}
		if len(errs) == n {
			e.Zones = slices.Clone(e.Zones)
			e.ZoneTypes = slices.Clone(e.ZoneTypes)
			e.Clauses = slices.Clone(e.Clauses)
			q.exemptions = append(q.exemptions, e)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("add exemptions: %s", strings.Join(errs, "; "))
	}
	q.exByMAC = make(map[string][]int, len(p.exByMAC)+len(extra))
	q.exByPerson = make(map[string][]int, len(p.exByPerson)+len(extra))
	for i := range q.exemptions {
		e := &q.exemptions[i]
		if e.MAC != "" {
			q.exByMAC[e.MAC] = append(q.exByMAC[e.MAC], i)
		} else {
			k := strings.ToLower(e.Person)
			q.exByPerson[k] = append(q.exByPerson[k], i)
		}
	}
	q.precomputeExemptions()
	return &q, nil
}
