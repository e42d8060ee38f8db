package capture

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// floodAlerts is a minimal in-memory alert store for the flood lab.
type floodAlerts struct {
	mu     sync.Mutex
	alerts []daemon.Alert
}

func (f *floodAlerts) InsertAlert(_ context.Context, a daemon.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = append(f.alerts, a)
	return nil
}
func (f *floodAlerts) CloseAlert(context.Context, string, time.Time) error { return nil }
func (f *floodAlerts) UpdateAlertWithAudit(context.Context, daemon.Alert, daemon.AuditEntry) error {
	return nil
}
func (f *floodAlerts) GetAlert(context.Context, string) (daemon.Alert, error) {
	return daemon.Alert{}, daemon.ErrNotFound
}
func (f *floodAlerts) OpenAlerts(context.Context) ([]daemon.Alert, error)   { return nil, nil }
func (f *floodAlerts) AppendAudit(context.Context, daemon.AuditEntry) error { return nil }

func rssMiB(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// A pupil's DHCP starvation tool on the pupil VLAN: 100,000 DISCOVERs from random
// MACs, sent as real frames from one namespace and captured by Live in another,
// through the real engine. The DSL gets one aggregated alert, not 100,000 devices,
// and memory stays bounded.
func TestLabDHCPFloodAggregated(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip")
	if testing.Short() {
		t.Skip("sends 100,000 frames")
	}
	const floodSize = 100_000
	frames := make([][]byte, 0, floodSize)
	for i := range floodSize {
		mac := net.HardwareAddr{0x02, 0x5a, byte(i >> 16), byte(i >> 8), byte(i), 0x01}
		f, err := lab.FloodDiscover(mac, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	id := lab.RandomID(t)
	rx, tx := lab.NewNetns(t, id, "rx"), lab.NewNetns(t, id, "tx")
	rxIf, txIf := "hmf"+id+"r", "hmf"+id+"t"
	lab.Veth(t, rx, rxIf, tx, txIf)

	pol, err := policy.ParseYAML([]byte(`zones: [{name: teaching, type: teaching, vlans: [30]}]
roles: [{role: pupil, vlans: [30]}]
rules:
  - name: pupil-devices
    when: {roles: [pupil], managed: false}
    then: {action: alert, severity: high, clauses: [SPT-13], message: Pupil's device switched on.}
default: {action: allow, message: ok}
`), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	store := &floodAlerts{}
	live := &Live{Interfaces: []string{rxIf}, NetNS: rx.Path}
	eng, err := daemon.New(daemon.Options{SiteID: "lab", Policy: pol, Classify: fingerprint.Classify, Store: store,
		Sources: map[string]daemon.Source{"capture": live}, FollowPacketTime: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var eg errgroup.Group
	eg.Go(func() error { return eng.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := eg.Wait(); err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for st := live.Stats(); len(st.Interfaces) == 0 || st.Interfaces[0].State != StateCapturing; st = live.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("capture did not start: %+v", live.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	heapMiB := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / (1 << 20)
	}
	before, heapBefore := rssMiB(t), heapMiB()
	snd, err := lab.OpenSender(tx, txIf)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	sent, err := snd.Blast(frames, 40_000, time.Duration(floodSize/40_000+1)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the capture has stopped moving and the engine has applied it.
	for last := uint64(0); ; {
		time.Sleep(300 * time.Millisecond)
		if p := live.Stats().Observations; p == last {
			break
		} else {
			last = p
		}
	}
	after, heapAfter := rssMiB(t), heapMiB()
	devices := len(eng.Devices())
	store.mu.Lock()
	floods := 0
	for _, a := range store.alerts {
		if a.Rule == "dhcp-flood" {
			floods++
		}
	}
	total := len(store.alerts)
	store.mu.Unlock()
	st := live.Stats()
	t.Logf("sent %d DISCOVERs; captured %d observations (kernel drops %d); %d devices tracked; %d alerts (%d flood); RSS %.0f -> %.0f MiB; live heap %.1f -> %.1f MiB",
		sent, st.Observations, st.KernelDrops, devices, total, floods, before, after, heapBefore, heapAfter)
	if floods != 1 {
		t.Errorf("%d dhcp-flood alerts, want exactly 1", floods)
	}
	if devices > daemon.DefaultFloodRate+10 {
		t.Errorf("%d devices tracked from a flood, want at most ~%d (those seen before it was recognised)", devices, daemon.DefaultFloodRate)
	}
	if total > daemon.DefaultFloodRate+10 {
		t.Errorf("%d alerts: the DSL must not be buried", total)
	}
	// What the flood leaves behind in the live heap (after a GC) is bounded. RSS is
	// only logged: the race detector (make test) multiplies it, and the test process
	// also holds the 100,000 prebuilt frames.
	if heapAfter > 64 {
		t.Errorf("live heap %.1f MiB after the flood (state of the whole test process), want <= 64 MiB", heapAfter)
	}
}
