package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

const (
	sptPolicy = "../../deploy/policies/spt.yaml"
	ossPolicy = "../../deploy/policies/oakham-shires.yaml"
)

func checkAt(t *testing.T, now time.Time, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := check(args, &out, &errb, now)
	return code, out.String(), errb.String()
}

// TestCheckWarnings: the shipped policies are valid; an overdue review date (SPT-14,
// OSS-7) is a warning at the key's position that does not fail the check.
func TestCheckWarnings(t *testing.T) {
	nov22 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		now    time.Time
		config string
		stdout string
		stderr string
	}{
		{"SPT overdue on 22 Nov 2026", nov22, sptPolicy,
			sptPolicy + ": ok (10 zones, 10 rules, 6 register entries, 3 modes), 1 warning\n",
			sptPolicy + ":32:22: warning: policy review was due 2026-09-01 (OSS-7/SPT-14): review the device policy and update school.policy_review_due\n"},
		{"OSS overdue since 2024", nov22, ossPolicy,
			ossPolicy + ": ok (10 zones, 12 rules, 5 register entries, 3 modes), 1 warning\n",
			ossPolicy + ":33:22: warning: policy review was due 2024-07-31 (OSS-7/SPT-14): review the device policy and update school.policy_review_due\n"},
		{"SPT not yet due in August 2026", time.Date(2026, 8, 31, 22, 59, 0, 0, time.UTC), sptPolicy,
			sptPolicy + ": ok (10 zones, 10 rules, 6 register entries, 3 modes)\n", ""},
		{"SPT due at local midnight (23:00Z in BST)", time.Date(2026, 8, 31, 23, 0, 0, 0, time.UTC), sptPolicy,
			sptPolicy + ": ok (10 zones, 10 rules, 6 register entries, 3 modes), 1 warning\n",
			sptPolicy + ":32:22: warning: policy review was due 2026-09-01 (OSS-7/SPT-14): review the device policy and update school.policy_review_due\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := checkAt(t, tc.now, "--config", tc.config)
			if code != 0 || out != tc.stdout || errs != tc.stderr {
				t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, out, tc.stdout, errs, tc.stderr)
			}
		})
	}
}

// TestCheckWarnsOverlapsAndUnreachableRules: warnings name both positions and the
// check still passes.
func TestCheckWarnsOverlapsAndUnreachableRules(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "hm.yaml")
	doc := `school: {name: Test, site_id: test}
interfaces: [{name: eth0}]
zones:
  - {name: hall, type: pupil-area, vlans: [30]}
  - {name: library, type: pupil-area, vlans: [30], subnets: [10.30.5.0/24]}
  - {name: exams, type: exam-room, vlans: [31], aps: [ap-exam-*]}
  - {name: exams-2, type: exam-room, vlans: [31], aps: [ap-exam-2*]}
rules:
  - name: pupils
    when: {roles: [pupil]}
    then: {action: alert, clauses: [OSS-2.1], message: Pupil device.}
  - name: pupil-phones
    when: {roles: [pupil], kinds: [phone], zone_types: [pupil-area]}
    then: {action: block, clauses: [OSS-2.1], message: Pupil phone.}
  - name: nobody
    when: {roles: [pupil], not_roles: [pupil]}
    then: {action: allow}
`
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := checkAt(t, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), "--config", cfg)
	want := []string{
		cfg + `:5:5: warning: zone "library" can match the same devices as zone "hall" at line 4:5 (VLAN 30); the zone listed first wins`,
		cfg + `:7:5: warning: zone "exams-2" can match the same devices as zone "exams" at line 6:5 (VLAN 31); the zone listed first wins`,
		cfg + `:12:5: warning: rule "pupil-phones" is unreachable: rule "pupils" at line 9:5 matches everything it does and comes first`,
		cfg + `:15:5: warning: rule "nobody" can never match: no role meets its conditions`,
	}
	if code != 0 || !strings.HasSuffix(out, "4 warnings\n") || errs != strings.Join(want, "\n")+"\n" {
		t.Errorf("exit %d stdout %q\nstderr:\n%s\nwant:\n%s", code, out, errs, strings.Join(want, "\n"))
	}
}

// TestExplainShippedPolicies: --at takes any offset (07:45Z is 08:45 in London in
// October), --zone a name or a type, on both school policies.
func TestExplainShippedPolicies(t *testing.T) {
	tests := []struct {
		config, at, zone, role, kind string
		action, rule                 string
	}{
		{sptPolicy, "2026-10-13T07:45:00Z", "teaching", "pupil", "phone", "alert", "pupil-device-switched-on"},
		{sptPolicy, "2026-10-13T08:45:00+01:00", "reception", "pupil", "phone", "alert", "pupil-device-switched-on"},
		{sptPolicy, "2026-10-13T07:29:00Z", "teaching", "pupil", "phone", "allow", "default"},
		{sptPolicy, "2026-10-13T02:45:00-05:00", "car-park", "staff-direct", "phone", "allow", "adult-device-permitted"},
		{ossPolicy, "2026-10-13T07:45:00Z", "teaching", "pupil", "phone", "block", "pupil-device-beyond-reception"},
		{ossPolicy, "2026-10-13T08:45:00+01:00", "reception", "pupil", "phone", "allow", "pupil-device-in-reception"},
		{ossPolicy, "2026-10-13T07:45:00Z", "car-park", "staff-direct", "phone", "alert", "staff-device-out-of-staffroom"},
	}
	for _, tc := range tests {
		code, out, errs := runCmd(t, "explain", "--config", tc.config, "--at", tc.at, "--zone", tc.zone, "--role", tc.role, "--kind", tc.kind)
		var d policy.Decision
		if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
			t.Fatalf("%s %s: exit %d out %q err %q", filepath.Base(tc.config), tc.at, code, out, errs)
		}
		if d.Action != tc.action || d.Rule != tc.rule {
			t.Errorf("%s at %s, %s %s in %s: %s by %s, want %s by %s", filepath.Base(tc.config), tc.at, tc.role, tc.kind, tc.zone,
				d.Action, d.Rule, tc.action, tc.rule)
		}
	}
}
