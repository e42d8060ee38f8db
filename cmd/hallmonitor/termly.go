package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/report"
)

// maxTermDays bounds a termly summary (a school year and a bit).
const maxTermDays = 400

// runTermly is `hallmonitor report termly`: the governors' summary of the school
// days from --from to --to.
func runTermly(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report termly", "--config FILE --from YYYY-MM-DD --to YYYY-MM-DD [--format pdf|html|csv] [-o FILE] [--term NAME]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file (storage.data_dir, zones, schedules, calendar)")
	fromStr := fs.String("from", "", "the first day, YYYY-MM-DD (required)")
	toStr := fs.String("to", "", "the last day, YYYY-MM-DD (required)")
	format := fs.String("format", "pdf", "pdf, html or csv")
	var out string
	fs.StringVar(&out, "out", "", "write the summary to this file (mode 0600) instead of standard output")
	fs.StringVar(&out, "o", "", "the same as --out")
	term := fs.String("term", "", "the term's name on the summary (default: the calendar term holding --from, else the dates)")
	schedule := fs.String("schedule", "pupil-hours", "the schedule that defines pupil hours")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *format != "html" && *format != "csv" && *format != "pdf" {
		fmt.Fprintf(stderr, "report termly: --format %q: want pdf, html or csv\n", *format)
		return 2
	}
	if *fromStr == "" || *toStr == "" {
		fmt.Fprintln(stderr, "report termly: --from and --to are required")
		return 2
	}
	from, err := calendar.ParseDate(*fromStr)
	if err != nil {
		fmt.Fprintf(stderr, "report termly: --from: %v\n", err)
		return 2
	}
	to, err := calendar.ParseDate(*toStr)
	if err != nil {
		fmt.Fprintf(stderr, "report termly: --to: %v\n", err)
		return 2
	}
	if to.Compare(from) < 0 || to.Days()-from.Days() >= maxTermDays {
		fmt.Fprintf(stderr, "report termly: --to must be on or after --from and within %d days of it\n", maxTermDays)
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "report termly: %v\n", err)
		return 1
	}
	defer st.Close()
	name := *term
	if name == "" {
		name = termName(cfg.Policy.Calendar(), from, to)
	}
	t, err := buildTermly(ctx, st, cfg, from, to, *schedule, name, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "report termly: %v\n", err)
		return 1
	}
	if err := writeTermly(t, cfg.School.Name, *format, out, stdout); err != nil {
		fmt.Fprintf(stderr, "report termly: %v\n", err)
		return 1
	}
	return 0
}

// termName is the calendar term holding from, or "FROM to TO".
func termName(cal *calendar.Calendar, from, to calendar.Date) string {
	for _, r := range cal.Terms() {
		if r.Contains(from) && r.Name != "" {
			return r.Name
		}
	}
	return fmt.Sprintf("%s to %s", from, to)
}

// buildTermly computes the daily report of every school day from..to (no trend)
// and sums them. Devices are counted by pseudonym and never named.
func buildTermly(ctx context.Context, st *store.Store, cfg *config.Config, from, to calendar.Date, schedule, name string, now time.Time) (report.TermlyReport, error) {
	secret, err := render.LoadOrCreateSecret(cfg.Storage.DataDir)
	if err != nil {
		return report.TermlyReport{}, err
	}
	pseudonym := report.Pseudonymiser(secret)
	cal := cfg.Policy.Calendar()
	var days []report.DailyReport
	for d := from; d.Compare(to) <= 0; d = d.AddDays(1) {
		if !cal.IsSchoolDay(d) {
			continue
		}
		in, err := dayInput(ctx, st, cfg, d, schedule, now)
		if err != nil {
			return report.TermlyReport{}, err
		}
		days = append(days, report.Daily(in, pseudonym))
	}
	return report.Termly(days, name), nil
}

func renderTermly(w io.Writer, t report.TermlyReport, site, format string) error {
	switch format {
	case "csv":
		return render.RenderTermlyCSV(w, t)
	case "html":
		return render.RenderTermlyHTML(w, t, site)
	default:
		return render.RenderTermlyPDF(w, t, site)
	}
}

func writeTermly(t report.TermlyReport, site, format, out string, stdout io.Writer) (err error) {
	if out == "" {
		return renderTermly(stdout, t, site, format)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write the summary: %w", cerr)
		}
	}()
	return renderTermly(f, t, site, format)
}
