package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Rollup is one zone's figures for one school day, the basis of reports.
type Rollup struct {
	Day            string // YYYY-MM-DD in the school's local time zone
	Zone           string
	DevicesSeen    int
	BreachEpisodes int
	BreachMinutes  float64
}

// UpsertDailyRollup stores r, replacing (not adding to) any figures already stored
// for the same day and zone: the daemon recomputes a day's totals and writes them
// again, so writing twice must not double-count.
func (s *Store) UpsertDailyRollup(ctx context.Context, r Rollup) error {
	if _, err := time.Parse(time.DateOnly, r.Day); err != nil {
		return fmt.Errorf("store: upsert rollup %s/%s: day must be YYYY-MM-DD: %w", r.Day, r.Zone, err)
	}
	if r.DevicesSeen < 0 || r.BreachEpisodes < 0 || r.BreachMinutes < 0 || math.IsNaN(r.BreachMinutes) || math.IsInf(r.BreachMinutes, 0) {
		return fmt.Errorf("store: upsert rollup %s/%s: counts must be finite and not negative", r.Day, r.Zone)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO daily_rollups (site_id, day, zone, devices_seen, breach_episodes, breach_minutes)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (site_id, day, zone) DO UPDATE SET
			devices_seen = excluded.devices_seen,
			breach_episodes = excluded.breach_episodes,
			breach_minutes = excluded.breach_minutes`,
		s.siteID, r.Day, r.Zone, r.DevicesSeen, r.BreachEpisodes, r.BreachMinutes)
	if err != nil {
		return fmt.Errorf("store: upsert rollup %s/%s: %w", r.Day, r.Zone, err)
	}
	return nil
}

// DailyRollups returns the rollups of one day (YYYY-MM-DD), by zone name. A day
// with none returns an empty slice and no error.
func (s *Store) DailyRollups(ctx context.Context, day string) ([]Rollup, error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return nil, fmt.Errorf("store: daily rollups %s: day must be YYYY-MM-DD: %w", day, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT day, zone, devices_seen, breach_episodes, breach_minutes
		FROM daily_rollups WHERE site_id = ? AND day = ? ORDER BY zone`, s.siteID, day)
	if err != nil {
		return nil, fmt.Errorf("store: daily rollups %s: %w", day, err)
	}
	defer rows.Close()
	rs := []Rollup{}
	for rows.Next() {
		var r Rollup
		if err := rows.Scan(&r.Day, &r.Zone, &r.DevicesSeen, &r.BreachEpisodes, &r.BreachMinutes); err != nil {
			return nil, fmt.Errorf("store: daily rollups %s: %w", day, err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: daily rollups %s: %w", day, err)
	}
	return rs, nil
}
