package main

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/firewall"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

// recordingFirewall keeps the last Desired it was given.
type recordingFirewall struct {
	firewall.Firewall
	last []string // MACs
}

func (r *recordingFirewall) Set(_ context.Context, d firewall.Desired) error {
	r.last = r.last[:0]
	for _, b := range d.Blocks {
		r.last = append(r.last, b.MAC)
	}
	slices.Sort(r.last)
	return nil
}

// The safety valve judges new blocks, not those already in force: after a restart
// the daemon knows few devices, and the blocks carried over must not all be lifted.
func TestEnforcerSafetyValveAcrossRestart(t *testing.T) {
	cfg := &config.Config{Enforcement: config.Enforcement{MaxBlockShare: 0.3,
		Protect: []config.Protected{{VLAN: 30, Interface: "br-pupil"}}}}
	known := 1 // right after the restart: one device seen again
	fw := &recordingFirewall{}
	e := newEnforcer(cfg, fw, func(string) int { return known }, zap.NewNop())
	carried := []daemon.Block{
		{MAC: "02:00:00:00:00:01", VLAN: 30, Carried: true},
		{MAC: "02:00:00:00:00:02", VLAN: 30, Carried: true},
	}
	steps := []struct {
		name   string
		known  int
		blocks []daemon.Block
		want   []string
	}{
		{"blocks carried over a restart stay, although 2 of 1 known devices", 1, carried,
			[]string{"02:00:00:00:00:01", "02:00:00:00:00:02"}},
		{"a carried device seen again (no longer marked carried) stays: it is in force", 1,
			[]daemon.Block{{MAC: "02:00:00:00:00:01", VLAN: 30}, carried[1]},
			[]string{"02:00:00:00:00:01", "02:00:00:00:00:02"}},
		{"one new block among 10 known: 10 %, taken", 10,
			append(slices.Clone(carried), daemon.Block{MAC: "02:00:00:00:00:03", VLAN: 30}),
			[]string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"}},
		{"four more new at once among 10 known: 40 %, the new ones refused, the rest stays", 10,
			append(slices.Clone(carried),
				daemon.Block{MAC: "02:00:00:00:00:03", VLAN: 30}, daemon.Block{MAC: "02:00:00:00:00:04", VLAN: 30},
				daemon.Block{MAC: "02:00:00:00:00:05", VLAN: 30}, daemon.Block{MAC: "02:00:00:00:00:06", VLAN: 30},
				daemon.Block{MAC: "02:00:00:00:00:07", VLAN: 30}),
			[]string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"}},
		{"an unprotected VLAN is never enforced", 10,
			[]daemon.Block{{MAC: "02:00:00:00:00:09", VLAN: 20}}, []string{}},
	}
	for _, s := range steps {
		known = s.known
		if err := e.Apply(context.Background(), s.blocks); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(fw.last, s.want) && !(len(fw.last) == 0 && len(s.want) == 0) {
			t.Errorf("%s: firewall got %v, want %v", s.name, fw.last, s.want)
		}
	}
}
