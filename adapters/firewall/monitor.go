package firewall

import (
	"context"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"
)

// Monitor is the default backend: it installs nothing and logs "would block" and
// "would unblock", one line per change (not per Set call). Use it as &Monitor{Log: l}.
type Monitor struct {
	Log *zap.Logger

	mu   sync.Mutex
	last map[monitorKey]Block // what the last Set would have blocked
}

type monitorKey struct{ iface, mac string }

var _ Firewall = (*Monitor)(nil)

// Set logs the difference from the previous Set.
func (m *Monitor) Set(_ context.Context, d Desired) error {
	if _, err := normalize(d); err != nil {
		return err
	}
	log := m.Log
	if log == nil {
		log = zap.NewNop()
	}
	next := map[monitorKey]Block{}
	for _, b := range d.Blocks {
		mac, _ := NormalizeMAC(b.MAC) // validated above
		next[monitorKey{b.Interface, mac}] = b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range sortedMonitorKeys(next) {
		if _, ok := m.last[k]; !ok {
			b := next[k]
			// MACs and addresses are personal data: only the debug line names the device
			// (the dashboard's alert says who, to those allowed to see it).
			log.Info("would block", zap.String("interface", k.iface), zap.String("reason", b.Reason))
			log.Debug("would block", zap.String("mac", k.mac), zap.String("interface", k.iface),
				zap.Stringers("ipv4", b.IPv4), zap.Stringers("ipv6", b.IPv6))
		}
	}
	for _, k := range sortedMonitorKeys(m.last) {
		if _, ok := next[k]; !ok {
			log.Info("would unblock", zap.String("interface", k.iface))
			log.Debug("would unblock", zap.String("mac", k.mac), zap.String("interface", k.iface))
		}
	}
	m.last = next
	return nil
}

// Status reports monitor mode with nothing installed.
func (m *Monitor) Status(context.Context) (Installed, error) {
	return Installed{Mode: ModeMonitor, Interfaces: map[string]Members{}}, nil
}

// Flush forgets what would have been blocked (nothing is installed).
func (m *Monitor) Flush(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = nil
	return nil
}

func sortedMonitorKeys(m map[monitorKey]Block) []monitorKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b monitorKey) int {
		if c := cmpStr(a.iface, b.iface); c != 0 {
			return c
		}
		return cmpStr(a.mac, b.mac)
	})
}
