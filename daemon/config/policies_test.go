package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

var shippedPolicies = []string{"../../deploy/policies/spt.yaml", "../../deploy/policies/oakham-shires.yaml"}

// TestShippedPoliciesLoad: both school policies are valid, have no warnings but the
// overdue review, and the OSS calendar imported from .ics is the same school year
// as the SPT one written in YAML.
func TestShippedPoliciesLoad(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var cals []*calendar.Calendar
	for _, f := range shippedPolicies {
		cfg, err := config.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ws := cfg.Warnings(now)
		if len(ws) != 1 || !strings.Contains(ws[0].Msg, "policy review was due") || !cfg.ReviewOverdue(now) {
			t.Errorf("%s: warnings %v, want only the overdue review", f, ws)
		}
		for _, z := range cfg.Policy.Zones() {
			if z.Name != z.Type {
				t.Errorf("%s: zone %q has type %q; zones are named like their types", f, z.Name, z.Type)
			}
		}
		cals = append(cals, cfg.Policy.Calendar())
	}
	for d := (calendar.Date{Year: 2026, Month: 8, Day: 20}); d.Compare(calendar.Date{Year: 2027, Month: 8, Day: 1}) < 0; d = d.AddDays(1) {
		if a, b := cals[0].IsSchoolDay(d), cals[1].IsSchoolDay(d); a != b {
			t.Errorf("%s: school day %v in spt.yaml, %v from the .ics", d, a, b)
		}
		if a, b := cals[0].IsStaffDay(d), cals[1].IsStaffDay(d); a != b {
			t.Errorf("%s: staff day %v in spt.yaml, %v from the .ics", d, a, b)
		}
	}
	school := 0
	for d := (calendar.Date{Year: 2026, Month: 9, Day: 1}); d.Compare(calendar.Date{Year: 2027, Month: 8, Day: 1}) < 0; d = d.AddDays(1) {
		if cals[0].IsSchoolDay(d) {
			school++
		}
	}
	if school != 190 { // the English school year: 190 pupil days (195 with the 5 INSET days)
		t.Errorf("%d school days in 2026-27, want 190", school)
	}
}

const icsConfig = `school: {name: Test, site_id: test, review_by: 2027-07-31}
interfaces: [{name: eth0}]
zones: [{name: teaching, type: teaching, vlans: [30]}]
schedules: [{name: day, days: school-days, from: "08:30", to: "15:30"}]
calendar:
  ics: %s
  inset_days: [2026-11-27]
rules: [{name: r, when: {schedule: day}, then: {action: allow}}]
`

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCalendarICS(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cal", "terms.ics"), "BEGIN:VCALENDAR\r\n"+
		"BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260903\r\nDTEND;VALUE=DATE:20261219\r\nSUMMARY:Autumn term\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261026\r\nDTEND;VALUE=DATE:20261031\r\nSUMMARY:Half term\r\nEND:VEVENT\r\n"+
		"BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261120\r\nSUMMARY:Open evening\r\nEND:VEVENT\r\n"+
		"END:VCALENDAR\r\n")
	writeFile(t, filepath.Join(dir, "cal", "bad.ics"), "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2026-09-03\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	cfgPath := filepath.Join(dir, "hm.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(icsConfig, "cal/terms.ics"))

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Policy.Calendar()
	for d, want := range map[string]bool{"2026-09-03": true, "2026-10-27": false, "2026-11-27": false, "2026-11-26": true, "2026-12-21": false} {
		dt, _ := calendar.ParseDate(d)
		if c.IsSchoolDay(dt) != want {
			t.Errorf("%s: school day %v, want %v (terms from the .ics, INSET from the YAML)", d, !want, want)
		}
	}
	ws := cfg.Warnings(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	if len(ws) != 1 || ws[0].Error() != cfgPath+`:6:8: calendar ics: cal/terms.ics:12: event "Open evening" matches no term, holiday or INSET keyword and is ignored` {
		t.Errorf("warnings %v", ws)
	}
	if got := cfg.School.PolicyReviewDue.Format(time.DateOnly); got != "2027-07-31" {
		t.Errorf("review_by = %s, want 2027-07-31 (the same as policy_review_due)", got)
	}

	for _, tc := range []struct{ ics, want string }{
		{"cal/missing.ics", `:6:8: calendar ics: read ` + filepath.Join(dir, "cal", "missing.ics") + `: stat `},
		{"cal/bad.ics", `:6:8: calendar ics: cal/bad.ics: line 3: DTSTART: invalid date-time "2026-09-03"`},
		{"cal", `:6:8: calendar ics: read ` + filepath.Join(dir, "cal") + `: not a regular file`},
	} {
		writeFile(t, cfgPath, fmt.Sprintf(icsConfig, tc.ics))
		_, err := config.Load(cfgPath)
		if err == nil || !strings.Contains(err.Error(), cfgPath+tc.want) {
			t.Errorf("ics %s: error %v\nwant it to contain %s%s", tc.ics, err, cfgPath, tc.want)
		}
	}
	// Parsed from bytes (no file), a relative ics is resolved against the name's directory.
	if _, err := config.ParseWithFiles("hm.yaml", []byte(fmt.Sprintf(icsConfig, "x.ics")), nil); err == nil ||
		!strings.Contains(err.Error(), `hm.yaml:6:8: calendar ics: "x.ics": this policy is not read from a file`) {
		t.Errorf("no reader: %v", err)
	}
}

func TestReviewKeys(t *testing.T) {
	doc := "school: {name: T, site_id: t, policy_review_due: 2026-09-01, review_by: 2026-10-01}\ninterfaces: [{name: eth0}]\nzones: [{name: a, type: teaching, vlans: [1]}]\nrules: [{name: r, then: {action: allow}}]\n"
	_, err := config.Parse("hm.yaml", []byte(doc))
	if err == nil || err.Error() != "hm.yaml:1:62: school: give policy_review_due or review_by, not both (policy_review_due is at line 1)" {
		t.Errorf("both keys: %v", err)
	}
}

// benchInputs is a mixed fleet: every role, kind and zone the shipped policies know,
// managed and not, some MACs on the register or exempted.
func benchInputs(p *policy.Policy, n int) []policy.Input {
	roles := append(append([]string{}, policy.Roles...), "")
	kinds := []string{"phone", "phone", "tablet", "smartwatch", "laptop", "unknown", "games-console", "e-reader"}
	zones := p.Zones()
	reg := p.RegisterEntries()
	out := make([]policy.Input, n)
	for i := range out {
		z := zones[i%len(zones)]
		in := policy.Input{
			MAC:  fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			Zone: z.Name, ZoneType: z.Type, Role: roles[i%len(roles)], Kind: kinds[i%len(kinds)], Managed: i%5 == 0,
		}
		if i%17 == 0 {
			e := reg[i%len(reg)]
			in.MAC, in.Role, in.Kind, in.Managed = e.MAC, e.Role, e.Kind, e.Managed
		}
		out[i] = in
	}
	return out
}

// BenchmarkEvaluate: one decision on a shipped policy (target ≤ 1 µs).
func BenchmarkEvaluate(b *testing.B) {
	for _, f := range shippedPolicies {
		cfg, err := config.Load(f)
		if err != nil {
			b.Fatal(err)
		}
		p := cfg.Policy
		ins := benchInputs(p, 1024)
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = p.Evaluate(ins[i%len(ins)], at)
			}
		})
	}
}

// BenchmarkReevaluate10000: every device of a 10,000-device fleet at one instant, as
// the daemon does at a schedule edge (target ≤ 20 ms).
func BenchmarkReevaluate10000(b *testing.B) {
	for _, f := range shippedPolicies {
		cfg, err := config.Load(f)
		if err != nil {
			b.Fatal(err)
		}
		p := cfg.Policy
		ins := benchInputs(p, 10000)
		at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				breaches := 0
				for i := range ins {
					if p.Evaluate(ins[i], at).Breach() {
						breaches++
					}
				}
				if breaches == 0 {
					b.Fatal("no breaches in a mixed fleet during pupil hours")
				}
			}
		})
	}
}
