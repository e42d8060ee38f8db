package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/notify"
	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/report"
)

// Report e-mail timing.
const (
	// reportCatchUp is how long after daily_at a missed report (the daemon was
	// down, the mail server was out) is still sent; after it the run is failed.
	reportCatchUp = 24 * time.Hour
	// reportRetryFirst and reportRetryMax bound the backoff between attempts.
	reportRetryFirst = time.Minute
	reportRetryMax   = 30 * time.Minute
	// reportSendTimeout bounds one attempt (rendering and the SMTP conversation).
	reportSendTimeout = 2 * time.Minute
)

// reportMailer e-mails the SLT's daily report at reports.daily_at (school time)
// and, when configured, the governors' termly summary on each term's last school
// day. Reports are always pseudonymised. Each (kind, day) is recorded in the
// store before the first attempt and marked sent once the mail server accepts
// it, so a restart sends a missed report once and a sent one never again.
type reportMailer struct {
	cfg   *config.Config
	st    *store.Store
	smtp  *notify.SMTP
	clock daemon.Clock
	log   *zap.Logger
	// unrecorded are runs the mail server accepted but the store did not record
	// as sent: the record is retried, never the send. Only Run's goroutine uses it.
	unrecorded map[string]bool
	catchUp    time.Duration // reportCatchUp; shorter in tests
}

// newReportMailer returns the mailer, or nil when reports are not configured.
func newReportMailer(cfg *config.Config, st *store.Store, clock daemon.Clock, log *zap.Logger) (*reportMailer, error) {
	r := cfg.Reports
	if r == nil {
		return nil, nil
	}
	if clock == nil {
		clock = daemon.SystemClock{}
	}
	for _, c := range cfg.Alerting.Channels.SMTP {
		if c.Name == r.SMTP {
			s := &notify.SMTP{ChannelName: "reports", Host: c.Host, Port: c.Port, Security: c.Security,
				Username: c.Username, Password: c.Password, From: c.From, To: r.EmailTo}
			if err := s.Validate(); err != nil {
				return nil, fmt.Errorf("reports: %w", err)
			}
			return &reportMailer{cfg: cfg, st: st, smtp: s, clock: clock, log: log, unrecorded: map[string]bool{}, catchUp: reportCatchUp}, nil
		}
	}
	return nil, fmt.Errorf("reports: no alerting smtp channel is named %q", r.SMTP)
}

// Run sends what is due, sleeps until the next daily_at or retry, and returns
// nil when ctx ends.
func (m *reportMailer) Run(ctx context.Context) error {
	m.log.Info("report e-mail scheduled", zap.String("daily_at", m.cfg.Reports.DailyAtString()),
		zap.Int("recipients", len(m.cfg.Reports.EmailTo)), zap.Bool("termly", m.cfg.Reports.Termly != nil))
	for {
		next := m.step(ctx, m.clock.Now())
		c, stop := m.clock.Timer(next)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-c:
		}
	}
}

// reportJob is one report due: its kind and day, and when it became due.
type reportJob struct {
	kind   string // daily | termly
	day    calendar.Date
	dueAt  time.Time
	term   calendar.Range // termly: the term
	to     []string
	format []string
}

// due lists the reports due at now: today's and yesterday's daily_at instants
// that have passed within reportCatchUp, on school days (unless
// school_days_only is false), and the termly summary on a term's last school day.
func (m *reportMailer) due(now time.Time) []reportJob {
	r := m.cfg.Reports
	loc := m.cfg.Policy.Location()
	cal := m.cfg.Policy.Calendar()
	today := calendar.DateOf(now.In(loc))
	var jobs []reportJob
	for back := 1; back >= 0; back-- {
		d := today.AddDays(-back)
		at := d.At(r.DailyAt/60, r.DailyAt%60, loc)
		if at.After(now) || now.Sub(at) >= m.catchUp {
			continue
		}
		if !r.SchoolDaysOnly || cal.IsSchoolDay(d) {
			jobs = append(jobs, reportJob{kind: "daily", day: d, dueAt: at, to: r.EmailTo, format: r.Formats})
		}
		if r.Termly == nil {
			continue
		}
		if term, ok := lastDayOfTerm(cal, d); ok {
			jobs = append(jobs, reportJob{kind: "termly", day: d, dueAt: at, term: term, to: r.Termly.EmailTo, format: r.Termly.Formats})
		}
	}
	return jobs
}

// lastDayOfTerm reports whether d is the last school day of a term, and which.
func lastDayOfTerm(cal *calendar.Calendar, d calendar.Date) (calendar.Range, bool) {
	if !cal.IsSchoolDay(d) {
		return calendar.Range{}, false
	}
	for _, t := range cal.Terms() {
		if !t.Contains(d) {
			continue
		}
		for n := d.AddDays(1); t.Contains(n); n = n.AddDays(1) {
			if cal.IsSchoolDay(n) {
				return calendar.Range{}, false
			}
		}
		return t, true
	}
	return calendar.Range{}, false
}

// step sends every due report that has not been sent and whose retry time has
// come, and returns when to look again: the next daily_at, or an earlier retry.
func (m *reportMailer) step(ctx context.Context, now time.Time) time.Time {
	r := m.cfg.Reports
	loc := m.cfg.Policy.Location()
	today := calendar.DateOf(now.In(loc))
	next := today.At(r.DailyAt/60, r.DailyAt%60, loc)
	if !next.After(now) {
		next = today.AddDays(1).At(r.DailyAt/60, r.DailyAt%60, loc)
	}
	for _, j := range m.due(now) {
		if retry, ok := m.attempt(ctx, j, now); ok && retry.Before(next) {
			next = retry
		}
	}
	if !next.After(now) { // never spin
		next = now.Add(time.Second)
	}
	return next
}

// attempt sends j unless it is already sent, failed, or waiting for its retry;
// it returns the time of the next attempt when one is needed.
func (m *reportMailer) attempt(ctx context.Context, j reportJob, now time.Time) (time.Time, bool) {
	log := m.log.With(zap.String("report", j.kind), zap.String("day", j.day.String()))
	run, err := m.st.ClaimReportRun(ctx, store.ReportRun{Kind: j.kind, Day: j.day.String(), Recipients: j.to, Formats: j.format}, now)
	if err != nil {
		log.Error("report run not recorded; retrying", zap.Error(err))
		return now.Add(reportRetryFirst), true
	}
	if run.State != store.ReportPending {
		return time.Time{}, false
	}
	key := j.kind + " " + j.day.String()
	if m.unrecorded[key] {
		return m.recordSent(ctx, log, key, j, run, now)
	}
	if run.NextAttemptAt.After(now) {
		return run.NextAttemptAt, true
	}
	sctx, cancel := context.WithTimeout(ctx, reportSendTimeout)
	err = m.send(sctx, j, run.Recipients, now)
	cancel()
	if ctx.Err() != nil {
		return time.Time{}, false // stopping: the run stays pending for the next start
	}
	if err == nil {
		m.unrecorded[key] = true
		return m.recordSent(ctx, log, key, j, run, now)
	}
	retry := now.Add(backoff(run.Attempts))
	final := !retry.Before(j.dueAt.Add(m.catchUp)) // the last attempt within the catch-up window
	if err := m.st.MarkReportFailed(ctx, j.kind, j.day.String(), err.Error(), retry, final); err != nil {
		log.Error("report failure not recorded", zap.Error(err))
	}
	if final {
		log.Error("report not sent: giving up", zap.Int("attempts", run.Attempts+1), zap.Error(err))
		return time.Time{}, false
	}
	log.Warn("report not sent; will retry", zap.Time("retry_at", retry), zap.Int("attempts", run.Attempts+1), zap.Error(err))
	return retry, true
}

// recordSent marks the run sent; when the store fails, the record (not the
// e-mail) is retried.
func (m *reportMailer) recordSent(ctx context.Context, log *zap.Logger, key string, j reportJob, run store.ReportRun, now time.Time) (time.Time, bool) {
	if err := m.st.MarkReportSent(ctx, j.kind, j.day.String(), now); err != nil {
		log.Error("report sent but not recorded as sent; retrying the record", zap.Error(err))
		return now.Add(reportRetryFirst), true
	}
	delete(m.unrecorded, key)
	log.Info("report e-mailed", zap.Int("recipients", len(run.Recipients)), zap.Strings("formats", run.Formats))
	return time.Time{}, false
}

// backoff is the wait after the attempts-th failure: 1 min, 2 min, 4 min … 30 min.
func backoff(attempts int) time.Duration {
	d := reportRetryFirst
	for range attempts {
		d *= 2
		if d >= reportRetryMax {
			return reportRetryMax
		}
	}
	return d
}

// send renders j (pseudonymised) and e-mails it with one attachment per format.
func (m *reportMailer) send(ctx context.Context, j reportJob, to []string, now time.Time) error {
	site := m.cfg.School.Name
	var (
		subject, text, base string
		atts                []notify.Attachment
	)
	switch j.kind {
	case "daily":
		d, err := buildDaily(ctx, m.st, m.cfg, reportOptions{day: j.day, schedule: m.cfg.Reports.Schedule, trendDays: 5, now: now})
		if err != nil {
			return fmt.Errorf("build the report: %w", err)
		}
		base = "hallmonitor-daily-" + d.Day
		subject = fmt.Sprintf("[HallMonitor] Device compliance %s %s", d.Weekday, d.Day)
		text = dailyText(d, site)
		for _, f := range j.format {
			var b bytes.Buffer
			if err := writeReport(d, site, f, "", &b); err != nil {
				return err
			}
			atts = append(atts, attachment(base, f, b.Bytes()))
		}
	case "termly":
		t, err := buildTermly(ctx, m.st, m.cfg, j.term.Start, j.term.End, m.cfg.Reports.Schedule, termName(m.cfg.Policy.Calendar(), j.term.Start, j.term.End), now)
		if err != nil {
			return fmt.Errorf("build the summary: %w", err)
		}
		base = "hallmonitor-termly-" + j.day.String()
		subject = fmt.Sprintf("[HallMonitor] Termly summary: %s", t.Term)
		text = termlyText(t, site)
		for _, f := range j.format {
			var b bytes.Buffer
			if err := renderTermly(&b, t, site, f); err != nil {
				return err
			}
			atts = append(atts, attachment(base, f, b.Bytes()))
		}
	default:
		return errors.New("unknown report kind " + j.kind)
	}
	return m.smtp.SendMail(ctx, notify.Mail{To: to, Subject: subject, Text: text, Attachments: atts,
		MessageID: base + "." + m.cfg.School.SiteID + ".report"})
}

func attachment(base, format string, data []byte) notify.Attachment {
	ct := map[string]string{"pdf": "application/pdf", "html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}[format]
	return notify.Attachment{Name: base + "." + format, ContentType: ct, Data: data}
}

func dailyText(d report.DailyReport, site string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: device compliance report for %s %s.\n\n", site, d.Weekday, d.Day)
	if !d.SchoolDay {
		b.WriteString("There were no pupil hours on this day.\n")
	} else {
		comp := render.Percent(d.Totals.Compliance, d.Totals.Measured)
		fmt.Fprintf(&b, "Compliance in pupil hours: %s\nBreach episodes: %d\nRepeat devices: %d\n", comp, d.Totals.Episodes, len(d.Repeat))
	}
	if d.ReviewOverdue {
		fmt.Fprintf(&b, "\nThe device policy review was due %s (SPT-14, OSS-7).\n", d.PolicyReviewDue)
	}
	b.WriteString("\nThe full report is attached. Devices are named by pseudonym only; the DSL can\n" +
		"identify one with `hallmonitor report --reveal PSEUDONYM`. Please do not forward\n" +
		"this e-mail outside the senior leadership team.\n")
	return b.String()
}

func termlyText(t report.TermlyReport, site string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: termly device-policy summary, %s (%d school days, %s to %s).\n\n", site, t.Term, t.SchoolDays, t.From, t.To)
	comp := render.Percent(t.Totals.Compliance, t.Totals.Measured)
	fmt.Fprintf(&b, "Compliance in pupil hours: %s\nBreach episodes: %d\n\nThe summary is attached. It names no device or pupil.\n", comp, t.Totals.Episodes)
	return b.String()
}
