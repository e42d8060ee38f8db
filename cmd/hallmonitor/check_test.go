package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

const exampleConfig = "../../deploy/examples/hallmonitor.yaml"

func runCmd(t *testing.T, name string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{name}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHas  []string
		stderrRows int // lines on stderr, -1 to skip
	}{
		{"valid example", []string{"--config", exampleConfig}, 0,
			exampleConfig + ": ok (9 zones, 8 rules, 3 register entries)\n", nil, 0},
		{"demo school", []string{"--config", "../../adapters/simulate/school.yaml"}, 0,
			"../../adapters/simulate/school.yaml: ok (6 zones, 6 rules, 0 register entries)\n", nil, 0},
		{"every error, one per line", []string{"--config", "../../daemon/config/testdata/bad.yaml"}, 1, "", []string{
			`../../daemon/config/testdata/bad.yaml:6:11: timezone: unknown time zone "Europe/Londn"`,
			`../../daemon/config/testdata/bad.yaml:60:1: configuration: unknown key "colour"`,
			`../../daemon/config/testdata/bad.yaml:62:13: reports daily_at: "16.00": want a 24-hour time HH:MM`,
		}, 23},
		{"missing file", []string{"--config", "/nonexistent/hm.yaml"}, 1, "", []string{"read config: open /nonexistent/hm.yaml: no such file or directory"}, 1},
		{"stray argument", []string{"hm.yaml"}, 2, "", []string{`unexpected argument "hm.yaml"`}, -1},
		{"unknown flag", []string{"--conifg", "x"}, 2, "", []string{"flag provided but not defined: -conifg"}, -1},
		{"help", []string{"--help"}, 0, "", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Before the example's review date, so no review warning is printed.
			var outb, errb bytes.Buffer
			code := check(tc.args, &outb, &errb, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
			out, errs := outb.String(), errb.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errs)
			}
			if tc.name == "help" {
				if !strings.Contains(out, "Usage: hallmonitor check") {
					t.Errorf("help output: %q", out)
				}
				return
			}
			if out != tc.stdout {
				t.Errorf("stdout %q, want %q", out, tc.stdout)
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			if tc.stderrRows >= 0 {
				if n := strings.Count(errs, "\n"); n != tc.stderrRows {
					t.Errorf("stderr has %d lines, want %d:\n%s", n, tc.stderrRows, errs)
				}
			}
		})
	}
}

func TestExplain(t *testing.T) {
	base := []string{"--config", exampleConfig}
	tests := []struct {
		name      string
		args      []string
		action    string
		severity  string
		rule      string
		clauses   []string
		exemption string
	}{
		{"pupil phone in a classroom at 09:00 on a school day (GMT)",
			[]string{"--at", "2026-11-04T09:00:00Z", "--zone", "teaching-blocks", "--role", "pupil", "--kind", "phone"},
			"block", "high", "pupil-device-beyond-reception", []string{"OSS-2.1", "SPT-13"}, ""},
		{"zone given as a type",
			[]string{"--at", "2026-11-04T09:00:00Z", "--zone", "teaching", "--role", "pupil", "--kind", "phone"},
			"block", "high", "pupil-device-beyond-reception", []string{"OSS-2.1", "SPT-13"}, ""},
		{"after school",
			[]string{"--at", "2026-11-04T16:00:00Z", "--zone", "teaching", "--role", "pupil", "--kind", "phone"},
			"allow", "info", "default", []string{}, ""},
		{"08:29 BST is before pupil hours",
			[]string{"--at", "2027-04-13T08:29:00+01:00", "--zone", "teaching", "--role", "pupil", "--kind", "phone"},
			"allow", "info", "default", []string{}, ""},
		{"08:31 BST is inside pupil hours",
			[]string{"--at", "2027-04-13T07:31:00Z", "--zone", "teaching", "--role", "pupil", "--kind", "phone"},
			"block", "high", "pupil-device-beyond-reception", []string{"OSS-2.1", "SPT-13"}, ""},
		{"INSET day inside the summer term",
			[]string{"--at", "2027-06-07T09:00:00+01:00", "--zone", "teaching", "--role", "pupil", "--kind", "phone"},
			"allow", "info", "default", []string{}, ""},
		{"exam hall is critical",
			[]string{"--at", "2026-11-04T10:00:00Z", "--zone", "exam-hall", "--role", "pupil", "--kind", "smartwatch"},
			"alert", "critical", "exam-hall-devices", []string{"OSS-5"}, ""},
		{"managed flag",
			[]string{"--at", "2026-11-04T10:00:00Z", "--zone", "teaching", "--role", "pupil", "--kind", "tablet", "--managed"},
			"allow", "info", "school-devices", []string{"SPT-10", "OSS-3"}, ""},
		{"register supplies role and managed for --mac",
			[]string{"--at", "2026-11-04T10:00:00Z", "--zone", "teaching", "--kind", "tablet", "--mac", "F0-18-98-6D-11-02"},
			"allow", "info", "school-devices", []string{"SPT-10", "OSS-3"}, ""},
		{"medical exemption",
			[]string{"--at", "2026-11-04T10:00:00Z", "--zone", "teaching", "--role", "pupil", "--kind", "phone", "--mac", "02:5e:71:9a:c4:10"},
			"allow", "info", "pupil-device-beyond-reception", []string{"OSS-2.1", "SPT-13"}, "EX-2026-014"},
		{"exemption expired",
			[]string{"--at", "2027-07-22T10:00:00+01:00", "--zone", "staffroom", "--role", "staff-direct", "--kind", "phone", "--mac", "02:5e:71:9a:c4:10"},
			"allow", "info", "default", []string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "explain", append(base, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr: %s", code, errs)
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out)
			}
			for _, k := range []string{"action", "severity", "rule", "clauses", "reason", "exemption"} {
				if _, ok := d[k]; !ok {
					t.Errorf("output lacks %q: %s", k, out)
				}
			}
			var got policy.Decision
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Action != tc.action || got.Severity != tc.severity || got.Rule != tc.rule ||
				strings.Join(got.Clauses, ",") != strings.Join(tc.clauses, ",") || got.Exemption != tc.exemption || got.Reason == "" {
				t.Errorf("decision %+v\nwant %s %s %s %v %q", got, tc.action, tc.severity, tc.rule, tc.clauses, tc.exemption)
			}
			if strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("output is not a single line: %q", out)
			}
		})
	}
}

func TestExplainDefaultsToNow(t *testing.T) {
	code, out, errs := runCmd(t, "explain", "--config", exampleConfig, "--zone", "reception", "--role", "visitor", "--kind", "laptop")
	if code != 0 || !strings.Contains(out, `"action":"allow"`) {
		t.Errorf("exit %d out %q err %q", code, out, errs)
	}
}

func TestExplainBadFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("zones: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := "2026-11-04T09:00:00Z"
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no zone", []string{"--config", exampleConfig, "--kind", "phone"}, 2, "--zone is required"},
		{"no kind", []string{"--config", exampleConfig, "--zone", "teaching"}, 2, "--kind is required"},
		{"unknown kind", []string{"--config", exampleConfig, "--zone", "teaching", "--kind", "phablet"}, 2, `unknown --kind "phablet"`},
		{"unknown role", []string{"--config", exampleConfig, "--zone", "teaching", "--kind", "phone", "--role", "teacher"}, 2, `unknown --role "teacher"`},
		{"unknown zone", []string{"--config", exampleConfig, "--zone", "gym", "--kind", "phone"}, 2, `unknown --zone "gym": not a zone in`},
		{"bad time", []string{"--config", exampleConfig, "--zone", "teaching", "--kind", "phone", "--at", "tomorrow 9am"}, 2, `--at "tomorrow 9am" is not an RFC 3339 time`},
		{"bad mac", []string{"--config", exampleConfig, "--zone", "teaching", "--kind", "phone", "--mac", "zz", "--at", at}, 2, `--mac: invalid MAC address "zz"`},
		{"undefined flag", []string{"--config", exampleConfig, "--place", "x"}, 2, "flag provided but not defined: -place"},
		{"invalid config", []string{"--config", bad, "--zone", "teaching", "--kind", "phone", "--at", at}, 1, bad + ":1:8: zones: expected a list, got \"1\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, "explain", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tc.code, out, errs, tc.want)
			}
		})
	}
}
