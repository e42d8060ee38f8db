package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// SaveBlocks replaces the saved desired set of firewall blocks.
func (s *Store) SaveBlocks(ctx context.Context, blocks []daemon.Block) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blocks WHERE site_id = ?`, s.siteID); err != nil {
			return err
		}
		for _, b := range blocks {
			v4, _ := json.Marshal(addrStrings(b.IPv4))
			v6, _ := json.Marshal(addrStrings(b.IPv6))
			cl, _ := json.Marshal(b.Clauses)
			if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (site_id, mac, vlan, ipv4, ipv6, rule, clauses) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				s.siteID, b.MAC, int(b.VLAN), string(v4), string(v6), b.Rule, string(cl)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save %d blocks: %w", len(blocks), err)
	}
	return nil
}

// LoadBlocks returns the saved desired set of blocks, by MAC.
func (s *Store) LoadBlocks(ctx context.Context) ([]daemon.Block, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT mac, vlan, ipv4, ipv6, rule, clauses FROM blocks WHERE site_id = ? ORDER BY mac`, s.siteID)
	if err != nil {
		return nil, fmt.Errorf("store: load blocks: %w", err)
	}
	defer rows.Close()
	var out []daemon.Block
	for rows.Next() {
		var b daemon.Block
		var vlan int
		var v4, v6, cl string
		if err := rows.Scan(&b.MAC, &vlan, &v4, &v6, &b.Rule, &cl); err != nil {
			return nil, fmt.Errorf("store: load blocks: %w", err)
		}
		b.VLAN = uint16(vlan)
		var s4, s6 []string
		if err := json.Unmarshal([]byte(v4), &s4); err != nil {
			return nil, fmt.Errorf("store: load blocks: %s: %w", b.MAC, err)
		}
		if err := json.Unmarshal([]byte(v6), &s6); err != nil {
			return nil, fmt.Errorf("store: load blocks: %s: %w", b.MAC, err)
		}
		if err := json.Unmarshal([]byte(cl), &b.Clauses); err != nil {
			return nil, fmt.Errorf("store: load blocks: %s: %w", b.MAC, err)
		}
		b.IPv4, b.IPv6 = parseAddrs(s4), parseAddrs(s6)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load blocks: %w", err)
	}
	return out, nil
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}
