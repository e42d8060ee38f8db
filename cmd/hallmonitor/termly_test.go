package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// The governors' summary over the fixture's two school days: the figures add
// up, the term is named from the calendar, and no device is named.
func TestReportTermlyCSVAndHTML(t *testing.T) {
	cfgPath, _ := reportFixture(t)
	out := filepath.Join(t.TempDir(), "term.csv")
	if _, stderr, code := runReportCmd(t, "report", "termly", "--config", cfgPath, "--from", "2026-11-16", "--to", "2026-11-23", "--format", "csv", "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(bytes.NewReader(mustReadFile(t, out))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byZone := map[string][]string{}
	for _, r := range rows[1:] {
		byZone[r[3]] = r
	}
	// term, from, to, zone, school_days, days_with_breach, episodes, breach minutes, present minutes, compliance
	if got := strings.Join(byZone["teaching"], ","); got != "Autumn 2026,2026-11-16,2026-11-23,teaching,6,2,3,63.00,1260.00,95.00" {
		t.Errorf("teaching row %s; want Friday's 21 and Monday's 42 breach minutes over 1260 present", got)
	}
	if got := strings.Join(byZone["All zones"], ","); got != "Autumn 2026,2026-11-16,2026-11-23,All zones,6,2,4,78.00,1320.00,94.09" {
		t.Errorf("totals row %s", got)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("written with mode %v, want 0600", fi.Mode().Perm())
	}
	page, stderr, code := runReportCmd(t, "report", "termly", "--config", cfgPath, "--from", "2026-11-16", "--to", "2026-11-23", "--format", "html", "--term", "Late autumn")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(page, "Late autumn") || !strings.Contains(page, "6 school days, 2026-11-16 to 2026-11-23") {
		t.Errorf("the HTML summary lacks its term or dates")
	}
	if regexp.MustCompile(`device-[0-9a-f]{10}|02:11:22`).MatchString(page) {
		t.Error("the governors' summary names a device")
	}
}

func TestReportTermlyPDFOpens(t *testing.T) {
	tools := lab.RequireTools(t, "pdftoppm")
	cfgPath, _ := reportFixture(t)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "term.pdf")
	if _, stderr, code := runReportCmd(t, "report", "termly", "--config", cfgPath, "--from", "2026-09-01", "--to", "2026-12-18", "-o", pdf); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !bytes.HasPrefix(mustReadFile(t, pdf), []byte("%PDF-")) {
		t.Fatal("the default format is not PDF")
	}
	if out, err := exec.Command(tools[0], "-png", "-r", "30", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm cannot open the summary: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) == 0 {
		t.Fatal("pdftoppm rendered no page")
	}
	for _, p := range pages {
		if b := mustReadFile(t, p); !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 500 {
			t.Errorf("%s is not a rendered page (%d bytes)", p, len(b))
		}
	}
}

func TestReportTermlyErrors(t *testing.T) {
	cfgPath, _ := reportFixture(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"dates required", []string{"--config", cfgPath, "--from", "2026-09-01"}, 2, "--from and --to are required"},
		{"backwards", []string{"--config", cfgPath, "--from", "2026-12-18", "--to", "2026-09-01"}, 2, "on or after --from"},
		{"bad date", []string{"--config", cfgPath, "--from", "2026-13-01", "--to", "2026-12-18"}, 2, "--from"},
		{"bad format", []string{"--config", cfgPath, "--from", "2026-09-01", "--to", "2026-12-18", "--format", "docx"}, 2, "want pdf, html or csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runReportCmd(t, append([]string{"report", "termly"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}
