package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/report"
)

func init() {
	register("report", "the SLT's daily zone-compliance report (HTML, CSV or PDF); report termly: the governors' summary", runReport)
}

// reportLookback is how far before the day alerts are read, so an episode that
// opened the day before and was still open is counted.
const reportLookback = 24 * time.Hour

// maxTrendLookback bounds the search for earlier school days (holidays are long).
const maxTrendLookback = 60

type reportOptions struct {
	day       calendar.Date
	schedule  string
	trendDays int
	unmask    bool
	now       time.Time
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "termly" {
		return runTermly(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("report", "--config FILE --day YYYY-MM-DD [--format html|csv|pdf] [--out FILE] [--unmask] [--reveal PSEUDONYM]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file (storage.data_dir, zones, schedules, calendar)")
	dayStr := fs.String("day", "", "the school day to report, YYYY-MM-DD in the school's time zone (default: today)")
	format := fs.String("format", "html", "html, csv or pdf")
	out := fs.String("out", "", "write the report to this file (mode 0600) instead of standard output")
	unmask := fs.Bool("unmask", false, "show devices' MAC addresses instead of pseudonyms (for the DSL only)")
	reveal := fs.String("reveal", "", "print the MAC address behind a pseudonym seen that day (for the DSL only), then exit")
	schedule := fs.String("schedule", "pupil-hours", "the schedule that defines pupil hours")
	trend := fs.Int("trend-days", 5, "how many earlier school days the trend shows")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *format != "html" && *format != "csv" && *format != "pdf" {
		fmt.Fprintf(stderr, "report: --format %q: want html, csv or pdf\n", *format)
		return 2
	}
	if *trend < 0 || *trend > 60 {
		fmt.Fprintln(stderr, "report: --trend-days must be 0..60")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	loc := cfg.Policy.Location()
	now := time.Now()
	day := calendar.DateOf(now.In(loc))
	if *dayStr != "" {
		if day, err = calendar.ParseDate(*dayStr); err != nil {
			fmt.Fprintf(stderr, "report: --day: %v\n", err)
			return 2
		}
	}
	opts := reportOptions{day: day, schedule: *schedule, trendDays: *trend, unmask: *unmask, now: now}

	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	defer st.Close()

	if *reveal != "" {
		mac, err := revealPseudonym(ctx, st, cfg, day, *reveal)
		if err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, mac)
		return 0
	}

	d, err := buildDaily(ctx, st, cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	if err := writeReport(d, cfg.School.Name, *format, *out, stdout); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	return 0
}

// openExistingStore opens the daemon's database; unlike store.Open it refuses to
// create an empty one (a report from a wrong data_dir would otherwise read as a
// perfect day).
func openExistingStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	path := dbPath(cfg)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s (is storage.data_dir right?)", path)
		}
		return nil, fmt.Errorf("database: %w", err)
	}
	st, err := store.Open(ctx, path, cfg.School.SiteID, zap.NewNop())
	if err != nil {
		return nil, fmt.Errorf("open the store: %w", err)
	}
	return st, nil
}

// buildDaily reads the day (and the trend's earlier school days) from the store and
// computes the report.
func buildDaily(ctx context.Context, st *store.Store, cfg *config.Config, o reportOptions) (report.DailyReport, error) {
	pseudonym := func(mac string) string { return mac }
	if !o.unmask {
		secret, err := render.LoadOrCreateSecret(cfg.Storage.DataDir)
		if err != nil {
			return report.DailyReport{}, err
		}
		pseudonym = report.Pseudonymiser(secret)
	}
	in, err := dayInput(ctx, st, cfg, o.day, o.schedule, o.now)
	if err != nil {
		return report.DailyReport{}, err
	}
	for _, prev := range report.PreviousSchoolDays(cfg.Policy.Calendar(), o.day, o.trendDays, maxTrendLookback) {
		pin, err := dayInput(ctx, st, cfg, prev, o.schedule, o.now)
		if err != nil {
			return report.DailyReport{}, err
		}
		in.Previous = append(in.Previous, report.Daily(pin, pseudonym).Summary())
	}
	return report.Daily(in, pseudonym), nil
}

// dayInput maps one day's store records into the report's input.
func dayInput(ctx context.Context, st *store.Store, cfg *config.Config, day calendar.Date, schedule string, now time.Time) (report.Input, error) {
	loc := cfg.Policy.Location()
	start := report.Midnight(day, loc)
	end := report.Midnight(day.AddDays(1), loc)
	in := report.Input{
		Day:             start,
		Loc:             loc,
		Now:             now,
		PupilHours:      report.PupilWindows(cfg.Policy, schedule, day),
		PolicyReviewDue: cfg.School.PolicyReviewDue,
	}
	for _, z := range cfg.Policy.Zones() {
		in.Zones = append(in.Zones, z.Name)
	}
	visits, err := st.ZoneVisits(ctx, "", start, end)
	if err != nil {
		return report.Input{}, fmt.Errorf("%s: %w", day, err)
	}
	for _, v := range visits {
		in.Visits = append(in.Visits, report.Visit{MAC: v.MAC, Zone: v.Zone, From: v.From, To: v.To})
	}
	alerts, err := dayAlerts(ctx, st, start, end)
	if err != nil {
		return report.Input{}, fmt.Errorf("%s: %w", day, err)
	}
	enforcing := cfg.Enforcement.Mode == config.ModeEnforce
	for _, a := range alerts {
		in.Alerts = append(in.Alerts, report.Alert{ID: a.ID, MAC: a.Device.MAC, Zone: a.Zone, Rule: a.Rule,
			Severity: a.Severity, Clauses: a.Clauses, Opened: a.OpenedAt, Closed: a.ClosedAt, Outcome: a.Outcome})
		if a.Outcome == "exemption" {
			in.ExemptionsUsed++
		}
		if enforcing && a.Action == "block" {
			in.EnforcementActions++
		}
	}
	return in, nil
}

// dayAlerts returns the alerts whose episode overlaps [start, end): those opened
// from reportLookback before the day, plus any still open. The store lists alerts
// newest first up to its cap; if the cap cut into the day, the figures would be
// short, so that is an error rather than a quiet undercount.
func dayAlerts(ctx context.Context, st *store.Store, start, end time.Time) ([]daemon.Alert, error) {
	const limit = 10000 // the store's maximum page
	listed, err := st.ListAlerts(ctx, daemon.AlertFilter{Since: start.Add(-reportLookback), Limit: limit})
	if err != nil {
		return nil, err
	}
	if len(listed) == limit && !listed[len(listed)-1].OpenedAt.Before(start) {
		return nil, fmt.Errorf("more than %d alerts since %s: the store cannot list that day's alerts completely (it lists newest first)", limit, start.Format(time.DateOnly))
	}
	open, err := st.OpenAlerts(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []daemon.Alert
	for _, a := range slices.Concat(listed, open) {
		if seen[a.ID] || !a.OpenedAt.Before(end) || (a.ClosedAt != nil && a.ClosedAt.Before(start)) {
			continue
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	return out, nil
}

// revealPseudonym finds the MAC behind a pseudonym among the devices recorded on day.
func revealPseudonym(ctx context.Context, st *store.Store, cfg *config.Config, day calendar.Date, pseudonym string) (string, error) {
	secret, err := render.LoadOrCreateSecret(cfg.Storage.DataDir)
	if err != nil {
		return "", err
	}
	in, err := dayInput(ctx, st, cfg, day, "", time.Time{})
	if err != nil {
		return "", err
	}
	var macs []string
	for _, v := range in.Visits {
		macs = append(macs, v.MAC)
	}
	for _, a := range in.Alerts {
		macs = append(macs, a.MAC)
	}
	mac, ok := report.Unmasker(secret, macs)(pseudonym)
	if !ok {
		return "", fmt.Errorf("no device recorded on %s has the pseudonym %q", day, pseudonym)
	}
	return mac, nil
}

func writeReport(d report.DailyReport, site, format, out string, stdout io.Writer) (err error) {
	w := stdout
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write the report: %w", cerr)
			}
		}()
		w = f
	}
	switch format {
	case "csv":
		return render.RenderCSV(w, d)
	case "pdf":
		return render.RenderPDF(w, d, site)
	default:
		return render.RenderHTML(w, d, site)
	}
}

// dashboardReports renders daily reports for the dashboard's /reports page from
// the running daemon's store (dashboard.ReportRenderer).
type dashboardReports struct {
	cfg *config.Config
	st  *store.Store
}

func (r dashboardReports) Daily(ctx context.Context, day time.Time, format string, w io.Writer, unmask bool) error {
	d, err := buildDaily(ctx, r.st, r.cfg, reportOptions{day: calendar.DateOf(day.In(r.cfg.Policy.Location())),
		schedule: "pupil-hours", trendDays: 5, unmask: unmask, now: time.Now()})
	if err != nil {
		return err
	}
	switch format {
	case "csv":
		return render.RenderCSV(w, d)
	case "pdf":
		return render.RenderPDF(w, d, r.cfg.School.Name)
	case "html":
		return render.RenderHTML(w, d, r.cfg.School.Name)
	}
	return fmt.Errorf("report format %q: want html, csv or pdf", format)
}
