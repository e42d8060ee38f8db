package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

// attachments parses a multipart message into file name → content.
func attachments(t *testing.T, raw string) (subject, body string, files map[string][]byte) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	files = map[string][]byte{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return subject, body, files
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() == "" {
			b, _ := io.ReadAll(p) // multipart decodes quoted-printable itself
			body = string(b)
			continue
		}
		data, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		files[p.FileName()] = data
	}
}

// reportMailFixture is the report fixture with a mail server at smtpAddr and a
// reports section; it returns the loaded config.
func reportMailFixture(t *testing.T, smtpAddr string) *config.Config {
	t.Helper()
	cfgPath, _ := reportFixture(t)
	host, port, _ := net.SplitHostPort(smtpAddr)
	text := strings.Replace(string(mustReadFile(t, cfgPath)), "alerting:\n  throttle: 10m\n", fmt.Sprintf(`alerting:
  throttle: 10m
  smtp:
    - {name: relay, host: %s, port: %s, security: none, from: "HallMonitor <hallmonitor@spt.example>", to: [dsl@spt.example]}
`, host, port), 1)
	text += `
reports:
  daily_at: "16:00"
  email_to: [slt@spt.example, head@spt.example]
  formats: [pdf, html]
  termly: {email_to: [governors@spt.example], formats: [pdf]}
`
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openMailer(t *testing.T, cfg *config.Config) (*reportMailer, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), dbPath(cfg), cfg.School.SiteID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	m, err := newReportMailer(cfg, st, nil, zap.NewNop())
	if err != nil || m == nil {
		t.Fatalf("newReportMailer = %v, %v", m, err)
	}
	return m, st
}

func london(t *testing.T, s string) time.Time {
	t.Helper()
	loc, _ := time.LoadLocation("Europe/London")
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// The daily report is e-mailed once at 16:00 on a school day with a real PDF
// attached and no MAC anywhere; a restart does not send it again; a missed one
// is sent after a restart, through an SMTP outage, exactly once.
func TestReportMailDailyExactlyOnce(t *testing.T) {
	ctx := context.Background()
	addr := freeAddr(t)
	cfg := reportMailFixture(t, addr)
	srv := lab.StartSMTP(t, tls.Certificate{}, lab.SMTPOptions{Addr: addr})
	m, st := openMailer(t, cfg)

	if next := m.step(ctx, london(t, "2026-11-23 15:59")); !next.Equal(london(t, "2026-11-23 16:00")) {
		t.Errorf("at 15:59 the next wake-up is %v, want 16:00 London", next)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages before 16:00", n)
	}
	next := m.step(ctx, london(t, "2026-11-23 16:00"))
	if !next.Equal(london(t, "2026-11-24 16:00")) {
		t.Errorf("after sending, next wake-up %v, want tomorrow 16:00", next)
	}
	m.step(ctx, london(t, "2026-11-23 16:05")) // the same day again: nothing new
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages on Monday, want 1", len(msgs))
	}
	if strings.Join(msgs[0].To, ",") != "slt@spt.example,head@spt.example" {
		t.Errorf("sent to %v, want the reports' recipients (not the DSL's alert address)", msgs[0].To)
	}
	subject, body, files := attachments(t, msgs[0].Data)
	if subject != "[HallMonitor] Device compliance Monday 2026-11-23" || !strings.Contains(body, "Compliance in pupil hours: 93.6%") {
		t.Errorf("subject %q, body:\n%s", subject, body)
	}
	pdf, html := files["hallmonitor-daily-2026-11-23.pdf"], files["hallmonitor-daily-2026-11-23.html"]
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("the PDF attachment starts %q, want %%PDF- (attachments: %d)", pdf[:min(len(pdf), 8)], len(files))
	}
	if !strings.Contains(string(html), "device-") || strings.Contains(msgs[0].Data, "02:11:22") || strings.Contains(string(html), pupilPhone) {
		t.Error("the e-mailed report is not pseudonymised")
	}

	// A restart after 16:00: nothing is sent twice.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	m, st = openMailer(t, cfg)
	m.step(ctx, london(t, "2026-11-23 17:30"))
	m.step(ctx, london(t, "2026-11-24 08:00")) // the next morning: Monday's is still within catch-up, and sent
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("after a restart, %d messages, want still 1", n)
	}

	// Tuesday: the daemon was down at 16:00 and the mail server is out when it
	// comes back at 16:40. The attempt is recorded and retried with backoff.
	srv.Stop()
	retry := m.step(ctx, london(t, "2026-11-24 16:40"))
	if want := london(t, "2026-11-24 16:41"); !retry.Equal(want) {
		t.Errorf("retry at %v, want %v (1 minute after the first failure)", retry, want)
	}
	run, err := st.GetReportRun(ctx, "daily", "2026-11-24")
	if err != nil || run.State != store.ReportPending || run.Attempts != 1 || !strings.Contains(run.LastError, "connect") {
		t.Fatalf("after the outage: %+v, %v", run, err)
	}
	retry = m.step(ctx, london(t, "2026-11-24 16:41"))
	if want := london(t, "2026-11-24 16:43"); !retry.Equal(want) {
		t.Errorf("second retry at %v, want %v (backoff doubles)", retry, want)
	}
	if got := m.step(ctx, london(t, "2026-11-24 16:42")); !got.Equal(london(t, "2026-11-24 16:43")) {
		t.Errorf("before the retry is due nothing is tried; next %v", got)
	}
	srv2 := lab.StartSMTP(t, tls.Certificate{}, lab.SMTPOptions{Addr: addr}) // the mail server is back
	m.step(ctx, london(t, "2026-11-24 16:43"))
	m.step(ctx, london(t, "2026-11-24 16:50"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	m, st = openMailer(t, cfg)
	defer st.Close()
	m.step(ctx, london(t, "2026-11-24 18:00"))
	got := srv2.Messages()
	if len(got) != 1 {
		t.Fatalf("Tuesday: %d messages, want exactly 1", len(got))
	}
	if subject, _, _ := attachments(t, got[0].Data); subject != "[HallMonitor] Device compliance Tuesday 2026-11-24" {
		t.Errorf("Tuesday's subject %q", subject)
	}
	run, _ = st.GetReportRun(ctx, "daily", "2026-11-24")
	if run.State != store.ReportSent || run.Attempts != 3 {
		t.Errorf("Tuesday's run %+v, want sent after 3 attempts", run)
	}
	// Saturday is not a school day: nothing is sent.
	m.step(ctx, london(t, "2026-11-28 16:30"))
	if n := len(srv2.Messages()); n != 1 {
		t.Errorf("%d messages after Saturday, want no report on a weekend", n)
	}
	audit, err := st.ListAudit(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, e := range audit {
		if e.Action == "report.sent" {
			sent = append(sent, e.Target)
		}
	}
	if strings.Join(sent, ",") != "daily 2026-11-24,daily 2026-11-23" {
		t.Errorf("report.sent audit entries %v, want one per day", sent)
	}
}

// On the last school day of a term the governors get the termly summary too,
// naming no device.
func TestReportMailTermlyOnLastDayOfTerm(t *testing.T) {
	ctx := context.Background()
	addr := freeAddr(t)
	cfg := reportMailFixture(t, addr)
	srv := lab.StartSMTP(t, tls.Certificate{}, lab.SMTPOptions{Addr: addr})
	m, st := openMailer(t, cfg)
	defer st.Close()
	m.step(ctx, london(t, "2026-12-17 16:00")) // Thursday: the daily report only
	// The term's four episodes are the fixture's Friday 20 and Monday 23 November.
	m.step(ctx, london(t, "2026-12-18 16:00")) // the term's last day
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want Thursday's and Friday's daily and the termly summary", len(msgs))
	}
	var termly *lab.SMTPMessage
	for i := range msgs {
		if strings.Join(msgs[i].To, ",") == "governors@spt.example" {
			termly = &msgs[i]
		}
	}
	if termly == nil {
		t.Fatal("no message to the governors")
	}
	subject, body, files := attachments(t, termly.Data)
	pdf := files["hallmonitor-termly-2026-12-18.pdf"]
	if subject != "[HallMonitor] Termly summary: Autumn 2026" || !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(files) != 1 {
		t.Errorf("termly mail: subject %q, %d files", subject, len(files))
	}
	if !strings.Contains(body, "Breach episodes: 4") || regexp.MustCompile(`device-[0-9a-f]{10}`).MatchString(body) {
		t.Errorf("termly body:\n%s", body)
	}
}

// Run is owned by the daemon's errgroup: it sends at daily_at by the clock it is
// given and returns nil as soon as its context ends.
func TestReportMailRunStopsWithContext(t *testing.T) {
	addr := freeAddr(t)
	cfg := reportMailFixture(t, addr)
	srv := lab.StartSMTP(t, tls.Certificate{}, lab.SMTPOptions{Addr: addr})
	st, err := store.Open(context.Background(), dbPath(cfg), cfg.School.SiteID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := daemon.NewScaledClock(london(t, "2026-11-23 15:59"), 120) // 16:00 in half a second
	m, err := newReportMailer(cfg, st, clock, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for len(srv.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(srv.Messages()) != 1 {
		t.Fatalf("%d messages by the scaled 16:00", len(srv.Messages()))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil on stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}

// A mail server that stays out: retries back off up to 30 minutes, and within
// 24 hours of daily_at the run is given up, audited and never sent late.
func TestReportMailGivesUpAfterADay(t *testing.T) {
	ctx := context.Background()
	cfg := reportMailFixture(t, freeAddr(t)) // nothing listens there
	cfg.Reports.Formats = []string{"csv"}    // cheap to render ~50 times
	m, st := openMailer(t, cfg)
	defer st.Close()
	due := london(t, "2026-11-23 16:00")
	now := due
	var gaps []time.Duration
	for range 200 {
		next := m.step(ctx, now)
		run, err := st.GetReportRun(ctx, "daily", "2026-11-23")
		if err != nil {
			t.Fatal(err)
		}
		if run.State != store.ReportPending {
			if run.State != store.ReportFailed || now.Sub(due) >= 24*time.Hour || now.Sub(due) < 23*time.Hour {
				t.Fatalf("run %+v at %v", run, now)
			}
			break
		}
		gaps = append(gaps, next.Sub(now))
		now = next
	}
	if len(gaps) < 6 || gaps[0] != time.Minute || gaps[1] != 2*time.Minute || gaps[5] != 30*time.Minute || gaps[len(gaps)-1] > 30*time.Minute {
		t.Errorf("retry gaps %v; want 1m, 2m, 4m … capped at 30m", gaps)
	}
	audit, _ := st.ListAudit(ctx, 1)
	if len(audit) != 1 || audit[0].Action != "report.failed" || audit[0].Target != "daily 2026-11-23" {
		t.Errorf("newest audit entry %+v, want report.failed", audit)
	}
	m.step(ctx, london(t, "2026-11-24 15:59")) // still within a day of Monday's 16:00: not retried
	if run, _ := st.GetReportRun(ctx, "daily", "2026-11-23"); run.State != store.ReportFailed {
		t.Errorf("a failed run was tried again: %+v", run)
	}
}
