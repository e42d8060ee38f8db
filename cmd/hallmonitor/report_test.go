package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

const (
	pupilPhone = "02:11:22:33:44:01"
	staffPhone = "02:11:22:33:44:02"
	laptop     = "02:11:22:33:44:03"
)

// reportFixture writes the SPT policy with a temporary data_dir and a store holding
// Monday 23 November 2026 and the Friday before it, and returns the config path.
func reportFixture(t *testing.T) (cfgPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgPath = filepath.Join(dir, "hallmonitor.yaml")
	cfg := strings.Replace(string(mustReadFile(t, "../../deploy/policies/spt.yaml")),
		"data_dir: /var/lib/hallmonitor", "data_dir: "+dataDir, 1)
	if err := os.WriteFile(cfgPath, []byte(noInterfaces(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dataDir, "hallmonitor.db"), "spt-01", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	london, _ := time.LoadLocation("Europe/London")
	at := func(day, hhmm string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, london)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	visit := func(mac, zone, day, from, to string) {
		if err := st.RecordZoneVisit(ctx, daemon.ZoneVisit{MAC: mac, Zone: zone, From: at(day, from), To: at(day, to)}); err != nil {
			t.Fatal(err)
		}
	}
	alert := func(mac, zone, rule, day, from, to string) {
		c := at(day, to)
		a := daemon.Alert{ID: ulid.Make().String(), State: daemon.AlertResolved, Severity: "high", Action: "alert",
			OpenedAt: at(day, from), ClosedAt: &c, Device: daemon.AlertDevice{MAC: mac, Kind: "phone"},
			Zone: zone, Rule: rule, Clauses: []string{"SPT-13"}, Outcome: "handed-in"}
		if err := st.InsertAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	const mon, fri = "2026-11-23", "2026-11-20"
	// Monday: 420 + 420 device-minutes in teaching, the pupil phone in breach twice
	// (09:00-09:30, 14:00-14:12): 42 minutes.
	visit(pupilPhone, "teaching", mon, "08:30", "15:30")
	visit(laptop, "teaching", mon, "08:00", "16:00")
	alert(pupilPhone, "teaching", "pupil-device-switched-on", mon, "09:00", "09:30")
	alert(pupilPhone, "teaching", "pupil-device-switched-on", mon, "14:00", "14:12")
	// Monday: a staff phone in the pupil area 12:00-13:00, in breach for 15 minutes.
	visit(staffPhone, "pupil-area", mon, "12:00", "13:00")
	alert(staffPhone, "pupil-area", "staff-direct-device", mon, "12:15", "12:30")
	// Friday: one breach of 21 minutes in 420.
	visit(pupilPhone, "teaching", fri, "08:30", "15:30")
	alert(pupilPhone, "teaching", "pupil-device-switched-on", fri, "10:00", "10:21")
	return cfgPath, dataDir
}

func runReportCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestReportCommandCSV(t *testing.T) {
	cfgPath, dataDir := reportFixture(t)
	outPath := filepath.Join(t.TempDir(), "day.csv")
	if _, stderr, code := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23", "--format", "csv", "--out", outPath); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byZone := map[string][]string{}
	for _, r := range rows[1:] {
		byZone[r[1]] = r
	}
	tests := []struct {
		zone string
		want string // devices_seen,breach_episodes,breach_device_minutes,present_device_minutes,compliance_pct,repeat_devices
	}{
		{"teaching", "2,2,42.00,840.00,95.00,1"},  // 1 − 42/840
		{"pupil-area", "1,1,15.00,60.00,75.00,0"}, // 1 − 15/60
		{"reception", "0,0,0.00,0.00,,0"},         // nobody there: no compliance figure
		{"staffroom", "0,0,0.00,0.00,,0"},
	}
	for _, tc := range tests {
		r, ok := byZone[tc.zone]
		if !ok {
			t.Fatalf("no row for %s in\n%s", tc.zone, b)
		}
		if got := strings.Join(r[2:], ","); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.zone, got, tc.want)
		}
	}
	if len(rows)-1 != 10 {
		t.Errorf("%d zone rows, want one per configured zone (10)", len(rows)-1)
	}
	st, err := os.Stat(filepath.Join(dataDir, render.SecretFile))
	if err != nil {
		t.Fatalf("the pseudonym secret was not created: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret mode %v, want 0600", st.Mode().Perm())
	}
	if fi, _ := os.Stat(outPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("report written with mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestReportCommandPseudonymsAndUnmask(t *testing.T) {
	cfgPath, _ := reportFixture(t)
	page, stderr, code := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(page, pupilPhone) || strings.Contains(page, "02:11:22") {
		t.Fatal("the SLT report shows a MAC address")
	}
	i := strings.Index(page, "<td>device-")
	if i < 0 {
		t.Fatal("the repeat device is not listed by pseudonym")
	}
	pseudonym := page[i+4 : i+4+len("device-")+10]
	for _, s := range []string{"2026-11-20", "95.0%", "overdue (SPT-14)"} { // the trend has Friday; Monday's compliance
		if !strings.Contains(page, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	// The same device has the same pseudonym in a second run (the secret persists).
	again, _, _ := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23")
	if !strings.Contains(again, pseudonym) {
		t.Errorf("pseudonym %s not stable across runs", pseudonym)
	}
	// The DSL can go back from the pseudonym to the MAC, or print MACs outright.
	mac, stderr, code := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23", "--reveal", pseudonym)
	if code != 0 || strings.TrimSpace(mac) != pupilPhone {
		t.Errorf("--reveal %s = %q (exit %d, %s), want %s", pseudonym, mac, code, stderr, pupilPhone)
	}
	unmasked, _, code := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23", "--unmask")
	if code != 0 || !strings.Contains(unmasked, "<td>"+pupilPhone+"</td>") {
		t.Error("--unmask does not show the repeat device's MAC")
	}
}

func TestReportCommandPDF(t *testing.T) {
	tools := lab.RequireTools(t, "pdftoppm")
	cfgPath, _ := reportFixture(t)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "day.pdf")
	if _, stderr, code := runReportCmd(t, "report", "--config", cfgPath, "--day", "2026-11-23", "--format", "pdf", "--out", pdf); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if out, err := exec.Command(tools[0], "-png", "-r", "40", "-f", "1", "-l", "1", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm cannot open the report: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) != 1 {
		t.Fatalf("pdftoppm wrote %v", pages)
	}
	if fi, err := os.Stat(pages[0]); err != nil || fi.Size() == 0 {
		t.Fatalf("first page rendered empty: %v", err)
	}
}

func TestReportCommandErrors(t *testing.T) {
	cfgPath, _ := reportFixture(t)
	emptyDir := t.TempDir()
	noDB := filepath.Join(emptyDir, "hallmonitor.yaml")
	cfg := strings.Replace(string(mustReadFile(t, cfgPath)), filepath.Dir(cfgPath)+"/data", filepath.Join(emptyDir, "nothing"), 1)
	if err := os.WriteFile(noDB, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad format", []string{"--config", cfgPath, "--format", "docx"}, 2, "want html, csv or pdf"},
		{"bad day", []string{"--config", cfgPath, "--day", "2026-02-30"}, 2, "invalid date"},
		{"no database: not a blank report", []string{"--config", noDB, "--day", "2026-11-23"}, 1, "no database at"},
		{"unknown pseudonym", []string{"--config", cfgPath, "--day", "2026-11-23", "--reveal", "device-0000000000"}, 1, "no device recorded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runReportCmd(t, append([]string{"report"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(emptyDir, "nothing")); err == nil {
		t.Error("the report created an empty data directory")
	}
}
