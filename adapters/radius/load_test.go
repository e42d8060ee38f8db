package radius

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

// BenchmarkRadclientLoad drives the listener with the real client: one
// radclient process sending HALLMONITOR_RADIUS_REQUESTS (default 20,000)
// distinct Start / Interim-Update requests from a file, HALLMONITOR_RADCLIENT_PARALLEL
// (default 255) in parallel
// (deploy/bench/apfeed-load.sh runs it with -benchtime 1x).
func BenchmarkRadclientLoad(b *testing.B) {
	radclient := lab.RequireTools(b, "radclient")[0]
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("HALLMONITOR_RADIUS_REQUESTS")); err == nil && v > 0 {
		n = v
	}
	// radclient waits ~10 ms per outstanding slot between sends, so its rate
	// is about parallel × 100/s: 255 (its maximum) is the default here.
	parallel := os.Getenv("HALLMONITOR_RADCLIENT_PARALLEL")
	if parallel == "" {
		parallel = "255"
	}
	rr := start(b, Options{}, 4096)
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

	var sb strings.Builder
	for i := range n {
		status := "Start"
		if i%2 == 1 {
			status = "Interim-Update"
		}
		fmt.Fprintf(&sb, "Acct-Status-Type = %s\nUser-Name = \"pupil-%04d\"\nCalling-Station-Id = \"3C-28-6D-%02X-%02X-%02X\"\n"+
			"Called-Station-Id = \"18-E8-29-00-00-%02X:Pupils\"\nNAS-Identifier = \"classroom-%d\"\nAcct-Session-Id = \"%08X\"\n\n",
			status, i%3000, i>>16&0xff, i>>8&0xff, i&0xff, i%40, i%40, i)
	}
	file := filepath.Join(b.TempDir(), "requests")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	server := rr.l.Addr().(*net.UDPAddr).AddrPort().String()
	start := time.Now()
	out, err := runTool(b, "", radclient, "-q", "-s", "-p", parallel, "-r", "3", "-t", "2", "-f", file, server, "acct", string(secret))
	elapsed := time.Since(start)
	if err != nil {
		b.Fatalf("radclient: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for consumed.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := rr.l.Stats()
	b.Logf("radclient -f, %d requests, %s in parallel: %v = %.0f requests/s answered; %d observations; listener %+v\nradclient summary:\n%s",
		n, parallel, elapsed.Round(time.Millisecond), float64(st.Responses)/elapsed.Seconds(), consumed.Load(), st, strings.TrimSpace(out))
	if consumed.Load() != int64(n) {
		b.Errorf("%d observations for %d requests", consumed.Load(), n)
	}
}
