package firewall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func blocks(iface string, n int) []Block {
	var out []Block
	for i := range n {
		out = append(out, Block{MAC: fmt.Sprintf("02:00:00:00:01:%02x", i), Interface: iface})
	}
	return out
}

func TestGuardFilter(t *testing.T) {
	known := func(m map[string]int) func(string) int { return func(i string) int { return m[i] } }
	tests := []struct {
		name     string
		guard    Guard
		in       []Block
		keep     int      // blocks left
		refusals []string // Refusal.String() of each, in order
	}{
		{
			name:  "allowlisted MAC is never blocked, whatever its spelling",
			guard: Guard{Never: []string{"02-00-00-00-01-00"}},
			in:    blocks("br-pupil", 2), keep: 1,
			refusals: []string{"not blocking 02:00:00:00:01:00 on br-pupil: allowlisted MAC"},
		},
		{
			name:  "management interface is never enforced on",
			guard: Guard{ManagementInterfaces: []string{"eth0.10"}},
			in:    append(blocks("eth0.10", 1), blocks("br-pupil", 1)...), keep: 1,
			refusals: []string{"not blocking 02:00:00:00:01:00 on eth0.10: management interface"},
		},
		{
			name:  "30% of 100 pupils: allowed",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{"br-pupil": 100})},
			in:    blocks("br-pupil", 30), keep: 30,
		},
		{
			name:  "31% of 100 pupils: the whole interface is refused, the other one is not",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{"br-pupil": 100, "eth1.30": 100})},
			in:    append(blocks("br-pupil", 31), blocks("eth1.30", 2)...), keep: 2,
			refusals: []string{"not newly blocking anyone on br-pupil: would newly block 31 of 100 known devices (31%), more than the 30% limit"},
		},
		{
			name:  "the same device twice counts once",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{"br-pupil": 10})},
			in:    append(blocks("br-pupil", 3), blocks("br-pupil", 3)...), keep: 6,
		},
		{
			name:  "daemon knows fewer devices than it blocks: blocked devices count as known",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{})},
			in:    blocks("br-pupil", 1), keep: 0,
			refusals: []string{"not newly blocking anyone on br-pupil: would newly block 1 of 1 known devices (100%), more than the 30% limit"},
		},
		{
			name:  "allowlisted devices do not count towards the share",
			guard: Guard{MaxShare: 0.3, Never: []string{"02:00:00:00:01:00"}, Known: known(map[string]int{"br-pupil": 10})},
			in:    blocks("br-pupil", 4), keep: 3,
			refusals: []string{"not blocking 02:00:00:00:01:00 on br-pupil: allowlisted MAC"},
		},
		{
			name: "after a restart: blocks in force stay although the daemon knows few devices yet",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{"br-pupil": 1}),
				Approved: func(_, mac string) bool { return mac != "02:00:00:00:01:04" }},
			in: blocks("br-pupil", 5), keep: 5,
		},
		{
			name: "too many new blocks at once: the new ones are refused, those in force stay",
			guard: Guard{MaxShare: 0.3, Known: known(map[string]int{"br-pupil": 10}),
				Approved: func(_, mac string) bool { return mac < "02:00:00:00:01:02" }},
			in: blocks("br-pupil", 6), keep: 2,
			refusals: []string{"not newly blocking anyone on br-pupil: would newly block 4 of 10 known devices (40%), more than the 30% limit"},
		},
		{
			name:  "no MaxShare: no share check",
			guard: Guard{},
			in:    blocks("br-pupil", 50), keep: 50,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ref := tt.guard.Filter(Desired{Blocks: tt.in})
			if len(out.Blocks) != tt.keep {
				t.Errorf("kept %d blocks, want %d", len(out.Blocks), tt.keep)
			}
			var got []string
			for _, r := range ref {
				got = append(got, r.String())
			}
			if !reflect.DeepEqual(got, tt.refusals) {
				t.Errorf("refusals %q, want %q", got, tt.refusals)
			}
		})
	}
}

// TestMonitorLogsChangesOnly: monitor mode installs nothing and tells the admin once
// per change, not on every Set; the device's MAC only at debug level.
func TestMonitorLogsChangesOnly(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	m := &Monitor{Log: zap.New(core)}
	ctx := context.Background()
	a := Block{MAC: "02:00:00:00:00:0A", Interface: "br-pupil", Reason: "phones-in-lessons (OSS-2.1)"}
	b := Block{MAC: "02:00:00:00:00:0b", Interface: "br-pupil"}
	steps := []struct {
		d    Desired
		want []string
	}{
		{Desired{Blocks: []Block{a}}, []string{"would block 02:00:00:00:00:0a"}},
		{Desired{Blocks: []Block{a}}, nil},
		{Desired{Blocks: []Block{a, b}}, []string{"would block 02:00:00:00:00:0b"}},
		{Desired{Blocks: []Block{b}}, []string{"would unblock 02:00:00:00:00:0a"}},
	}
	for i, s := range steps {
		if err := m.Set(ctx, s.d); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range logs.TakeAll() {
			if e.Level > zap.DebugLevel {
				if m := e.ContextMap(); m["mac"] != nil || m["ipv4"] != nil || m["interface"] != "br-pupil" {
					t.Errorf("step %d: %s line %q has fields %v: want the interface, and no MAC or address above debug", i, e.Level, e.Message, m)
				}
				continue
			}
			got = append(got, e.Message+" "+e.ContextMap()["mac"].(string))
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d logged %q, want %q", i, got, s.want)
		}
	}
	st, err := m.Status(ctx)
	if err != nil || st.Mode != ModeMonitor || len(st.Interfaces) != 0 {
		t.Errorf("monitor status %+v, %v: want monitor mode, nothing installed", st, err)
	}
}

// TestDetect: the flavour comes from iptables -V, unless the other flavour holds the
// host's rules (writing with the default would split the firewall in two).
func TestDetect(t *testing.T) {
	tests := []struct {
		name                  string
		version               string
		legacyRules, nftRules int // -1: program missing
		want                  Mode
	}{
		{"nft default, empty", "iptables v1.8.9 (nf_tables)", 0, 0, ModeNFT},
		{"legacy default, empty", "iptables v1.8.9 (legacy)", 0, 0, ModeLegacy},
		{"nft default but the rules are in legacy", "iptables v1.8.9 (nf_tables)", 12, 0, ModeLegacy},
		{"legacy default but the rules are in nft", "iptables v1.8.7 (legacy)", 0, 3, ModeNFT},
		{"old iptables without a suffix", "iptables v1.6.1", 5, -1, ModeLegacy},
		{"both hold rules, default has more", "iptables v1.8.9 (nf_tables)", 2, 4, ModeNFT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, out string) {
				script := "#!/bin/sh\ncat <<'EOF'\n" + out + "\nEOF\n"
				if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write("iptables", tt.version)
			save := func(n int) string {
				return "*filter\n:FORWARD ACCEPT [0:0]\n" + strings.Repeat("-A FORWARD -j ACCEPT\n", n) + "COMMIT"
			}
			if tt.legacyRules >= 0 {
				write("iptables-legacy-save", save(tt.legacyRules))
			}
			if tt.nftRules >= 0 {
				write("iptables-nft-save", save(tt.nftRules))
			}
			got, err := detect(context.Background(), runner{binDir: dir, timeout: 5e9})
			if err != nil || got != tt.want {
				t.Errorf("detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
