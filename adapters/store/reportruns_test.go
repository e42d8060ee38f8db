package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// A report run is claimed once per kind and day, survives a reopen, is marked
// sent at most once, and its sending is in the audit log.
func TestReportRunExactlyOnceAcrossReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	now := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	run := store.ReportRun{Kind: "daily", Day: "2026-11-23", Recipients: []string{"slt@school.example"}, Formats: []string{"pdf", "html"}}
	got, err := s.ClaimReportRun(ctx, run, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.ReportPending || !got.NextAttemptAt.Equal(now) || !slices.Equal(got.Recipients, run.Recipients) || got.Attempts != 0 {
		t.Fatalf("claimed %+v", got)
	}
	// An SMTP outage: the attempt is recorded and the next one scheduled.
	next := now.Add(time.Minute)
	if err := s.MarkReportFailed(ctx, "daily", "2026-11-23", "connect: connection refused", next, false); err != nil {
		t.Fatal(err)
	}
	// Claiming again (the scheduler's next round, or after a restart) changes nothing.
	again, err := s.ClaimReportRun(ctx, run, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.State != store.ReportPending || again.Attempts != 1 || !again.NextAttemptAt.Equal(next) || again.LastError != "connect: connection refused" {
		t.Fatalf("after a failure, claimed again: %+v", again)
	}
	sentAt := now.Add(2 * time.Minute)
	if err := s.MarkReportSent(ctx, "daily", "2026-11-23", sentAt); err != nil {
		t.Fatal(err)
	}
	// A second "sent" for the same run is refused: nothing is recorded twice.
	if err := s.MarkReportSent(ctx, "daily", "2026-11-23", sentAt); !errors.Is(err, daemon.ErrNotFound) {
		t.Fatalf("second MarkReportSent = %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path) // a restart
	after, err := s.ClaimReportRun(ctx, run, now.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if after.State != store.ReportSent || after.SentAt == nil || !after.SentAt.Equal(sentAt) || after.Attempts != 2 || after.LastError != "" {
		t.Fatalf("after reopen: %+v; want sent at %v after 2 attempts", after, sentAt)
	}
	audit, err := s.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var sent []daemon.AuditEntry
	for _, e := range audit {
		if e.Action == "report.sent" {
			sent = append(sent, e)
		}
	}
	if len(sent) != 1 || sent[0].Target != "daily 2026-11-23" || sent[0].Actor != "system" ||
		!strings.Contains(sent[0].After, `"recipients":["slt@school.example"]`) || !strings.Contains(sent[0].After, `"attempts":2`) {
		t.Fatalf("report.sent audit entries: %+v", sent)
	}
	if _, err := s.GetReportRun(ctx, "termly", "2026-11-23"); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("GetReportRun of another kind = %v, want ErrNotFound", err)
	}
	runs, err := s.ReportRuns(ctx, "2026-11-01")
	if err != nil || len(runs) != 1 {
		t.Errorf("ReportRuns = %+v, %v", runs, err)
	}
}

func TestReportRunGivesUp(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	now := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	if _, err := s.ClaimReportRun(ctx, store.ReportRun{Kind: "termly", Day: "2026-12-18", Recipients: []string{"g@school.example"}}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkReportFailed(ctx, "termly", "2026-12-18", "AUTH PLAIN: 535 bad credentials", now, true); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetReportRun(ctx, "termly", "2026-12-18")
	if err != nil || r.State != store.ReportFailed || r.Attempts != 1 {
		t.Fatalf("run = %+v, %v; want failed after 1 attempt", r, err)
	}
	// A failed run is never sent later by accident.
	if err := s.MarkReportSent(ctx, "termly", "2026-12-18", now); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("MarkReportSent on a failed run = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimReportRun(ctx, store.ReportRun{Kind: "weekly", Day: "2026-12-18"}, now); err == nil {
		t.Error("an unknown kind was accepted")
	}
}
