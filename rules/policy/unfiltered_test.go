package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

const unfilteredPolicy = `zones:
  - {name: reception, type: reception, vlans: [10]}
  - {name: teaching, type: teaching, vlans: [30]}
rules:
  - name: pupil-unfiltered
    when: {roles: [pupil], unfiltered: true}
    then: {action: block, severity: high, clauses: [OSS-2.1], notify: [dsl], message: Around the filter.}
  - name: pupil-reception
    when: {roles: [pupil], zone_types: [reception]}
    then: {action: allow, clauses: [OSS-2.1]}
  - name: pupil-elsewhere
    when: {roles: [pupil]}
    then: {action: alert, severity: high, clauses: [OSS-2.1], message: Beyond reception.}
`

// TestWhenUnfiltered: when.unfiltered matches only devices seen going around
// the filter, and first-match order still holds.
func TestWhenUnfiltered(t *testing.T) {
	p, err := policy.ParseYAML([]byte(unfilteredPolicy), london(t))
	if err != nil {
		t.Fatal(err)
	}
	if ws := p.Warnings(); len(ws) != 0 {
		t.Errorf("warnings %v: a rule after an unfiltered rule with the same roles is reachable", ws)
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in        policy.Input
		rule, act string
	}{
		{policy.Input{Zone: "reception", Role: "pupil", Kind: "phone", Unfiltered: true}, "pupil-unfiltered", "block"},
		{policy.Input{Zone: "reception", Role: "pupil", Kind: "phone"}, "pupil-reception", "allow"},
		{policy.Input{Zone: "teaching", Role: "pupil", Kind: "phone", Unfiltered: true}, "pupil-unfiltered", "block"},
		{policy.Input{Zone: "teaching", Role: "pupil", Kind: "phone"}, "pupil-elsewhere", "alert"},
		{policy.Input{Zone: "teaching", Role: "staff-direct", Kind: "laptop", Unfiltered: true}, "default", "allow"},
	}
	for _, tt := range tests {
		d := p.Evaluate(tt.in, at)
		if d.Rule != tt.rule || d.Action != tt.act {
			t.Errorf("%+v: %s %s, want %s %s", tt.in, d.Rule, d.Action, tt.rule, tt.act)
		}
	}
}

// TestWhenUnfilteredErrors: only true is meaningful; a rule after a rule that
// takes every pupil is unreachable even with unfiltered.
func TestWhenUnfilteredErrors(t *testing.T) {
	_, err := policy.ParseYAML([]byte(`zones: [{name: t, type: teaching, vlans: [30]}]
rules:
  - name: r1
    when: {unfiltered: false}
    then: {action: allow}
  - name: r2
    when: {unfiltered: maybe}
    then: {action: allow}
`), london(t))
	if err == nil || !strings.Contains(err.Error(), "4:24: when unfiltered: only true is meaningful") || !strings.Contains(err.Error(), "7:24: when unfiltered: expected true or false") {
		t.Errorf("error %v", err)
	}
	p, err := policy.ParseYAML([]byte(`zones: [{name: t, type: teaching, vlans: [30]}]
rules:
  - {name: pupils, when: {roles: [pupil]}, then: {action: allow}}
  - {name: pupils-unfiltered, when: {roles: [pupil], unfiltered: true}, then: {action: block, severity: high, clauses: [OSS-2.1], message: x}}
`), london(t))
	if err != nil {
		t.Fatal(err)
	}
	if ws := p.Warnings(); len(ws) != 1 || !strings.Contains(ws[0].Msg, `rule "pupils-unfiltered" is unreachable`) {
		t.Errorf("warnings %v, want pupils-unfiltered unreachable", ws)
	}
}

// loadShipped decodes the policy sections of a shipped school policy (the
// configuration keys around them are skipped; the .ics is read beside it).
func loadShipped(t *testing.T, path string) *policy.Policy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := yamlstrict.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	secs := policy.Sections{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		for _, k := range policy.SectionKeys {
			if root.Content[i].Value == k {
				secs[k] = root.Content[i+1]
			}
		}
	}
	var d yamlstrict.Decoder
	p := policy.DecodeWithFiles(&d, secs, london(t), func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(filepath.Dir(path), name))
	})
	if err := d.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// TestShippedPoliciesUnfiltered: the scenarios of the shipped policies that
// need Input.Unfiltered (the scenario runner has no unfiltered key yet; these
// are the rows to move into deploy/policies/tests/*.yaml when it has). Every
// row is what a DSL would be told about a device seen going around the filter.
func TestShippedPoliciesUnfiltered(t *testing.T) {
	oss := loadShipped(t, "../../deploy/policies/oakham-shires.yaml")
	spt := loadShipped(t, "../../deploy/policies/spt.yaml")
	mon := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // a school day, pupil hours
	eve := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	exam := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		p        *policy.Policy
		at       time.Time
		in       policy.Input
		action   string
		rule     string
		severity string
		clauses  []string
		notify   []string
	}{
		// OSS-2.1: a pupil's device around the filter: blocked wherever it is, the DSL told.
		{"oss-pupil-phone-vpn-at-reception", oss, mon, policy.Input{Zone: "reception", Role: "pupil", Kind: "phone", Unfiltered: true},
			"block", "pupil-device-unfiltered", "high", []string{"OSS-2.1", "OSS-8"}, []string{"dsl"}},
		{"oss-pupil-phone-filtered-at-reception", oss, mon, policy.Input{Zone: "reception", Role: "pupil", Kind: "phone"},
			"allow", "pupil-device-in-reception", "info", []string{"OSS-2.1"}, nil},
		{"oss-pupil-phone-vpn-after-school", oss, eve, policy.Input{Zone: "teaching", Role: "pupil", Kind: "phone", Unfiltered: true},
			"block", "pupil-device-unfiltered", "high", []string{"OSS-2.1"}, []string{"dsl"}},
		{"oss-class-ipad-around-the-filter", oss, mon, policy.Input{MAC: "f0:18:98:6d:11:12", Zone: "teaching", Role: "pupil", Kind: "tablet", Managed: true, Unfiltered: true},
			"block", "pupil-device-unfiltered", "high", []string{"OSS-2.1", "OSS-8"}, []string{"dsl"}},
		{"oss-class-ipad-filtered", oss, mon, policy.Input{MAC: "f0:18:98:6d:11:12", Zone: "teaching", Role: "pupil", Kind: "tablet", Managed: true},
			"allow", "school-devices", "info", []string{"OSS-3", "OSS-7"}, nil},
		{"oss-unfiltered-phone-in-exam-room-is-still-an-exam-breach", oss, exam, policy.Input{Zone: "exam-room", Role: "pupil", Kind: "phone", Unfiltered: true},
			"alert", "exam-room-devices", "critical", []string{"OSS-5"}, []string{"dsl", "exams-officer"}},
		// OSS-2.2: a school laptop is filtered until it goes around the filter.
		{"oss-teacher-laptop-vpn-in-class", oss, mon, policy.Input{MAC: "a4:5e:60:c1:00:13", Zone: "teaching", Role: "staff-direct", Kind: "laptop", Managed: true, Unfiltered: true},
			"alert", "school-device-unfiltered-in-pupil-areas", "medium", []string{"OSS-2.2", "OSS-3", "OSS-8"}, []string{"dsl", "network-admin"}},
		{"oss-teacher-laptop-vpn-in-staffroom", oss, mon, policy.Input{MAC: "a4:5e:60:c1:00:13", Zone: "staffroom", Role: "staff-direct", Kind: "laptop", Managed: true, Unfiltered: true},
			"allow", "school-devices", "info", nil, nil},
		{"oss-teacher-laptop-vpn-after-school", oss, eve, policy.Input{MAC: "a4:5e:60:c1:00:13", Zone: "teaching", Role: "staff-direct", Kind: "laptop", Managed: true, Unfiltered: true},
			"allow", "school-devices", "info", nil, nil},
		// SPT-10: a school device around the filter escapes monitoring; SPT-13 already covers pupils' own.
		{"spt-school-laptop-vpn", spt, mon, policy.Input{Zone: "teaching", Role: "staff-direct", Kind: "laptop", Managed: true, Unfiltered: true},
			"alert", "school-device-unfiltered", "medium", []string{"SPT-10", "SPT-2"}, []string{"dsl", "deputy-dsl"}},
		{"spt-school-laptop-filtered", spt, mon, policy.Input{Zone: "teaching", Role: "staff-direct", Kind: "laptop", Managed: true},
			"allow", "school-devices", "info", []string{"SPT-10"}, nil},
		{"spt-pupil-phone-vpn", spt, mon, policy.Input{Zone: "teaching", Role: "pupil", Kind: "phone", Unfiltered: true},
			"alert", "pupil-device-switched-on", "high", []string{"SPT-13"}, nil},
	}
	for _, tt := range tests {
		d := tt.p.Evaluate(tt.in, tt.at)
		if d.Action != tt.action || d.Rule != tt.rule || d.Severity != tt.severity {
			t.Errorf("%s: %s/%s/%s, want %s/%s/%s (%s)", tt.name, d.Action, d.Rule, d.Severity, tt.action, tt.rule, tt.severity, d.Reason)
		}
		for _, c := range tt.clauses {
			if !contains(d.Clauses, c) {
				t.Errorf("%s: clauses %v lack %s", tt.name, d.Clauses, c)
			}
		}
		for _, n := range tt.notify {
			if !contains(d.Notify, n) {
				t.Errorf("%s: notify %v lacks %s", tt.name, d.Notify, n)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
