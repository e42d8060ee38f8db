package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Reads for a subject-access export (hallmonitor export): everything stored
// about one device, and nothing about anyone else.

// DeviceAlerts returns every alert about the device mac, in any state, oldest
// first. It is not limited.
func (s *Store) DeviceAlerts(ctx context.Context, mac string) ([]daemon.Alert, error) {
	as, err := s.queryAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE site_id = ? AND device_mac = ? ORDER BY opened_at, id`, s.siteID, mac)
	if err != nil {
		return nil, fmt.Errorf("store: device alerts: %w", err)
	}
	return as, nil
}

// AuditFor returns the audit entries whose target is one of targets (alert or
// exemption IDs), in log order. It is not limited.
func (s *Store) AuditFor(ctx context.Context, targets []string) ([]daemon.AuditEntry, error) {
	type seqEntry struct {
		seq int64
		e   daemon.AuditEntry
	}
	var got []seqEntry
	const chunk = 500 // keep statements small
	for start := 0; start < len(targets); start += chunk {
		part := targets[start:min(start+chunk, len(targets))]
		args := []any{s.siteID}
		for _, t := range part {
			args = append(args, t)
		}
		err := func() error {
			rows, err := s.r.QueryContext(ctx, `SELECT seq, id, site_id, at, actor, action, target, before_value, after_value, hash
				FROM audit WHERE site_id = ? AND target IN (?`+strings.Repeat(", ?", len(part)-1)+`)`, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					se seqEntry
					at int64
				)
				if err := rows.Scan(&se.seq, &se.e.ID, &se.e.SiteID, &at, &se.e.Actor, &se.e.Action, &se.e.Target, &se.e.Before, &se.e.After, &se.e.Hash); err != nil {
					return err
				}
				se.e.At = fromNanos(at)
				got = append(got, se)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("store: audit for targets: %w", err)
		}
	}
	slices.SortFunc(got, func(a, b seqEntry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]daemon.AuditEntry, len(got))
	for i, se := range got {
		out[i] = se.e
	}
	return out, nil
}

// ExemptionsFor returns the exemptions granted for the device mac or for one
// of persons (register owners), oldest first, revoked ones included.
func (s *Store) ExemptionsFor(ctx context.Context, mac string, persons []string) ([]daemon.Exemption, error) {
	all, err := s.ListExemptions(ctx)
	if err != nil {
		return nil, err
	}
	var out []daemon.Exemption
	for _, e := range all {
		if (mac != "" && e.MAC == mac) || (e.Person != "" && slices.Contains(persons, e.Person)) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b daemon.Exemption) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeviceBlock returns the firewall block the daemon holds for mac, if any.
func (s *Store) DeviceBlock(ctx context.Context, mac string) (*daemon.Block, error) {
	blocks, err := s.LoadBlocks(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if b.MAC == mac {
			return &b, nil
		}
	}
	return nil, nil
}
