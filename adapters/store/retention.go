package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// PurgeSightings deletes zone history (where each device was, and when) whose
// stay ended before the cutoff: storage.sightings_retention, shorter than the
// alerts' storage.retention (Purge). A stay still running at the cutoff is kept.
// When it deletes anything it appends the audit entry "sightings.purge" (actor
// "system") in the same transaction. Alerts, exemptions and the audit log are
// untouched.
func (s *Store) PurgeSightings(ctx context.Context, before time.Time) (int, error) {
	if !validTime(before) {
		return 0, fmt.Errorf("store: purge sightings: cutoff %v out of range", before)
	}
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM zone_history WHERE site_id = ? AND to_at < ?`, s.siteID, nanos(before))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		after, err := json.Marshal(map[string]any{"ended_before": before.UTC().Format(time.RFC3339Nano), "zone_visits_deleted": n})
		if err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{At: time.Now(), Actor: "system", Action: "sightings.purge", After: string(after)})
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge sightings ended before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	if n > 0 {
		s.log.Info("purged zone history", zap.Int64("deleted", n), zap.Time("ended_before", before))
	}
	return int(n), nil
}
