//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// TestLabDHCPFloodDaemonMemory: a pupil's DHCP starvation tool sends 100,000
// DISCOVERs from random MACs on the pupil VLAN. The real daemon (its own process,
// built without the race detector, as installed) captures them on the gateway's
// trunk in a namespace the test creates. Its peak resident memory (VmHWM, read
// from /proc while it runs) must stay within 128 MiB, and the DSL gets one
// aggregated dhcp-flood alert, not 100,000 devices.
func TestLabDHCPFloodDaemonMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 100,000 frames to the daemon")
	}
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip")
	bin := binary(t)
	id := lab.RandomID(t)
	rx, tx := lab.NewNetns(t, id, "frx"), lab.NewNetns(t, id, "ftx")
	lab.Veth(t, rx, "trunk", tx, "blaster")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "hallmonitor.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`school: {name: Flood Lab School, site_id: flood-lab}
timezone: Europe/London
interfaces: [{name: trunk}]
zones: [{name: teaching, type: teaching, vlans: [30]}]
roles: [{role: pupil, vlans: [30]}]
rules:
  - name: pupil-devices
    when: {roles: [pupil], managed: false}
    then: {action: alert, severity: high, clauses: [SPT-13], message: Pupil's device switched on.}
default: {action: allow, message: ok}
dashboard: {listen: "127.0.0.1:18082"}
storage: {data_dir: %s}
logging: {level: info, format: json}
`, filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatal(err)
	}
	const floodSize = 100_000
	frames := make([][]byte, 0, floodSize)
	for i := range floodSize {
		f, err := lab.FloodDiscover(net.HardwareAddr{0x02, 0x5b, byte(i >> 16), byte(i >> 8), byte(i), 0x01}, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}

	d := rx.Start(t, bin, "run", "--config", cfg)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(d.Output.String(), "HallMonitor running"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start within 30 s:\n%s", tail(d.Output.String(), 30))
		}
	}
	time.Sleep(time.Second) // the capture socket opens
	pid := d.Cmd.Process.Pid
	startRSS := procStatusMiB(t, pid, "VmRSS")

	snd, err := lab.OpenSender(tx, "blaster")
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	sent, err := snd.Blast(frames, 40_000, time.Duration(floodSize/40_000+1)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the engine works through what it captured
	rss, peak := procStatusMiB(t, pid, "VmRSS"), procStatusMiB(t, pid, "VmHWM")

	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !d.Wait(20 * time.Second) {
		t.Fatalf("the daemon did not stop within 20 s of SIGTERM")
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "data", "hallmonitor.db"), "flood-lab", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alerts, err := st.ListAlerts(context.Background(), daemon.AlertFilter{Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	floods := 0
	for _, a := range alerts {
		if a.Rule == "dhcp-flood" {
			floods++
		}
	}
	t.Logf("MEASURED daemon under a 100,000-MAC DHCP flood: sent %d DISCOVERs at 40k/s; RSS %.0f MiB before, %.0f MiB after, peak (VmHWM) %.0f MiB; %d alerts stored (%d dhcp-flood)",
		sent, startRSS, rss, peak, len(alerts), floods)
	if peak > 128 {
		t.Errorf("the daemon's peak resident memory was %.0f MiB during the flood, want <= 128 MiB", peak)
	}
	if floods != 1 {
		t.Errorf("%d dhcp-flood alerts, want exactly 1", floods)
	}
	if len(alerts) > daemon.DefaultFloodRate+10 {
		t.Errorf("%d alerts from one flood: the DSL must not be buried", len(alerts))
	}
}

// procStatusMiB reads a kB field of /proc/PID/status in MiB.
func procStatusMiB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
