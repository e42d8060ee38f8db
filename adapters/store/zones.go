package store

import (
	"context"
	"fmt"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// RecordZoneVisit stores one closed stay of a device in a zone. Recording the same
// stay again (same MAC and start) replaces it, so a retry never double-counts.
func (s *Store) RecordZoneVisit(ctx context.Context, v daemon.ZoneVisit) error {
	if v.MAC == "" || v.Zone == "" {
		return fmt.Errorf("store: zone visit needs a MAC and a zone")
	}
	if !validTime(v.From) || !validTime(v.To) || v.To.Before(v.From) {
		return fmt.Errorf("store: zone visit in %s: bad interval %v..%v", v.Zone, v.From, v.To) // no MAC: errors reach logs
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO zone_history (site_id, mac, zone, from_at, to_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (site_id, mac, from_at) DO UPDATE SET zone = excluded.zone, to_at = excluded.to_at`,
		s.siteID, v.MAC, v.Zone, nanos(v.From), nanos(v.To))
	if err != nil {
		return fmt.Errorf("store: zone visit in %s: %w", v.Zone, err)
	}
	return nil
}

// ZoneVisits returns the stays that overlap [from, to), oldest first; mac "" for all devices.
func (s *Store) ZoneVisits(ctx context.Context, mac string, from, to time.Time) ([]daemon.ZoneVisit, error) {
	q := `SELECT mac, zone, from_at, to_at FROM zone_history WHERE site_id = ? AND to_at > ? AND from_at < ?`
	args := []any{s.siteID, nanos(from), nanos(to)}
	if mac != "" {
		q += ` AND mac = ?`
		args = append(args, mac)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY from_at, mac`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: zone visits: %w", err)
	}
	defer rows.Close()
	var out []daemon.ZoneVisit
	for rows.Next() {
		var v daemon.ZoneVisit
		var f, t int64
		if err := rows.Scan(&v.MAC, &v.Zone, &f, &t); err != nil {
			return nil, fmt.Errorf("store: zone visits: %w", err)
		}
		v.From, v.To = time.Unix(0, f).UTC(), time.Unix(0, t).UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: zone visits: %w", err)
	}
	return out, nil
}

// DeviceMinutes sums, per zone, the minutes devices spent there within [from, to).
func (s *Store) DeviceMinutes(ctx context.Context, from, to time.Time) (map[string]float64, error) {
	visits, err := s.ZoneVisits(ctx, "", from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, v := range visits {
		a, b := v.From, v.To
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		out[v.Zone] += b.Sub(a).Minutes()
	}
	return out, nil
}
