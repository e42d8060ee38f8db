//go:build linux

package capture

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// envInt reads a positive integer from the environment, or def.
func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// BenchmarkLiveCapture blasts matching frames (DNS queries and DHCP requests
// from 3,000 synthetic devices, 802.1Q tagged) from one network namespace
// through a veth into another, where Live captures them, and reports what
// was sent and received per second and the kernel's drop count. Rate and
// duration: HALLMONITOR_LIVE_RATE (frames/s, default 150000) and
// HALLMONITOR_LIVE_SECONDS (default 3); HALLMONITOR_LIVE_RCVBUF sets
// Live.RecvBuffer (default: Live's own). deploy/bench/live-capture.sh runs it.
func BenchmarkLiveCapture(b *testing.B) {
	lab.RequireRoot(b)
	lab.RequireTools(b, "ip")
	rate := envInt(b, "HALLMONITOR_LIVE_RATE", 150000)
	secs := envInt(b, "HALLMONITOR_LIVE_SECONDS", 3)

	g := synth.New(7, 3000)
	var frames [][]byte
	for i := 0; len(frames) < 4096; i++ {
		k := synth.DNSQuery
		if i%16 == 0 {
			k = synth.DHCP
		}
		f, err := g.Frame(k, i%3000)
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
	}

	id := lab.RandomID(b)
	rx, tx := lab.NewNetns(b, id, "rx"), lab.NewNetns(b, id, "tx")
	rxIf, txIf := "hmb"+id+"r", "hmb"+id+"t"
	lab.Veth(b, rx, rxIf, tx, txIf)
	for _, n := range []*lab.Netns{rx, tx} { // no IPv6 autoconfiguration chatter in the count
		n.Exec(b, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	}

	live := &Live{Interfaces: []string{rxIf}, NetNS: rx.Path, RecvBuffer: envInt(b, "HALLMONITOR_LIVE_RCVBUF", defaultRecvBuffer)}
	out := make(chan daemon.Observation, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return live.Run(gctx, out) })
	var observed int
	eg.Go(func() error { // the consumer: counts, as fast as the engine's queue would take them
		for {
			select {
			case <-out:
				observed++
			case <-gctx.Done():
				return nil
			}
		}
	})
	b.Cleanup(func() {
		cancel()
		if err := eg.Wait(); err != nil {
			b.Errorf("live capture: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for st := live.Stats(); len(st.Interfaces) == 0 || st.Interfaces[0].State != StateCapturing; st = live.Stats() {
		if time.Now().After(deadline) {
			b.Fatalf("capture did not start: %+v", live.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	snd, err := lab.OpenSender(tx, txIf)
	if err != nil {
		b.Fatal(err)
	}
	defer snd.Close()

	before := live.Stats()
	b.ResetTimer()
	sent := 0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		n, err := snd.Blast(frames, rate, time.Duration(secs)*time.Second)
		sent += n
		if err != nil {
			b.Fatal(err)
		}
	}
	sendTime := time.Since(start)
	// Let the reader drain its queue: wait until the count stops moving.
	for last := uint64(0); ; {
		time.Sleep(200 * time.Millisecond)
		p := live.Stats().Packets
		if p == last {
			break
		}
		last = p
	}
	b.StopTimer()
	time.Sleep(kernelStatsEvery + 300*time.Millisecond) // one more PACKET_STATISTICS poll
	st := live.Stats()
	got := st.Packets - before.Packets
	drops := st.KernelDrops - before.KernelDrops
	b.ReportMetric(float64(sent)/sendTime.Seconds(), "sent/s")
	b.ReportMetric(float64(got)/sendTime.Seconds(), "received/s")
	b.ReportMetric(float64(drops), "kernel-drops")
	b.ReportMetric(100*float64(drops)/float64(max(sent, 1)), "drop-%")
	b.ReportMetric(100*float64(sent-int(min(got, uint64(sent))))/float64(max(sent, 1)), "lost-%")
	b.Logf("sent %d in %v; Live read %d (kernel: %d passed the filter, %d dropped); %d decode errors; stats %+v",
		sent, sendTime.Round(time.Millisecond), got, st.KernelPackets-before.KernelPackets, drops, st.DecodeErrors-before.DecodeErrors, st.Interfaces[0])
	if got == 0 {
		b.Fatal("Live received nothing")
	}
}
