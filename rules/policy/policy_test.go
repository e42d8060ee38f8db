package policy_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// testPolicy is the demo school's policy (adapters/simulate/school.yaml) with a
// calendar that exercises both clock changes (this academy's spring term runs to
// 1 April), an INSET day inside a term, a library zone matched on VLAN and subnet,
// and exemptions.
const testPolicy = `
zones:
  - name: reception
    type: reception
    subnets: [10.20.1.0/24, 10.30.1.0/24, 10.40.1.0/24, 10.50.1.0/24]
  - name: staffroom
    type: staffroom
    subnets: [10.20.2.0/24, 10.30.2.0/24]
  - name: teaching
    type: teaching
    subnets: [10.20.10.0/23, 10.30.10.0/23, 10.30.12.0/22]
  - name: exam-room
    type: exam-room
    subnets: [10.20.20.0/24, 10.30.20.0/24]
  - name: library
    type: pupil-area
    vlans: [60]
    subnets: [10.60.5.0/24]
  - name: sports-hall
    type: pupil-area
    vlans: [70]
roles:
  - {role: staff-direct, vlans: [20]}
  - {role: pupil, vlans: [30]}
  - {role: visitor, subnets: [10.40.0.0/16]}
register:
  - {mac: "AA-BB-CC-00-00-10", role: pupil, owner: School iPad 10, kind: tablet}
  - {mac: aabb.cc00.0011, role: staff-office, owner: J Smith, kind: phone, managed: false}
schedules:
  - name: pupil-hours
    days: school-days
    from: "08:30"
    to: "15:30"
  - name: unused
    days: [sat, sun]
    from: "10:00"
    to: "11:00"
calendar:
  terms:
    - {name: Autumn 2026, start: 2026-09-03, end: 2026-12-18}
    - {name: Spring 2027, start: 2027-01-05, end: 2027-04-01}
    - {name: Summer 2027, start: 2027-04-19, end: 2027-07-21}
  holidays:
    - {name: Autumn half term, start: 2026-10-26, end: 2026-10-30}
    - {name: Spring half term, start: 2027-02-15, end: 2027-02-19}
  inset_days: [2026-09-02, 2026-11-27, 2027-01-04]
rules:
  - name: exam-room-devices
    when:
      zone_types: [exam-room]
      kinds: [phone, smartwatch, fitness-tracker, tablet, e-reader, games-console]
      managed: false
      schedule: pupil-hours
    then:
      action: alert
      severity: critical
      clauses: [OSS-5]
      message: Personal device in an exam room during the school day; possession is reported to the exam board.
  - name: school-devices
    when:
      managed: true
    then:
      action: allow
      clauses: [SPT-10, SPT-13]
      message: School-managed device on the register.
  - name: pupil-device-beyond-reception
    when:
      roles: [pupil]
      kinds: [phone, smartwatch, fitness-tracker, tablet, e-reader, games-console]
      not_zone_types: [reception]
      schedule: pupil-hours
    then:
      action: alert
      severity: high
      clauses: [OSS-2.1, SPT-13]
      message: Pupil's personal device beyond the main reception area during pupil hours.
  - name: staff-device-in-pupil-area
    when:
      roles: [staff-direct]
      kinds: [phone]
      zone_types: [teaching, pupil-area]
      schedule: pupil-hours
    then:
      action: block
      clauses: [OSS-2.2, SPT-3]
      message: Staff personal device in an area shared with pupils during pupil hours.
  - name: unknown-device-out-of-hours
    when:
      roles: [unknown]
      zones: [library]
      not_schedule: pupil-hours
    then:
      action: alert
      severity: low
      clauses: [SPT-2]
      message: Unidentified device in the library outside pupil hours!
default:
  action: allow
  message: No rule applies.
exemptions:
  - id: EX-2026-001
    mac: "aa:bb:cc:00:00:01"
    zone_types: [teaching, pupil-area]
    from: 2026-09-01
    until: 2026-12-18
    reason: medical
    approver: Mrs A Patel (Headteacher)
    created: 2026-08-28T10:00:00+01:00
  - id: EX-2026-002
    mac: "aa:bb:cc:00:00:02"
    zones: [teaching]
    from: 2026-09-01
    until: 2026-10-01
    reason: curriculum
    approver: Mr B Jones (Deputy Head)
  - id: EX-2026-003
    person: j smith
    zone_types: [teaching]
    from: 2026-11-03T13:00:00Z
    until: 2026-11-03T14:00:00Z
    reason: multi-agency-visit
    approver: Mrs A Patel (Headteacher)
`

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatalf("load Europe/London: %v", err)
	}
	return loc
}

func load(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.ParseYAML([]byte(testPolicy), london(t))
	if err != nil {
		t.Fatalf("test policy is invalid:\n%v", err)
	}
	return p
}

// local returns the instant of a wall-clock time in London.
func local(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.ParseInLocation("2006-01-02 15:04", s, london(t))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func utc(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestEvaluate(t *testing.T) {
	p := load(t)
	pupilPhone := policy.Input{MAC: "02:11:22:33:44:55", Zone: "teaching", ZoneType: "teaching", Role: "pupil", Kind: "phone"}
	with := func(in policy.Input, f func(*policy.Input)) policy.Input { f(&in); return in }
	tests := []struct {
		name      string
		in        policy.Input
		at        time.Time
		action    string
		severity  string
		rule      string
		clauses   string
		exemption string
	}{
		{"pupil phone in teaching at 09:00 on a school day", pupilPhone, local(t, "2026-11-04 09:00"),
			"alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"same at 16:00 after pupil hours", pupilPhone, local(t, "2026-11-04 16:00"),
			"allow", "info", "default", "", ""},
		{"at 15:30 exactly pupil hours have ended", pupilPhone, local(t, "2026-11-04 15:30"),
			"allow", "info", "default", "", ""},
		{"weekend", pupilPhone, local(t, "2026-11-07 09:00"), "allow", "info", "default", "", ""},
		{"INSET day inside term", pupilPhone, local(t, "2026-11-27 09:00"), "allow", "info", "default", "", ""},
		{"half term", pupilPhone, local(t, "2026-10-28 09:00"), "allow", "info", "default", "", ""},
		{"summer holiday", pupilPhone, local(t, "2026-08-12 09:00"), "allow", "info", "default", "", ""},
		{"pupil phone at reception is allowed", with(pupilPhone, func(i *policy.Input) { i.Zone, i.ZoneType = "reception", "reception" }),
			local(t, "2026-11-04 09:00"), "allow", "info", "default", "", ""},
		{"pupil phone in an unknown zone is a breach (OSS-2.1: only reception)", with(pupilPhone, func(i *policy.Input) { i.Zone, i.ZoneType = "", "" }),
			local(t, "2026-11-04 09:00"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"pupil laptop is not a device kind the policy names", with(pupilPhone, func(i *policy.Input) { i.Kind = "laptop" }),
			local(t, "2026-11-04 09:00"), "allow", "info", "default", "", ""},
		{"exam room is critical", with(pupilPhone, func(i *policy.Input) { i.Zone, i.ZoneType = "exam-room", "exam-room" }),
			local(t, "2026-11-04 10:00"), "alert", "critical", "exam-room-devices", "OSS-5", ""},
		{"zone type is derived from the zone name when not given", with(pupilPhone, func(i *policy.Input) { i.Zone, i.ZoneType = "exam-room", "" }),
			local(t, "2026-11-04 10:00"), "alert", "critical", "exam-room-devices", "OSS-5", ""},
		{"managed school tablet is allowed", with(pupilPhone, func(i *policy.Input) { i.Kind, i.Managed = "tablet", true }),
			local(t, "2026-11-04 09:00"), "allow", "info", "school-devices", "SPT-10,SPT-13", ""},
		{"staff phone in teaching is blocked, default severity medium", with(pupilPhone, func(i *policy.Input) { i.Role = "staff-direct" }),
			local(t, "2026-11-04 11:00"), "block", "medium", "staff-device-in-pupil-area", "OSS-2.2,SPT-3", ""},
		{"active exemption turns the breach into allow", with(pupilPhone, func(i *policy.Input) { i.MAC = "aa:bb:cc:00:00:01" }),
			local(t, "2026-11-04 09:00"), "allow", "info", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", "EX-2026-001"},
		{"exemption covers the whole of its until day", with(pupilPhone, func(i *policy.Input) { i.MAC = "aa:bb:cc:00:00:01" }),
			local(t, "2026-12-18 15:00"), "allow", "info", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", "EX-2026-001"},
		{"exemption does not cover other zone types", with(pupilPhone, func(i *policy.Input) {
			i.MAC, i.Zone, i.ZoneType = "aa:bb:cc:00:00:01", "staffroom", "staffroom"
		}), local(t, "2026-11-04 09:00"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"expired exemption: alert again", with(pupilPhone, func(i *policy.Input) { i.MAC = "aa:bb:cc:00:00:02" }),
			local(t, "2026-11-04 09:00"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"exemption by person matches the register owner's device", policy.Input{MAC: "aa:bb:cc:00:00:11", Zone: "teaching", ZoneType: "teaching", Role: "staff-direct", Kind: "phone"},
			utc(t, "2026-11-03T13:30:00Z"), "allow", "info", "staff-device-in-pupil-area", "OSS-2.2,SPT-3", "EX-2026-003"},
		{"person exemption ends at its until", policy.Input{MAC: "aa:bb:cc:00:00:11", Zone: "teaching", ZoneType: "teaching", Role: "staff-direct", Kind: "phone"},
			utc(t, "2026-11-03T14:00:00Z"), "block", "medium", "staff-device-in-pupil-area", "OSS-2.2,SPT-3", ""},
		{"role unknown matches rules naming unknown", policy.Input{MAC: "02:00:00:00:00:09", Zone: "library", Kind: "phone"},
			local(t, "2026-11-04 18:00"), "alert", "low", "unknown-device-out-of-hours", "SPT-2", ""},
		{"not_schedule: not during pupil hours", policy.Input{MAC: "02:00:00:00:00:09", Zone: "library", Kind: "phone"},
			local(t, "2026-11-04 10:00"), "allow", "info", "default", "", ""},

		// Clock changes: GMT from Sun 2026-10-25, BST from Sun 2027-03-28.
		{"GMT week Mon 2026-11-02 08:29 local", pupilPhone, utc(t, "2026-11-02T08:29:00Z"), "allow", "info", "default", "", ""},
		{"GMT week Mon 2026-11-02 08:31 local", pupilPhone, utc(t, "2026-11-02T08:31:00Z"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"GMT week 15:29 local", pupilPhone, utc(t, "2026-11-02T15:29:00Z"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"BST week Mon 2027-03-29 08:29 local (07:29Z)", pupilPhone, utc(t, "2027-03-29T07:29:00Z"), "allow", "info", "default", "", ""},
		{"BST week Mon 2027-03-29 08:31 local (07:31Z)", pupilPhone, utc(t, "2027-03-29T07:31:00Z"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
		{"BST week 15:31 local is 14:31Z: over", pupilPhone, utc(t, "2027-03-29T14:31:00Z"), "allow", "info", "default", "", ""},
		{"BST week 15:29 local is 14:29Z: still pupil hours", pupilPhone, utc(t, "2027-03-29T14:29:00Z"), "alert", "high", "pupil-device-beyond-reception", "OSS-2.1,SPT-13", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Evaluate(tc.in, tc.at)
			if d.Action != tc.action || d.Severity != tc.severity || d.Rule != tc.rule ||
				strings.Join(d.Clauses, ",") != tc.clauses || d.Exemption != tc.exemption {
				t.Errorf("Evaluate at %s = %+v\nwant action=%s severity=%s rule=%s clauses=%s exemption=%q",
					tc.at.In(london(t)), d, tc.action, tc.severity, tc.rule, tc.clauses, tc.exemption)
			}
			if d.Reason == "" || !strings.HasSuffix(d.Reason, ".") && !strings.HasSuffix(d.Reason, "!") {
				t.Errorf("reason %q is not a sentence", d.Reason)
			}
			if d.Clauses == nil {
				t.Errorf("Clauses is nil; the JSON contract wants []")
			}
		})
	}
}

func TestReasons(t *testing.T) {
	p := load(t)
	at := local(t, "2026-11-04 09:00")
	in := policy.Input{MAC: "02:11:22:33:44:55", Zone: "teaching", ZoneType: "teaching", Role: "pupil", Kind: "phone"}
	tests := []struct {
		name string
		in   policy.Input
		at   time.Time
		want string
	}{
		{"rule", in, at, "Rule pupil-device-beyond-reception: Pupil's personal device beyond the main reception area during pupil hours (OSS-2.1, SPT-13)."},
		{"default", in, local(t, "2026-11-04 17:00"), "Default: No rule applies."},
		{"message ending in ! keeps it", policy.Input{Zone: "library", Kind: "phone"}, local(t, "2026-11-04 18:00"),
			"Rule unknown-device-out-of-hours: Unidentified device in the library outside pupil hours! (SPT-2)."},
		{"exemption names itself, its approver and the rule it overrides", policy.Input{MAC: "aa:bb:cc:00:00:01", Zone: "teaching", Role: "pupil", Kind: "phone"}, at,
			"Exemption EX-2026-001 (medical, approved by Mrs A Patel (Headteacher), until 18 December 2026) allows what rule pupil-device-beyond-reception would alert on (OSS-2.1, SPT-13)."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Evaluate(tc.in, tc.at).Reason; got != tc.want {
				t.Errorf("reason\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNextEdge(t *testing.T) {
	p := load(t)
	tests := []struct {
		name  string
		after time.Time
		want  string // RFC 3339 UTC, "" for none
	}{
		{"morning of a GMT school day", utc(t, "2026-11-02T08:00:00Z"), "2026-11-02T08:30:00Z"},
		{"strictly after: at the edge itself the next is the end of the day", utc(t, "2026-11-02T08:30:00Z"), "2026-11-02T15:30:00Z"},
		{"an exemption starting inside pupil hours", utc(t, "2026-11-03T12:00:00Z"), "2026-11-03T13:00:00Z"},
		{"an exemption ending inside pupil hours", utc(t, "2026-11-03T13:00:00Z"), "2026-11-03T14:00:00Z"},
		{"Friday evening to Monday morning", utc(t, "2026-11-06T16:00:00Z"), "2026-11-09T08:30:00Z"},
		{"before half term (BST) across the clock change to Monday after it (GMT)", utc(t, "2026-10-23T14:30:00Z"), "2026-11-02T08:30:00Z"},
		{"the day before an INSET day skips it", utc(t, "2026-11-26T16:00:00Z"), "2026-11-30T08:30:00Z"},
		{"across the spring clock change: 08:30 BST is 07:30Z", utc(t, "2027-03-26T16:00:00Z"), "2027-03-29T07:30:00Z"},
		{"end of pupil hours in BST", utc(t, "2027-03-29T08:00:00Z"), "2027-03-29T14:30:00Z"},
		{"Easter holiday to summer term", utc(t, "2027-04-01T15:00:00Z"), "2027-04-19T07:30:00Z"},
		{"an exemption's expiry is an edge", utc(t, "2026-12-18T16:00:00Z"), "2026-12-19T00:00:00Z"},
		{"INSET day then spring term", utc(t, "2026-12-19T00:00:00Z"), "2027-01-05T08:30:00Z"},
		{"an exemption's start is an edge", utc(t, "2026-08-20T12:00:00Z"), "2026-08-31T23:00:00Z"},
		{"after the last term there is nothing within the bound", utc(t, "2027-07-21T15:00:00Z"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.NextEdge(tc.after)
			gotS := ""
			if !got.IsZero() {
				gotS = got.UTC().Format(time.RFC3339)
			}
			if gotS != tc.want {
				t.Errorf("NextEdge(%s) = %q, want %q", tc.after.UTC().Format(time.RFC3339), gotS, tc.want)
			}
		})
	}
}

// TestNextEdgeBoundsDecisions checks the property the daemon relies on: no decision
// changes between an instant and the next edge, for many instants across the year.
func TestNextEdgeBoundsDecisions(t *testing.T) {
	p := load(t)
	inputs := []policy.Input{
		{MAC: "02:11:22:33:44:55", Zone: "teaching", Role: "pupil", Kind: "phone"},
		{MAC: "aa:bb:cc:00:00:01", Zone: "teaching", Role: "pupil", Kind: "phone"},
		{MAC: "aa:bb:cc:00:00:11", Zone: "teaching", Role: "staff-direct", Kind: "phone"},
		{MAC: "02:00:00:00:00:09", Zone: "library", Kind: "phone"},
	}
	start := utc(t, "2026-08-25T00:00:00Z")
	for i := 0; i < 3000; i++ {
		at := start.Add(time.Duration(i)*2*time.Hour + time.Duration(i*37%60)*time.Minute)
		edge := p.NextEdge(at)
		if edge.IsZero() {
			edge = at.Add(400 * 24 * time.Hour)
		}
		if !edge.After(at) {
			t.Fatalf("NextEdge(%s) = %s, not after", at, edge)
		}
		probes := []time.Time{edge.Add(-time.Second), at.Add(edge.Sub(at) / 2)}
		for _, in := range inputs {
			want := p.Evaluate(in, at)
			for _, pr := range probes {
				if got := p.Evaluate(in, pr); got.Action != want.Action || got.Rule != want.Rule || got.Exemption != want.Exemption {
					t.Fatalf("decision for %+v changed between %s and %s (next edge %s): %v -> %v", in, at, pr, edge, want, got)
				}
			}
		}
	}
}

func TestNextEdgeNone(t *testing.T) {
	p, err := policy.ParseYAML([]byte(`
zones: [{name: all, type: teaching, vlans: [1]}]
rules: [{name: allow-all, then: {action: allow}}]
`), london(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.NextEdge(utc(t, "2026-11-02T08:00:00Z")); !got.IsZero() {
		t.Errorf("NextEdge with no schedules or exemptions = %s, want zero", got)
	}
}

func TestZoneFor(t *testing.T) {
	p := load(t)
	tests := []struct {
		vlan     uint16
		ip       string
		name, zt string
	}{
		{30, "10.30.12.5", "teaching", "teaching"},
		{30, "10.30.1.7", "reception", "reception"},
		{0, "10.30.20.9", "exam-room", "exam-room"},
		{30, "::ffff:10.30.1.7", "reception", "reception"},
		{60, "10.60.5.1", "library", "pupil-area"},
		{61, "10.60.5.1", "", "unknown"}, // library needs both its VLAN and subnet
		{60, "10.60.6.1", "", "unknown"},
		{70, "", "sports-hall", "pupil-area"}, // VLAN alone is enough for a VLAN-only zone
		{30, "10.99.0.1", "", "unknown"},
		{30, "", "", "unknown"},
	}
	for _, tc := range tests {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip)
		}
		name, zt := p.ZoneFor(tc.vlan, ip)
		if name != tc.name || zt != tc.zt {
			t.Errorf("ZoneFor(%d, %s) = %q, %q; want %q, %q", tc.vlan, tc.ip, name, zt, tc.name, tc.zt)
		}
	}
	if got := p.ZoneType("library"); got != "pupil-area" {
		t.Errorf("ZoneType(library) = %q", got)
	}
	if got := p.ZoneType("nowhere"); got != "unknown" {
		t.Errorf("ZoneType(nowhere) = %q", got)
	}
}

func TestRoleForNetwork(t *testing.T) {
	p := load(t)
	tests := []struct {
		vlan uint16
		ip   string
		want string
	}{
		{20, "10.20.10.4", "staff-direct"},
		{30, "10.30.10.4", "pupil"},
		{40, "10.40.1.9", "visitor"},
		{99, "10.40.1.9", "visitor"}, // subnet-only mapping ignores the VLAN
		{99, "192.168.1.1", ""},
	}
	for _, tc := range tests {
		if got := p.RoleForNetwork(tc.vlan, netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("RoleForNetwork(%d, %s) = %q, want %q", tc.vlan, tc.ip, got, tc.want)
		}
	}
}

func TestRegistered(t *testing.T) {
	p := load(t)
	tests := []struct {
		mac     string
		found   bool
		role    string
		managed bool
	}{
		{"aa:bb:cc:00:00:10", true, "pupil", true}, // managed defaults to true
		{"AA:BB:CC:00:00:10", true, "pupil", true},
		{"aabb.cc00.0010", true, "pupil", true},
		{"aa:bb:cc:00:00:11", true, "staff-office", false},
		{"aa:bb:cc:00:00:12", false, "", false},
		{"not a mac", false, "", false},
	}
	for _, tc := range tests {
		e, ok := p.Registered(tc.mac)
		if ok != tc.found || e.Role != tc.role || e.Managed != tc.managed {
			t.Errorf("Registered(%q) = %+v, %v", tc.mac, e, ok)
		}
		if ok && e.MAC != "aa:bb:cc:00:00:10" && e.MAC != "aa:bb:cc:00:00:11" {
			t.Errorf("register MAC not normalised: %q", e.MAC)
		}
	}
}

func TestWithRegister(t *testing.T) {
	p := load(t)
	q, err := p.WithRegister([]policy.RegisterEntry{
		{MAC: "02-00-00-AA-00-01", Role: "pupil", Kind: "laptop", Managed: true, Owner: "Chromebook 1"},
		{MAC: "aa:bb:cc:00:00:11", Role: "slt", Kind: "phone", Managed: true}, // replaces the configured entry
	})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := q.Registered("02:00:00:aa:00:01"); !ok || e.Owner != "Chromebook 1" {
		t.Errorf("added entry not found: %+v %v", e, ok)
	}
	if e, _ := q.Registered("aa:bb:cc:00:00:11"); e.Role != "slt" {
		t.Errorf("import did not replace the configured entry: %+v", e)
	}
	if _, ok := p.Registered("02:00:00:aa:00:01"); ok {
		t.Error("WithRegister changed the original policy")
	}
	if n := len(q.RegisterEntries()); n != 3 {
		t.Errorf("register has %d entries, want 3", n)
	}
	if _, err := p.WithRegister([]policy.RegisterEntry{{MAC: "zz"}, {MAC: "02:00:00:00:00:01", Role: "headmaster"}}); err == nil ||
		!strings.Contains(err.Error(), `invalid MAC address "zz"`) || !strings.Contains(err.Error(), `unknown role "headmaster"`) {
		t.Errorf("bad entries: err = %v", err)
	}
}

func TestNormalizeMAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"},
		{"aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff"},
		{"aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"},
		{"aabbccddeeff", "aa:bb:cc:dd:ee:ff"},
		{"aa:bb:cc:dd:ee", ""},
		{"aa:bb:cc:dd:ee:gg", ""},
	}
	for _, tc := range tests {
		got, err := policy.NormalizeMAC(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p := load(b)
	at := local(b, "2026-11-04 09:00")
	ins := []policy.Input{
		{MAC: "02:11:22:33:44:55", Zone: "teaching", ZoneType: "teaching", Role: "pupil", Kind: "phone"},
		{MAC: "02:11:22:33:44:56", Zone: "reception", ZoneType: "reception", Role: "visitor", Kind: "laptop"},
		{MAC: "aa:bb:cc:00:00:01", Zone: "teaching", ZoneType: "teaching", Role: "pupil", Kind: "phone"},
		{MAC: "02:11:22:33:44:57", Zone: "staffroom", ZoneType: "staffroom", Role: "staff-direct", Kind: "phone", Managed: true},
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = p.Evaluate(ins[i%len(ins)], at)
	}
}
