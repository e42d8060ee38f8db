package apfeed

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func benchParse(b *testing.B, line string) {
	l := []byte(line)
	now := time.Date(2026, 6, 30, 18, 0, 10, 0, time.Local)
	if _, ok := Parse(l, now); !ok {
		b.Fatalf("no event in %q", line)
	}
	b.ReportAllocs()
	for b.Loop() {
		Parse(l, now)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParseHostapd(b *testing.B) {
	benchParse(b, `<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: AP-STA-CONNECTED 3c:28:6d:11:22:33 auth_alg=open`)
}

func BenchmarkParseHostapd5424(b *testing.B) {
	benchParse(b, `<13>1 2026-06-30T18:00:00.593378+01:00 classroom-12 hostapd - - [timeQuality tzKnown="1" isSynced="1"] wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: associated (aid 1)`)
}

func BenchmarkParseUniFiStahtd(b *testing.B) {
	benchParse(b, fuzzSeeds[3])
}

func BenchmarkParseAruba(b *testing.B) {
	benchParse(b, fuzzSeeds[5])
}

// BenchmarkReceiverUDP is the whole path over loopback: a Go sender writes
// hostapd lines as UDP datagrams from 3,000 stations, the receiver parses
// them and hands observations to a consumer. The sender keeps at most 512
// datagrams in flight so the figure is the receiver's rate, not the kernel's
// drop rate.
func BenchmarkReceiverUDP(b *testing.B) {
	r, err := New(Options{Listen: []string{"udp://127.0.0.1:0"}, Allow: allowLoopback})
	if err != nil {
		b.Fatal(err)
	}
	lines := make([][]byte, 3000)
	for i := range lines {
		lines[i] = []byte(fmt.Sprintf("<30>%s classroom-%d hostapd: wlan0: AP-STA-CONNECTED 3c:28:6d:00:%02x:%02x",
			time.Now().Format(time.Stamp), i%40, i/256, i%256))
	}
	c, err := net.DialUDP("udp", nil, r.Addrs()[0].(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan daemon.Observation, 4096)
	var run, consume errgroup.Group
	run.Go(func() error { return r.Run(ctx, out) })
	received := make(chan int, 1)
	consume.Go(func() error {
		n := 0
		for range out {
			if n++; n == b.N {
				received <- n
			}
		}
		return nil
	})
	b.ResetTimer()
	got := 0
	for i := 0; i < b.N; i++ {
		for uint64(i)-r.observations.Load() > 512 {
			time.Sleep(20 * time.Microsecond)
		}
		if _, err := c.Write(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case got = <-received:
	case <-time.After(10 * time.Second):
		got = int(r.observations.Load())
	}
	b.StopTimer()
	cancel()
	if err := run.Wait(); err != nil {
		b.Fatal(err)
	}
	close(out) // Run has returned: nothing sends any more
	_ = consume.Wait()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "events/s")
	if got != b.N {
		b.Errorf("received %d of %d", got, b.N)
	}
}
