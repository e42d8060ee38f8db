package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/simulate"
)

// simulatedDay writes the demo school's day as a pcap, and the demo configuration
// with the simulated school's register (and, with pupilBlock, the pupil rule turned
// into a block) into dir.
func simulatedDay(t *testing.T, dir string, pupilBlock bool) (cfgPath, pcapPath string, school *simulate.School) {
	t.Helper()
	day, err := simulate.SchoolDay(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	s, err := simulate.New(simulate.Options{Seed: 7, Day: day})
	if err != nil {
		t.Fatal(err)
	}
	var pcap bytes.Buffer
	if err := s.WritePcap(&pcap); err != nil {
		t.Fatal(err)
	}
	pcapPath = filepath.Join(dir, "day.pcap")
	if err := os.WriteFile(pcapPath, pcap.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var reg strings.Builder
	reg.WriteString("register:\n")
	for _, e := range s.Register() {
		fmt.Fprintf(&reg, "  - {mac: %q, role: %s, owner: %q, kind: %s, managed: %v}\n", e.MAC, e.Role, e.Owner, e.Kind, e.Managed)
	}
	doc := string(simulate.Embedded())
	if !strings.Contains(doc, "register: []\n") {
		t.Fatal("school.yaml has no empty register to fill")
	}
	doc = strings.Replace(doc, "register: []\n", reg.String(), 1)
	if pupilBlock {
		const alert = "      action: alert\n      severity: high\n      clauses: [OSS-2.1, SPT-13]"
		if !strings.Contains(doc, alert) {
			t.Fatal("school.yaml's pupil rule changed")
		}
		doc = strings.Replace(doc, alert, strings.Replace(alert, "alert", "block", 1), 1)
	}
	cfgPath = filepath.Join(dir, "school.yaml")
	if err := os.WriteFile(cfgPath, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, pcapPath, s
}

// TestSimulateShadowReport: a simulated school day replayed in shadow mode reports,
// per rule, the episodes and devices the simulation planned as breaches (its ground
// truth), per zone the same total, and marks blocks "would block".
func TestSimulateShadowReport(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a whole simulated day")
	}
	dir := t.TempDir()
	cfg, pcap, school := simulatedDay(t, dir, true)
	code, out, errs := runCmd(t, "simulate", "--config", cfg, "--pcap", pcap, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep shadowReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	planned := map[string]map[string]bool{} // rule -> MACs
	for _, b := range school.ExpectedBreaches() {
		if planned[b.Rule] == nil {
			planned[b.Rule] = map[string]bool{}
		}
		planned[b.Rule][b.MAC] = true
	}
	byRule := map[string]shadowRule{}
	for _, r := range rep.ByRule {
		byRule[r.Rule] = r
	}
	for _, rule := range []string{"pupil-device-beyond-reception", "exam-room-devices"} {
		got, want := byRule[rule], planned[rule]
		if len(want) == 0 {
			t.Fatalf("the simulated day plans no %s breach", rule)
		}
		if got.Devices != len(want) || got.Episodes < got.Devices {
			t.Errorf("%s: %d episodes on %d devices, planned %d devices", rule, got.Episodes, got.Devices, len(want))
		}
	}
	if r := byRule["pupil-device-beyond-reception"]; r.Action != "would block" || r.Severity != "high" {
		t.Errorf("pupil rule reported as %q %q, want \"would block\" high", r.Action, r.Severity)
	}
	if r := byRule["exam-room-devices"]; r.Action != "alert" || r.Severity != "critical" || strings.Join(r.Zones, ",") != "exam-room" {
		t.Errorf("exam rule: %+v", r)
	}
	sum, block := 0, 0
	for _, z := range rep.ByZone {
		sum += z.Episodes
		block += z.WouldBlock
		if z.Alerts+z.WouldBlock != z.Episodes {
			t.Errorf("zone %s: %d alerts + %d would block != %d episodes", z.Zone, z.Alerts, z.WouldBlock, z.Episodes)
		}
	}
	if sum != rep.Episodes || block != byRule["pupil-device-beyond-reception"].Episodes || rep.Devices < 300 {
		t.Errorf("zones add to %d (would block %d), report says %d episodes on %d devices", sum, block, rep.Episodes, rep.Devices)
	}

	code, text, errs := runCmd(t, "simulate", "--config", cfg, "--pcap", pcap)
	if code != 0 {
		t.Fatalf("text: exit %d: %s", code, errs)
	}
	for _, w := range []string{"nothing was enforced", fmt.Sprintf("%d alert episodes on %d devices", rep.Episodes, rep.Flagged),
		"pupil-device-beyond-reception", "would block", "WOULD BLOCK"} {
		if !strings.Contains(text, w) {
			t.Errorf("text report lacks %q:\n%s", w, text)
		}
	}
}

func TestSimulateBadUsage(t *testing.T) {
	if code, _, errs := runCmd(t, "simulate", "--config", exampleConfig); code != 2 || !strings.Contains(errs, "--pcap is required") {
		t.Errorf("no pcap: exit %d %q", code, errs)
	}
	if code, _, errs := runCmd(t, "simulate", "--config", exampleConfig, "--pcap", "/nonexistent.pcap"); code != 1 || !strings.Contains(errs, "nonexistent.pcap") {
		t.Errorf("missing pcap: exit %d %q", code, errs)
	}
}
