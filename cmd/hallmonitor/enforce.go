package main

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

// safety turns the enforcement section into the daemon's never-block rules.
func safety(cfg *config.Config) daemon.Safety {
	s := daemon.Safety{NeverBlock: map[string]bool{}, ManagementVLANs: map[uint16]bool{}, ProtectedVLANs: map[uint16]bool{}}
	for _, m := range cfg.Enforcement.NeverBlock {
		s.NeverBlock[m] = true
	}
	for _, v := range cfg.Enforcement.ManagementVLANs {
		s.ManagementVLANs[v] = true
	}
	for _, p := range cfg.Enforcement.Protect {
		s.ProtectedVLANs[p.VLAN] = true
	}
	return s
}

// wouldBlock is monitor mode's enforcer: it changes nothing and logs each change
// of the desired set as "would block" / "would unblock", one line per device.
type wouldBlock struct {
	log  *zap.Logger
	prev map[string]daemon.Block
}

func (w *wouldBlock) Apply(_ context.Context, blocks []daemon.Block) error {
	next := make(map[string]daemon.Block, len(blocks))
	for _, b := range blocks {
		next[b.MAC] = b
		if _, had := w.prev[b.MAC]; !had {
			w.log.Info("would block (monitor mode)", zap.Uint16("vlan", b.VLAN), zap.String("rule", b.Rule),
				zap.String("clauses", strings.Join(b.Clauses, ",")), zap.Int("addresses", len(b.IPv4)+len(b.IPv6)))
		}
	}
	for mac, b := range w.prev {
		if _, still := next[mac]; !still {
			w.log.Info("would unblock (monitor mode)", zap.Uint16("vlan", b.VLAN), zap.String("rule", b.Rule))
		}
	}
	w.prev = next
	return nil
}
