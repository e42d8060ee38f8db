package policy_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

const modesPolicy = `
zones:
  - {name: hall, type: pupil-area, vlans: [16], aps: [ap-hall-*]}
  - {name: exam-hall, type: exam-room, vlans: [30], aps: [ap-exam-*, "24-5a-4c-*"]}
  - {name: lab, type: teaching, vlans: [31], ssids: [Lab], circuit_ids: ["sw1/0/7"], remote_ids: [sw1]}
  - {name: staffroom, type: staffroom, vlans: [20]}
  - {name: library, type: pupil-area, subnets: [10.30.5.0/24]}
register:
  - {mac: "aa:00:00:00:00:01", role: staff-direct, kind: laptop}
  - {mac: "aa:00:00:00:00:02", role: pupil, kind: phone, managed: false, owner: Pupil A}
schedules:
  - {name: staff-day, days: staff-days, from: "08:30", to: "15:30"}
calendar:
  terms: [{name: Autumn, start: 2026-09-01, end: 2026-12-18}]
  inset_days: [2026-09-01]
rules:
  - name: laptop-not-itself
    when: {managed: true, kind_mismatch: true}
    then: {action: alert, clauses: [SPT-10], message: Not the registered device., notify: [network-admin]}
  - name: managed
    when: {managed: true}
    then: {action: allow}
  - name: pupils
    when: {roles: [pupil], schedule: staff-day}
    then: {action: alert, severity: high, clauses: [SPT-13], message: Pupil device., notify: [dsl]}
  - name: staff
    when: {roles: [staff-direct], not_zone_types: [staffroom], schedule: staff-day}
    then: {action: alert, clauses: [SPT-3], message: Staff device.}
exemptions:
  - {id: EX-1, person: Pupil A, zone_types: [exam-room], from: 2026-11-01, until: 2026-11-30, reason: medical, approver: HT, clauses: [OSS-5]}
modes:
  - {name: maths-exam, kind: exam, zones: [exam-hall], from: "2026-11-10T09:00:00Z", until: "2026-11-10T11:00:00Z", reason: GCSE maths, declared_by: Exams officer}
  - {name: lockdown, kind: lockdown, from: "2026-11-10T10:00:00Z", until: "2026-11-10T10:30:00Z", reason: Intruder, declared_by: HT}
  - {name: emergency, kind: emergency, zone_types: [teaching], from: "2026-11-11T09:00:00Z", until: "2026-11-11T09:30:00Z", reason: Lines down, declared_by: HT}
`

func TestModes(t *testing.T) {
	p, err := policy.ParseYAML([]byte(modesPolicy), london(t))
	if err != nil {
		t.Fatal(err)
	}
	staffPhone := policy.Input{Zone: "exam-hall", Role: "staff-direct", Kind: "phone"}
	pupilPhone := policy.Input{MAC: "02:00:00:00:00:09", Zone: "exam-hall", Role: "pupil", Kind: "phone"}
	exempt := policy.Input{MAC: "aa:00:00:00:00:02", Zone: "exam-hall", Role: "pupil", Kind: "phone"}
	schoolLaptop := policy.Input{MAC: "aa:00:00:00:00:01", Zone: "exam-hall", Role: "staff-direct", Kind: "laptop", Managed: true}
	visitorInLab := policy.Input{Zone: "lab", Role: "visitor", Kind: "phone"}
	tests := []struct {
		name      string
		in        policy.Input
		at        string
		action    string
		mode      string
		severity  string
		clauses   string
		exemption string
	}{
		{"exam: staff phone is critical", staffPhone, "2026-11-10T09:00:00Z", "alert", "maths-exam", "critical", "OSS-5", ""},
		{"exam: before it starts the rule decides", staffPhone, "2026-11-10T08:59:00Z", "alert", "", "medium", "SPT-3", ""},
		{"exam: unknown visitor device is critical too", policy.Input{Zone: "exam-hall", Kind: "unknown"}, "2026-11-10T09:30:00Z", "alert", "maths-exam", "critical", "OSS-5", ""},
		{"exam: school laptop is not personal", schoolLaptop, "2026-11-10T09:30:00Z", "allow", "", "info", "", ""},
		{"exam: exemption covering the exam room still applies", exempt, "2026-11-10T09:30:00Z", "allow", "maths-exam", "info", "OSS-5", "EX-1"},
		{"lockdown inside the exam: staff keep phones", staffPhone, "2026-11-10T10:00:00Z", "allow", "lockdown", "info", "SPT-3", ""},
		{"lockdown inside the exam: pupils still critical", pupilPhone, "2026-11-10T10:00:00Z", "alert", "maths-exam", "critical", "OSS-5", ""},
		{"exam ends at until", staffPhone, "2026-11-10T11:00:00Z", "alert", "", "medium", "SPT-3", ""},
		{"emergency: visitor allowed in teaching", visitorInLab, "2026-11-11T09:10:00Z", "allow", "", "info", "", ""},
		{"emergency: staff breach becomes allow", policy.Input{Zone: "lab", Role: "staff-direct", Kind: "phone"}, "2026-11-11T09:10:00Z", "allow", "emergency", "info", "SPT-4", ""},
		{"emergency: pupils still reported", policy.Input{Zone: "lab", Role: "pupil", Kind: "phone"}, "2026-11-11T09:10:00Z", "alert", "", "high", "SPT-13", ""},
		{"emergency only where declared", policy.Input{Zone: "hall", Role: "staff-direct", Kind: "phone"}, "2026-11-11T09:10:00Z", "alert", "", "medium", "SPT-3", ""},
	}
	for _, tc := range tests {
		d := p.Evaluate(tc.in, utc(t, tc.at))
		if d.Action != tc.action || d.Mode != tc.mode || d.Severity != tc.severity || strings.Join(d.Clauses, ",") != tc.clauses || d.Exemption != tc.exemption {
			t.Errorf("%s: %+v\nwant %s mode=%q %s [%s] ex=%q", tc.name, d, tc.action, tc.mode, tc.severity, tc.clauses, tc.exemption)
		}
	}
	d := p.Evaluate(staffPhone, utc(t, "2026-11-10T09:30:00Z"))
	if want := "Exam mode maths-exam (GCSE maths; declared by Exams officer; until 10 November 2026 11:00): personal device in the exam; possession is reported to the exam board (OSS-5)."; d.Reason != want {
		t.Errorf("reason %q\nwant   %q", d.Reason, want)
	}
	if strings.Join(d.Notify, ",") != "dsl,exams-officer" {
		t.Errorf("exam notify %v, want the defaults dsl, exams-officer", d.Notify)
	}
	// Mode starts and ends are edges (the daemon re-evaluates then).
	for _, tc := range []struct{ after, want string }{
		{"2026-11-10T08:45:00Z", "2026-11-10T09:00:00Z"},
		{"2026-11-10T09:00:00Z", "2026-11-10T10:00:00Z"},
		{"2026-11-10T10:00:00Z", "2026-11-10T10:30:00Z"},
		{"2026-11-10T10:30:00Z", "2026-11-10T11:00:00Z"},
	} {
		if got := p.NextEdge(utc(t, tc.after)).UTC().Format("2006-01-02T15:04:05Z"); got != tc.want {
			t.Errorf("NextEdge(%s) = %s, want %s", tc.after, got, tc.want)
		}
	}
}

func TestKindMismatchAndStaffDays(t *testing.T) {
	p, err := policy.ParseYAML([]byte(modesPolicy), london(t))
	if err != nil {
		t.Fatal(err)
	}
	laptop := policy.Input{MAC: "aa:00:00:00:00:01", Zone: "lab", Role: "staff-direct", Managed: true}
	for _, tc := range []struct{ kind, rule string }{
		{"laptop", "managed"}, {"unknown", "managed"}, {"games-console", "laptop-not-itself"},
	} {
		laptop.Kind = tc.kind
		if d := p.Evaluate(laptop, utc(t, "2026-11-10T12:00:00Z")); d.Rule != tc.rule {
			t.Errorf("registered laptop seen as %s: rule %s, want %s", tc.kind, d.Rule, tc.rule)
		}
	}
	staff := policy.Input{Zone: "lab", Role: "staff-direct", Kind: "phone"}
	if d := p.Evaluate(staff, utc(t, "2026-09-01T09:00:00Z")); d.Rule != "staff" {
		t.Errorf("INSET day is a staff day: rule %s, want staff", d.Rule)
	}
	if d := p.Evaluate(staff, utc(t, "2026-09-05T09:00:00Z")); d.Rule != "default" {
		t.Errorf("Saturday: rule %s, want default", d.Rule)
	}
}

func TestZoneForSighting(t *testing.T) {
	p, err := policy.ParseYAML([]byte(modesPolicy), london(t))
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	tests := []struct {
		name string
		s    policy.Sighting
		want string
	}{
		{"VLAN only, no AP known", policy.Sighting{VLAN: 16}, "hall"},
		{"VLAN and a matching AP name, any case", policy.Sighting{VLAN: 16, AP: "AP-Hall-2"}, "hall"},
		{"VLAN but another AP", policy.Sighting{VLAN: 16, AP: "ap-lib-1"}, ""},
		{"exam AP by name", policy.Sighting{VLAN: 30, AP: "ap-exam-3"}, "exam-hall"},
		{"exam AP by MAC, dashed glob and dashed MAC", policy.Sighting{VLAN: 30, APMAC: "24-5A-4C-01-02-03"}, "exam-hall"},
		{"library address, library AP: the exam zone's AP check fails", policy.Sighting{VLAN: 30, IP: ip("10.30.5.9"), AP: "ap-lib-1"}, "library"},
		{"library address, no AP: the exam zone comes first", policy.Sighting{VLAN: 30, IP: ip("10.30.5.9")}, "exam-hall"},
		{"lab SSID", policy.Sighting{VLAN: 31, SSID: "Lab"}, "lab"},
		{"another SSID", policy.Sighting{VLAN: 31, SSID: "Guest"}, ""},
		{"lab switch port", policy.Sighting{VLAN: 31, CircuitID: "sw1/0/7", RemoteID: "sw1"}, "lab"},
		{"another switch", policy.Sighting{VLAN: 31, RemoteID: "sw9"}, ""},
		{"staff VLAN, mapped IPv4", policy.Sighting{VLAN: 20, IP: ip("::ffff:10.20.0.5")}, "staffroom"},
		{"nothing matches", policy.Sighting{VLAN: 99}, ""},
	}
	for _, tc := range tests {
		if got, _ := p.ZoneForSighting(tc.s); got != tc.want {
			t.Errorf("%s: zone %q, want %q", tc.name, got, tc.want)
		}
	}
	// ZoneFor is the VLAN-and-address special case.
	for _, s := range []policy.Sighting{{VLAN: 16}, {VLAN: 30, IP: ip("10.30.5.9")}, {VLAN: 12, IP: ip("10.30.5.9")}, {VLAN: 20}, {VLAN: 99}} {
		n1, t1 := p.ZoneFor(s.VLAN, s.IP)
		n2, t2 := p.ZoneForSighting(s)
		if n1 != n2 || t1 != t2 {
			t.Errorf("%+v: ZoneFor %s/%s, ZoneForSighting %s/%s", s, n1, t1, n2, t2)
		}
	}
	// The overlaps this policy has are warnings with both positions.
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.Msg)
	}
	if want := `zone "library" can match the same devices as zone "hall" at line 3:5 (their criteria do not exclude each other); the zone listed first wins`; strings.Join(got, "\n") != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

func TestModeErrors(t *testing.T) {
	doc := baseZones + baseRules + `modes:
  - {name: r1, kind: exam, from: 2026-11-10, until: 2026-11-09, reason: x, declared_by: y}
  - {name: m2, kind: fire, zones: [gym], from: 2026-11-10, until: 2026-11-11, reason: " ", declared_by: y}
  - {name: m3, kind: lockdown, from: 2026-11-10, until: 2026-11-11, reason: x, declared_by: y, notify: [dsl]}
  - {name: m4, kind: exam, zone_types: [teaching], from: 2026-11-10}
`
	_, err := policy.ParseYAML([]byte(doc), london(t))
	var es yamlstrict.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want errors, got %v", err)
	}
	want := []string{
		`7:5: mode "r1": an exam mode needs the zones or zone_types the exam is in`,
		`7:12: mode name "r1" is already a rule name (line 4): decisions name one or the other`,
		`7:53: mode "r1": until must be after from`,
		`8:22: mode kind: unknown value "fire" (want one of: exam, lockdown, emergency)`,
		`8:36: mode zones: no zone is named "gym"`,
		`8:79: mode "m2": reason must say why it was declared`,
		`9:104: mode "m3": notify is for exam modes; a lockdown mode allows, and an allow tells nobody`,
		`10:5: mode: missing required key "until"`,
		`10:5: mode: missing required key "reason"`,
		`10:5: mode: missing required key "declared_by"`,
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
