package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func shippedScenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../deploy/policies/tests/*.yaml")
	if err != nil || len(files) != 2 {
		t.Fatalf("scenario files: %v %v (want spt and oakham-shires)", files, err)
	}
	return files
}

// TestPolicyTestShippedScenarios: every scenario of both school policies passes, and
// the summary counts all of them.
func TestPolicyTestShippedScenarios(t *testing.T) {
	files := shippedScenarioFiles(t)
	total := 0
	for _, f := range files {
		sf, err := loadScenarios(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		total += len(sf.Scenarios)
	}
	code, out, errs := runCmd(t, "policy", append([]string{"test"}, files...)...)
	if want := fmt.Sprintf("%d passed, 0 failed\n", total); code != 0 || out != want || errs != "" {
		t.Errorf("exit %d, stdout:\n%s\nwant %q; stderr %q", code, out, want, errs)
	}
	if total < 140 {
		t.Errorf("only %d scenarios", total)
	}
}

// TestPolicyTestReportsFailures: a wrong expectation fails with the scenario's
// FILE:LINE:COL and what differed; the exit status is 1.
func TestPolicyTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	spt, err := filepath.Abs(sptPolicy)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wrong_test.yaml")
	doc := `policy: ` + spt + `
scenarios:
  - {name: right, at: 2026-11-23T10:00:00Z, zone: teaching, role: pupil, kind: phone, expect: {action: alert}}
  - name: wrong
    at: 2026-11-23T10:00:00Z
    zone: reception
    role: pupil
    kind: phone
    expect: {action: allow, clauses: [OSS-2.1], severity: high}
  - {name: no-such-zone, at: 2026-11-23T10:00:00Z, zone: gym, kind: phone, expect: {action: allow}}
`
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "policy", "test", file)
	want := []string{
		file + `:4:5: FAIL wrong: action is "alert", want "allow"; clauses [SPT-13 SPT-2] lack OSS-2.1 (reason: Rule pupil-device-switched-on:`,
		file + `:10:5: FAIL no-such-zone: unknown zone "gym"`,
		"1 passed, 2 failed\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if code != 1 || strings.Count(out, "\n") != 3 {
		t.Errorf("exit %d, %d lines, want 1 and 3:\n%s", code, strings.Count(out, "\n"), out)
	}
}

// TestPolicyTestInvalidFiles: a malformed table is reported at its positions and
// its scenarios are not run; a missing file argument is a usage error.
func TestPolicyTestInvalidFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad_test.yaml")
	doc := `policy: ../nowhere.yaml
scenarios:
  - {name: a, at: "23 Nov 2026", zone: teaching, role: teacher, kind: phone, expect: {acton: allow}}
`
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "policy", "test", bad)
	for _, w := range []string{
		bad + `:3:19: scenario at: "23 Nov 2026" is not an RFC 3339 time`,
		bad + `:3:56: scenario role: unknown role "teacher"`,
		bad + `:3:87: scenario expect: unknown key "acton" (did you mean "action"?)`,
		"0 passed, 0 failed, 1 file not run\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	missing := filepath.Join(dir, "missing-policy_test.yaml")
	os.WriteFile(missing, []byte("policy: nowhere.yaml\nscenarios: []\n"), 0o644)
	if code, out, _ := runCmd(t, "policy", "test", missing); code != 1 || !strings.Contains(out, missing+":1:9: policy "+filepath.Join(dir, "nowhere.yaml")+" is invalid") {
		t.Errorf("missing policy: exit %d\n%s", code, out)
	}
	if code, _, errs := runCmd(t, "policy", "test"); code != 2 || !strings.Contains(errs, "give at least one scenario file") {
		t.Errorf("no files: exit %d %q", code, errs)
	}
	if code, _, errs := runCmd(t, "policy", "lint"); code != 2 || !strings.Contains(errs, `unknown subcommand "lint"`) {
		t.Errorf("unknown subcommand: exit %d %q", code, errs)
	}
}

// coverageRow is one clause row of docs/policy-coverage.md.
type coverageRow struct {
	clause, status string
	rules, tests   []string
}

func readCoverageDoc(t *testing.T) []coverageRow {
	t.Helper()
	data, err := os.ReadFile("../../docs/policy-coverage.md")
	if err != nil {
		t.Fatal(err)
	}
	tick := regexp.MustCompile("`([^`]+)`")
	names := func(cell string) []string {
		var out []string
		for _, m := range tick.FindAllStringSubmatch(cell, -1) {
			out = append(out, m[1])
		}
		return out
	}
	var rows []coverageRow
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 {
			continue
		}
		clause := strings.TrimSpace(cells[1])
		if !policy.IsClause(clause) {
			continue
		}
		rows = append(rows, coverageRow{clause: clause, status: strings.TrimSpace(cells[2]), rules: names(cells[3]), tests: names(cells[4])})
	}
	return rows
}

// TestPolicyCoverageDoc: docs/policy-coverage.md lists every clause once; every clause
// it calls encoded is cited by the rules, modes or exemptions it names (and by at
// least one) in that school's policy file and by the scenarios it names (at least
// one); no rule cites a clause the document calls out of scope; every clause a rule
// cites is in the document as encoded.
func TestPolicyCoverageDoc(t *testing.T) {
	files := map[string]struct{ policy, tests string }{
		"SPT": {sptPolicy, "../../deploy/policies/tests/spt_test.yaml"},
		"OSS": {ossPolicy, "../../deploy/policies/tests/oakham-shires_test.yaml"},
	}
	cited := map[string]map[string][]string{} // school -> name -> clauses
	scen := map[string]map[string][]string{}
	for school, f := range files {
		cfg, err := config.Load(f.policy)
		if err != nil {
			t.Fatal(err)
		}
		cited[school] = map[string][]string{}
		for _, r := range cfg.Policy.Rules() {
			cited[school][r.Name] = r.Then.Clauses
		}
		for _, m := range cfg.Policy.Modes() {
			cited[school][m.Name] = m.Clauses
		}
		for _, e := range cfg.Policy.Exemptions() {
			cited[school][e.ID] = e.Clauses
		}
		sf, err := loadScenarios(f.tests)
		if err != nil {
			t.Fatal(err)
		}
		scen[school] = map[string][]string{}
		for _, s := range sf.Scenarios {
			scen[school][s.Name] = s.Expect.Clauses
		}
	}
	rows := readCoverageDoc(t)
	seen := map[string]string{}
	for _, r := range rows {
		school, _, _ := strings.Cut(r.clause, "-")
		if _, dup := seen[r.clause]; dup {
			t.Errorf("%s is listed twice", r.clause)
		}
		seen[r.clause] = r.status
		switch r.status {
		case "encoded":
			if len(r.rules) == 0 || len(r.tests) == 0 {
				t.Errorf("%s is encoded but names %d rules and %d scenarios", r.clause, len(r.rules), len(r.tests))
			}
			for _, n := range r.rules {
				c, ok := cited[school][n]
				if !ok {
					t.Errorf("%s: %q is no rule, mode or exemption of %s", r.clause, n, files[school].policy)
				} else if !slices.Contains(c, r.clause) {
					t.Errorf("%s: %s cites %v, not %s", r.clause, n, c, r.clause)
				}
			}
			for _, n := range r.tests {
				c, ok := scen[school][n]
				if !ok {
					t.Errorf("%s: no scenario %q in %s", r.clause, n, files[school].tests)
				} else if !slices.Contains(c, r.clause) {
					t.Errorf("%s: scenario %s expects %v, not %s", r.clause, n, c, r.clause)
				}
			}
		case "config", "out of scope":
			for n, c := range cited[school] {
				if slices.Contains(c, r.clause) {
					t.Errorf("%s is %q in the document, but %s cites it", r.clause, r.status, n)
				}
			}
		default:
			t.Errorf("%s: unknown status %q", r.clause, r.status)
		}
	}
	for _, c := range policy.Clauses {
		if _, ok := seen[c]; !ok {
			t.Errorf("%s is not in docs/policy-coverage.md", c)
		}
	}
	for school, names := range cited {
		for n, cs := range names {
			for _, c := range cs {
				if seen[c] != "encoded" {
					t.Errorf("%s: %s cites %s, which the document does not list as encoded", school, n, c)
				}
			}
		}
	}
}
