package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Report run states.
const (
	ReportPending = "pending" // recorded, not yet accepted by the mail server
	ReportSent    = "sent"    // accepted by the mail server: never sent again
	ReportFailed  = "failed"  // given up after retrying (logged as an error)
)

// ReportRun is one report the daemon e-mails: a kind ("daily" or "termly") for a
// day (YYYY-MM-DD; for termly, the term's last school day), who it goes to, and
// how sending it went. Migration 0007_report_runs.
type ReportRun struct {
	Kind          string     `json:"kind"`
	Day           string     `json:"day"`
	Recipients    []string   `json:"recipients"`
	Formats       []string   `json:"formats"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

// ClaimReportRun records r as pending (due at once) unless a run of its kind and
// day exists, and returns the stored run: a new one, or the existing one
// unchanged whatever its state. Callers send only a pending run that is due, and
// a sent run never again (exactly once across restarts, see MarkReportSent).
func (s *Store) ClaimReportRun(ctx context.Context, r ReportRun, now time.Time) (ReportRun, error) {
	if r.Kind == "" || r.Day == "" {
		return ReportRun{}, errors.New("store: report run needs a kind and a day")
	}
	if !validTime(now) {
		return ReportRun{}, fmt.Errorf("store: report run %s %s: time %v out of range", r.Kind, r.Day, now)
	}
	rcpts, err := json.Marshal(nonNil(r.Recipients))
	if err != nil {
		return ReportRun{}, err
	}
	formats, err := json.Marshal(nonNil(r.Formats))
	if err != nil {
		return ReportRun{}, err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO report_runs
		(site_id, kind, day, recipients, formats, state, attempts, next_attempt_at, last_error, created_at, sent_at)
		VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, NULL) ON CONFLICT (site_id, kind, day) DO NOTHING`,
		s.siteID, r.Kind, r.Day, string(rcpts), string(formats), nanos(now), nanos(now))
	if err != nil {
		return ReportRun{}, fmt.Errorf("store: report run %s %s: %w", r.Kind, r.Day, err)
	}
	return s.GetReportRun(ctx, r.Kind, r.Day)
}

// GetReportRun returns the run of kind for day, or an error wrapping
// daemon.ErrNotFound.
func (s *Store) GetReportRun(ctx context.Context, kind, day string) (ReportRun, error) {
	runs, err := s.queryReportRuns(ctx, `WHERE site_id = ? AND kind = ? AND day = ?`, s.siteID, kind, day)
	if err != nil {
		return ReportRun{}, err
	}
	if len(runs) == 0 {
		return ReportRun{}, fmt.Errorf("store: report run %s %s: %w", kind, day, daemon.ErrNotFound)
	}
	return runs[0], nil
}

// ReportRuns returns the runs from day since (YYYY-MM-DD) on, oldest first.
func (s *Store) ReportRuns(ctx context.Context, since string) ([]ReportRun, error) {
	return s.queryReportRuns(ctx, `WHERE site_id = ? AND day >= ? ORDER BY day, kind`, s.siteID, since)
}

// MarkReportSent marks a pending run sent at at and appends the audit entry
// "report.sent" (actor "system", target "KIND DAY", After: recipients, formats,
// attempts) in the same transaction. A run that is not pending is left alone
// and reported as daemon.ErrNotFound.
func (s *Store) MarkReportSent(ctx context.Context, kind, day string, at time.Time) error {
	if !validTime(at) {
		return fmt.Errorf("store: report run %s %s: time %v out of range", kind, day, at)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE report_runs SET state = 'sent', sent_at = ?, attempts = attempts + 1, last_error = ''
			WHERE site_id = ? AND kind = ? AND day = ? AND state = 'pending'`, nanos(at), s.siteID, kind, day)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		var rcpts, formats string
		var attempts int
		if err := tx.QueryRowContext(ctx, `SELECT recipients, formats, attempts FROM report_runs WHERE site_id = ? AND kind = ? AND day = ?`,
			s.siteID, kind, day).Scan(&rcpts, &formats, &attempts); err != nil {
			return err
		}
		after, err := json.Marshal(map[string]any{"recipients": json.RawMessage(rcpts), "formats": json.RawMessage(formats), "attempts": attempts})
		if err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{At: at, Actor: "system", Action: "report.sent",
			Target: kind + " " + day, After: string(after)})
	})
	if err != nil {
		return fmt.Errorf("store: mark report %s %s sent: %w", kind, day, err)
	}
	return nil
}

// MarkReportFailed records a failed attempt of a pending run: the error, one more
// attempt, and when to try next; final gives up (state failed, audited as
// "report.failed").
func (s *Store) MarkReportFailed(ctx context.Context, kind, day, errText string, next time.Time, final bool) error {
	if !validTime(next) {
		return fmt.Errorf("store: report run %s %s: time %v out of range", kind, day, next)
	}
	state := ReportPending
	if final {
		state = ReportFailed
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE report_runs SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?
			WHERE site_id = ? AND kind = ? AND day = ? AND state = 'pending'`, state, errText, nanos(next), s.siteID, kind, day)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil || !final {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{At: time.Now(), Actor: "system", Action: "report.failed",
			Target: kind + " " + day, After: errText})
	})
	if err != nil {
		return fmt.Errorf("store: mark report %s %s failed: %w", kind, day, err)
	}
	return nil
}

func (s *Store) queryReportRuns(ctx context.Context, where string, args ...any) ([]ReportRun, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, day, recipients, formats, state, attempts, next_attempt_at, last_error, created_at, sent_at
		FROM report_runs `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: report runs: %w", err)
	}
	defer rows.Close()
	var out []ReportRun
	for rows.Next() {
		var (
			r              ReportRun
			rcpts, formats string
			next, created  int64
			sent           sql.NullInt64
		)
		if err := rows.Scan(&r.Kind, &r.Day, &rcpts, &formats, &r.State, &r.Attempts, &next, &r.LastError, &created, &sent); err != nil {
			return nil, fmt.Errorf("store: report runs: %w", err)
		}
		if err := json.Unmarshal([]byte(rcpts), &r.Recipients); err != nil {
			return nil, fmt.Errorf("store: report run %s %s: recipients: %w", r.Kind, r.Day, err)
		}
		if err := json.Unmarshal([]byte(formats), &r.Formats); err != nil {
			return nil, fmt.Errorf("store: report run %s %s: formats: %w", r.Kind, r.Day, err)
		}
		r.NextAttemptAt, r.CreatedAt, r.SentAt = fromNanos(next), fromNanos(created), fromNullNanos(sent)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: report runs: %w", err)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
