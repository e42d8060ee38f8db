package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

const alertColumns = `id, site_id, state, severity, action, opened_at, closed_at,
	device_mac, device_kind, device_os, device_hostname, device_role,
	zone, rule, clauses, reason,
	acknowledged_by, acknowledged_at, resolved_by, resolved_at, outcome, note`

func validState(s string) bool {
	switch s {
	case daemon.AlertNew, daemon.AlertAcknowledged, daemon.AlertResolved:
		return true
	}
	return false
}

// checkAlert validates what the schema cannot express and fills in the site ID.
func (s *Store) checkAlert(a *daemon.Alert) error {
	if _, err := ulid.ParseStrict(a.ID); err != nil {
		return fmt.Errorf("ID %q is not a ULID: %w", a.ID, err)
	}
	switch a.SiteID {
	case "":
		a.SiteID = s.siteID
	case s.siteID:
	default:
		return fmt.Errorf("%w: alert is for site %q, store is for %q", ErrSiteMismatch, a.SiteID, s.siteID)
	}
	if !validState(a.State) {
		return fmt.Errorf("unknown state %q", a.State)
	}
	if !validTime(a.OpenedAt) {
		return fmt.Errorf("opened_at %v out of range", a.OpenedAt)
	}
	for _, t := range []*time.Time{a.ClosedAt, a.AcknowledgedAt, a.ResolvedAt} {
		if t != nil && !validTime(*t) {
			return fmt.Errorf("time %v out of range", *t)
		}
	}
	return nil
}

func clausesJSON(c []string) (string, error) {
	if c == nil {
		c = []string{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// InsertAlert stores a new alert. The ID must be a ULID (it is immutable and the
// sort key); an empty SiteID is set to the store's. The row is committed and
// fsynced when InsertAlert returns nil.
func (s *Store) InsertAlert(ctx context.Context, a daemon.Alert) error {
	if err := s.checkAlert(&a); err != nil {
		return fmt.Errorf("store: insert alert %s: %w", a.ID, err)
	}
	clauses, err := clausesJSON(a.Clauses)
	if err != nil {
		return fmt.Errorf("store: insert alert %s: clauses: %w", a.ID, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO alerts (`+alertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.SiteID, a.State, a.Severity, a.Action, nanos(a.OpenedAt), nullNanos(a.ClosedAt),
		a.Device.MAC, a.Device.Kind, a.Device.OS, a.Device.Hostname, a.Device.Role,
		a.Zone, a.Rule, clauses, a.Reason,
		a.AcknowledgedBy, nullNanos(a.AcknowledgedAt), a.ResolvedBy, nullNanos(a.ResolvedAt), a.Outcome, a.Note)
	if err != nil {
		return fmt.Errorf("store: insert alert %s: %w", a.ID, err)
	}
	return nil
}

// CloseAlert ends the alert's episode at at. Closing an already closed alert keeps
// the first closing time (the daemon may retry after an error). The alert's state
// (new/acknowledged/resolved) is the DSL's and is not changed.
func (s *Store) CloseAlert(ctx context.Context, id string, at time.Time) error {
	if !validTime(at) {
		return fmt.Errorf("store: close alert %s: time %v out of range", id, at)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE alerts SET closed_at = COALESCE(closed_at, ?) WHERE id = ?`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("store: close alert %s: %w", id, err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("store: close alert %s: %w", id, err)
	}
	return nil
}

// UpdateAlert writes the DSL's part of an alert: state, acknowledgement,
// resolution, outcome and note. The episode's facts (device, rule, times) are
// immutable and not touched.
func (s *Store) UpdateAlert(ctx context.Context, a daemon.Alert) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return updateAlertTx(ctx, tx, a) }); err != nil {
		return fmt.Errorf("store: update alert %s: %w", a.ID, err)
	}
	return nil
}

// UpdateAlertWithAudit is UpdateAlert and AppendAudit(e) in one transaction: the
// change and its audit entry are committed together or not at all.
func (s *Store) UpdateAlertWithAudit(ctx context.Context, a daemon.Alert, e daemon.AuditEntry) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := updateAlertTx(ctx, tx, a); err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &e)
	})
	if err != nil {
		return fmt.Errorf("store: update alert %s with audit %s: %w", a.ID, e.Action, err)
	}
	return nil
}

func updateAlertTx(ctx context.Context, tx *sql.Tx, a daemon.Alert) error {
	if !validState(a.State) {
		return fmt.Errorf("unknown state %q", a.State)
	}
	for _, t := range []*time.Time{a.AcknowledgedAt, a.ResolvedAt} {
		if t != nil && !validTime(*t) {
			return fmt.Errorf("time %v out of range", *t)
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE alerts SET state = ?, acknowledged_by = ?, acknowledged_at = ?,
		resolved_by = ?, resolved_at = ?, outcome = ?, note = ? WHERE id = ?`,
		a.State, a.AcknowledgedBy, nullNanos(a.AcknowledgedAt), a.ResolvedBy, nullNanos(a.ResolvedAt), a.Outcome, a.Note, a.ID)
	if err != nil {
		return err
	}
	return oneRow(res)
}

// GetAlert returns one alert; a missing ID wraps daemon.ErrNotFound.
func (s *Store) GetAlert(ctx context.Context, id string) (daemon.Alert, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id)
	a, err := scanAlert(row)
	if errors.Is(err, sql.ErrNoRows) {
		return daemon.Alert{}, fmt.Errorf("store: get alert %s: %w", id, daemon.ErrNotFound)
	}
	if err != nil {
		return daemon.Alert{}, fmt.Errorf("store: get alert %s: %w", id, err)
	}
	return a, nil
}

// OpenAlerts returns every alert whose episode has not closed, oldest first, for
// the daemon to resume after a restart. It is not limited.
func (s *Store) OpenAlerts(ctx context.Context) ([]daemon.Alert, error) {
	as, err := s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE closed_at IS NULL ORDER BY opened_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: open alerts: %w", err)
	}
	return as, nil
}

// ListAlerts returns alerts newest first (by opened_at, then ID). f.State filters
// by state; f.Since keeps alerts opened at or after it; f.Limit defaults to 500
// and is capped at 10000.
func (s *Store) ListAlerts(ctx context.Context, f daemon.AlertFilter) ([]daemon.Alert, error) {
	var (
		where []string
		args  []any
	)
	if f.State != "" {
		if !validState(f.State) {
			return nil, fmt.Errorf("store: list alerts: unknown state %q", f.State)
		}
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if !f.Since.IsZero() {
		where = append(where, "opened_at >= ?")
		args = append(args, nanos(f.Since))
	}
	q := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id DESC LIMIT ?"
	args = append(args, listLimit(f.Limit))
	as, err := s.queryAlerts(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	return as, nil
}

// AlertCounts returns the number of alerts in each state; every known state is
// present, with 0 when there are none.
func (s *Store) AlertCounts(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{daemon.AlertNew: 0, daemon.AlertAcknowledged: 0, daemon.AlertResolved: 0}
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM alerts GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: alert counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("store: alert counts: %w", err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alert counts: %w", err)
	}
	return counts, nil
}

// Purge deletes alerts whose episode closed before the cutoff, whatever their
// state: the retention period is the school's data-protection setting for MACs
// and hostnames, and open episodes are never purged. When it deletes anything it
// appends an audit entry ("alerts.purge", actor "system") in the same transaction.
// The audit log itself is not purged: it is append-only (see AppendAudit).
func (s *Store) Purge(ctx context.Context, before time.Time) (int, error) {
	if !validTime(before) {
		return 0, fmt.Errorf("store: purge: cutoff %v out of range", before)
	}
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE closed_at IS NOT NULL AND closed_at < ?`, nanos(before))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// Zone history holds MACs too: the same retention applies.
		res, err = tx.ExecContext(ctx, `DELETE FROM zone_history WHERE to_at < ?`, nanos(before))
		if err != nil {
			return err
		}
		visits, err := res.RowsAffected()
		if err != nil || n+visits == 0 {
			return err
		}
		after, err := json.Marshal(map[string]any{"closed_before": before.UTC().Format(time.RFC3339Nano), "deleted": n, "zone_visits_deleted": visits})
		if err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{
			At: time.Now(), Actor: "system", Action: "alerts.purge", After: string(after),
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge alerts closed before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	if n > 0 {
		s.log.Info("purged closed alerts", zap.Int64("deleted", n), zap.Time("closed_before", before))
	}
	return int(n), nil
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]daemon.Alert, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var as []daemon.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanAlert(sc scanner) (daemon.Alert, error) {
	var (
		a                     daemon.Alert
		opened                int64
		closed, acked, resolv sql.NullInt64
		clauses               string
	)
	err := sc.Scan(&a.ID, &a.SiteID, &a.State, &a.Severity, &a.Action, &opened, &closed,
		&a.Device.MAC, &a.Device.Kind, &a.Device.OS, &a.Device.Hostname, &a.Device.Role,
		&a.Zone, &a.Rule, &clauses, &a.Reason,
		&a.AcknowledgedBy, &acked, &a.ResolvedBy, &resolv, &a.Outcome, &a.Note)
	if err != nil {
		return daemon.Alert{}, err
	}
	if err := json.Unmarshal([]byte(clauses), &a.Clauses); err != nil {
		return daemon.Alert{}, fmt.Errorf("alert %s: clauses: %w", a.ID, err)
	}
	a.OpenedAt = fromNanos(opened)
	a.ClosedAt = fromNullNanos(closed)
	a.AcknowledgedAt = fromNullNanos(acked)
	a.ResolvedAt = fromNullNanos(resolv)
	return a, nil
}

// oneRow turns "no row matched" into daemon.ErrNotFound.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return daemon.ErrNotFound
	}
	return nil
}
