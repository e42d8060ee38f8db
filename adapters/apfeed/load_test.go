package apfeed

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// loadCount reads HALLMONITOR_APFEED_LINES (default 50,000).
func loadCount() int {
	if n, err := strconv.Atoi(os.Getenv("HALLMONITOR_APFEED_LINES")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// BenchmarkLoggerLoad drives the receiver with the real client, util-linux
// logger (deploy/bench/apfeed-load.sh runs it with -benchtime 1x):
//
//   - one logger process per line (how a shell loop sends), for 2 s;
//   - one logger process sending a file of N hostapd lines (-f) over TCP
//     (octet counting: flow-controlled, nothing may be lost) and over UDP
//     (the kernel drops what the receive buffer cannot hold; reported).
func BenchmarkLoggerLoad(b *testing.B) {
	logger := lab.RequireTools(b, "logger")[0]
	n := loadCount()
	rr := start(b, Options{})
	udpPort := fmt.Sprint(rr.udp.(*net.UDPAddr).Port)
	tcpPort := fmt.Sprint(rr.tcp.(*net.TCPAddr).Port)
	// The consumer takes observations as they come, like the daemon's loop.
	var consumed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	g.Go(func() error {
		for {
			select {
			case <-rr.out:
				consumed.Add(1)
			case <-ctx.Done():
				return nil
			}
		}
	})
	defer func() { cancel(); _ = g.Wait() }()
	// drain waits until want more observations arrived (or wait passed).
	drain := func(base int64, want int, wait time.Duration) int {
		deadline := time.Now().Add(wait)
		for consumed.Load()-base < int64(want) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return int(consumed.Load() - base)
	}

	// A shell loop: one process per message.
	start := time.Now()
	loops := 0
	for time.Since(start) < 2*time.Second {
		msg := fmt.Sprintf("wlan0: AP-STA-CONNECTED 3c:28:6d:00:%02x:%02x", loops/256%256, loops%256)
		if out, err := runTool(b, "", logger, "--server", "127.0.0.1", "--port", udpPort, "--udp", "--rfc3164", "-t", "hostapd", msg); err != nil {
			b.Fatalf("logger: %v\n%s", err, out)
		}
		loops++
	}
	got := drain(0, loops, 5*time.Second)
	b.Logf("logger, one process per line (UDP): %d lines in %v = %.0f lines/s; %d observations",
		loops, time.Since(start).Round(time.Millisecond), float64(loops)/time.Since(start).Seconds(), got)

	file := filepath.Join(b.TempDir(), "lines")
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "wlan0: AP-STA-CONNECTED 3c:28:6d:%02x:%02x:%02x\n", i>>16&0xff, i>>8&0xff, i&0xff)
	}
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, tr := range []struct{ name, port string }{{"tcp", tcpPort}, {"udp", udpPort}} {
		base := consumed.Load()
		start := time.Now()
		args := []string{"--server", "127.0.0.1", "--port", tr.port, "--" + tr.name, "--rfc5424", "-t", "hostapd", "-f", file}
		if tr.name == "tcp" {
			args = append(args, "--octet-count")
		}
		if out, err := runTool(b, "", logger, args...); err != nil {
			b.Fatalf("logger: %v\n%s", err, out)
		}
		sent := time.Since(start)
		got := drain(base, n, 5*time.Second)
		all := time.Since(start)
		b.Logf("logger -f, %d lines over %s: sent in %v; %d observations in %v = %.0f events/s (%.1f%% lost)",
			n, tr.name, sent.Round(time.Millisecond), got, all.Round(time.Millisecond), float64(got)/all.Seconds(), 100*float64(n-got)/float64(n))
		if tr.name == "tcp" && got != n {
			b.Errorf("TCP lost %d lines", n-got)
		}
	}
}
