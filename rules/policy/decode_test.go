package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// base is a minimal valid policy; the cases below append to or replace parts of it.
const baseZones = `zones:
  - {name: teaching, type: teaching, vlans: [30]}
`
const baseRules = `rules:
  - name: r1
    then: {action: allow}
`

func TestParseYAMLErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // every error, in order, as LINE:COL: message
	}{
		{"unknown zone type and key, with suggestion", `zones:
  - name: a
    type: classroom
    vlan: [30]
` + baseRules, []string{
			`2:5: zone "a": needs at least one of vlans, subnets, ssids, aps, circuit_ids, remote_ids`,
			`3:11: zone type: unknown value "classroom" (want one of: reception, staffroom, slt-office, office, meeting-room, car-park, teaching, pupil-area, exam-room, guest)`,
			`4:5: zone: unknown key "vlan" (did you mean "vlans"?)`,
		}},
		{"zone without criteria, duplicate zone, bad CIDRs", `zones:
  - {name: a, type: teaching}
  - {name: a, type: teaching, vlans: [1]}
  - {name: b, type: guest, subnets: [10.0.0.1/24, 10.0.0.0/33], vlans: [5000]}
` + baseRules, []string{
			`2:5: zone "a": needs at least one of vlans, subnets, ssids, aps, circuit_ids, remote_ids`,
			`3:12: zone name "a" is already used by the zone at line 2`,
			`4:38: zone subnets: "10.0.0.1/24" has host bits set (did you mean 10.0.0.0/24?)`,
			`4:51: zone subnets: invalid CIDR subnet "10.0.0.0/33" (want e.g. 10.30.1.0/24)`,
			`4:73: zone vlans: invalid VLAN ID "5000" (want 0 for untagged, or 1-4094)`,
		}},
		{"rule references and enums", baseZones + `schedules:
  - {name: hours, days: weekdays, from: "08:30", to: "15:30"}
rules:
  - name: r1
    when:
      roles: [pupil, headteacher]
      kinds: [phablet]
      zones: [gym]
      schedule: pupil-hours
    then:
      action: warn
      severity: urgent
      clauses: [OSS-2.1, OSS-9]
`, []string{
			`8:22: when roles: unknown value "headteacher" (want one of: pupil, staff-direct, staff-office, slt, governor, visitor, contractor, volunteer, key-personnel, external-agency, unknown)`,
			`9:15: when kinds: unknown value "phablet" (want one of: phone, tablet, laptop, desktop, smartwatch, fitness-tracker, games-console, e-reader, tv-media, printer, iot, network, unknown)`,
			`10:15: when zones: no zone is named "gym"`,
			`11:17: when schedule: no schedule is named "pupil-hours"`,
			`13:15: rule then action: unknown value "warn" (want one of: allow, alert, block)`,
			`14:17: rule then severity: unknown value "urgent" (want one of: info, low, medium, high, critical)`,
			`15:26: rule then clauses: "OSS-9" is not in the clause catalogue (SPT-1..SPT-14, OSS-1, OSS-2.1..OSS-2.4, OSS-3..OSS-8)`,
		}},
		{"alert without clauses or message", baseZones + `rules:
  - name: r1
    then: {action: alert}
`, []string{
			`5:11: rule then: an alert must cite the policy clauses it enforces (clauses: [...])`,
			`5:11: rule then: an alert needs a message a DSL can read`,
		}},
		{"schedule times", baseZones + baseRules + `schedules:
  - {name: a, days: weekdays, from: "8:30", to: "15:30"}
  - {name: b, days: [mon, tues], from: "15:30", to: "08:30"}
  - {name: c, days: school-days, from: "08:30", to: "15:30"}
`, []string{
			`7:37: schedule from: invalid time "8:30" (want HH:MM, 24-hour, quoted, e.g. "08:30")`,
			`8:27: schedule days: unknown day "tues" (want mon, tue, wed, thu, fri, sat, sun)`,
			`8:53: schedule "b": to (08:30) must be after from (15:30); windows past midnight are two schedules`,
			`9:21: schedule days: school-days needs calendar terms (none are configured)`,
		}},
		{"calendar dates", baseZones + baseRules + `calendar:
  terms:
    - {name: Autumn, start: 2026-09-03, end: 2026-07-18}
  holidays:
    - {name: Half term, start: 2026-10-26, end: 2026-10-32}
  inset_days: [2026-02-30]
`, []string{
			`8:46: term "Autumn": end 2026-07-18 is before start 2026-09-03`,
			`10:49: holiday end: invalid date "2026-10-32" (want YYYY-MM-DD)`,
			`11:16: inset_days: invalid date "2026-02-30" (want YYYY-MM-DD)`,
		}},
		{"register", baseZones + baseRules + `register:
  - {mac: "aa:bb:cc:dd:ee:ff", role: pupil}
  - {mac: "AA-BB-CC-DD-EE-FF", role: pupil}
  - {mac: "aa:bb:cc:dd:ee", role: teacher, managed: yes}
`, []string{
			`8:11: register: MAC aa:bb:cc:dd:ee:ff is already listed at line 7`,
			`9:11: register mac: invalid MAC address "aa:bb:cc:dd:ee" (want e.g. aa:bb:cc:dd:ee:ff)`,
			`9:35: register role: unknown value "teacher" (want one of: pupil, staff-direct, staff-office, slt, governor, visitor, contractor, volunteer, key-personnel, external-agency)`,
			`9:53: register managed: expected true or false, got "yes"`,
		}},
		{"exemptions", baseZones + baseRules + `exemptions:
  - id: EX-1
    mac: "aa:bb:cc:dd:ee:ff"
    person: A Pupil
    from: 2026-09-01
    until: 2026-08-01
    reason: because
    approver: HT
  - id: EX-1
    mac: "aa:bb:cc:dd:ee:01"
    zones: [hall]
    from: 2026-09-01T25:00:00Z
    until: 2026-09-02
    reason: medical
`, []string{
			`7:5: exemption "EX-1": give exactly one of mac or person`,
			`7:5: exemption "EX-1": give the zones or zone_types it covers`,
			`11:12: exemption "EX-1": until must be after from`,
			`12:13: exemption reason: unknown value "because" (want one of: medical, curriculum, multi-agency-visit, emergency, off-site-visit, individual-support, other)`,
			`14:5: exemption: missing required key "approver"`,
			`14:9: exemption id "EX-1" is already used at line 7`,
			`16:13: exemption zones: no zone is named "hall"`,
			`17:11: exemption from: invalid time "2026-09-01T25:00:00Z" (want YYYY-MM-DD or RFC 3339, e.g. 2026-09-03T08:00:00+01:00)`,
		}},
		{"missing sections", `schedules: []
`, []string{
			`1:1: zones: at least one zone is required`,
			`1:1: rules: at least one rule is required`,
		}},
		{"syntax error", "zones:\n  - a\n   b: 2\n", []string{
			`3:1: YAML syntax error: mapping values are not allowed in this context`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.ParseYAML([]byte(tc.doc), london(t))
			var es yamlstrict.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v (%T), want yamlstrict.Errors", err, err)
			}
			got := strings.Split(es.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
