package dnsguard

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// drain consumes observations as the daemon would, until the benchmark ends.
func drain(b *testing.B, g *runningGuard) {
	ctx, cancel := context.WithCancel(context.Background())
	var grp errgroup.Group
	grp.Go(func() error {
		for {
			select {
			case <-g.obs:
			case <-ctx.Done():
				return nil
			}
		}
	})
	b.Cleanup(func() { cancel(); _ = grp.Wait() })
}

// benchUDP has 16 goroutines per core each send a query and wait for its
// answer over its own UDP socket, reporting queries/s end to end.
func benchUDP(b *testing.B, name string, want int) {
	up := startUpstream(b)
	g := startGuard(b, testOptions(up.Addr))
	drain(b, g)
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	var bad atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("udp", g.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 1500)
		for pb.Next() {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(wire); err != nil {
				bad.Add(1)
				continue
			}
			n, err := c.Read(buf)
			if err != nil || n < 4 || int(buf[3]&0xf) != want {
				bad.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	if n := bad.Load(); n > int64(b.N)/1000 {
		b.Errorf("%d of %d queries unanswered or wrong", n, b.N)
	}
}

// BenchmarkLocalUDP: a canary answered by the guard itself.
func BenchmarkLocalUDP(b *testing.B) { benchUDP(b, "use-application-dns.net.", dns.RcodeNameError) }

// BenchmarkForwardUDP: a name forwarded to a loopback upstream (in the same process).
func BenchmarkForwardUDP(b *testing.B) { benchUDP(b, "www.example.test.", dns.RcodeSuccess) }

// BenchmarkDnsperf runs dnsperf (the real load tool) against the guard and,
// in the same run, against dnsmasq forwarding to the same upstream, each for
// HALLMONITOR_DNSPERF_SECONDS (default 5) s. Run with -benchtime 1x
// (deploy/bench/dnsguard.sh).
func BenchmarkDnsperf(b *testing.B) {
	tools := lab.RequireTools(b, "dnsperf", "dnsmasq")
	dnsperf, dnsmasq := tools[0], tools[1]
	secs := 5
	if s, err := strconv.Atoi(os.Getenv("HALLMONITOR_DNSPERF_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	up := startUpstream(b)
	g := startGuard(b, testOptions(up.Addr))
	drain(b, g)
	dir := b.TempDir()
	local := filepath.Join(dir, "local.txt")
	fwd := filepath.Join(dir, "forward.txt")
	var lq, fq strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&lq, "%s A\n", []string{"use-application-dns.net", "mask.icloud.com", "dns.google", "x%d.dns.nextdns.io"}[i%4])
		fmt.Fprintf(&fq, "host%d.example.test A\n", i)
	}
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(lq.String(), "%d", "p")), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(fwd, []byte(fq.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	mport := startDnsmasq(b, dnsmasq, dir, up.Addr)
	_, gport, _ := net.SplitHostPort(g.addr)
	b.ResetTimer()
	for range b.N {
		for _, run := range []struct{ name, port, file string }{
			{"guard_local", gport, local},
			{"dnsmasq_local", mport, local},
			{"guard_forwarded", gport, fwd},
			{"dnsmasq_forwarded", mport, fwd},
		} {
			before := up.queries()
			qps, lost := runDnsperf(b, dnsperf, run.port, run.file, secs)
			b.ReportMetric(qps, run.name+"_q/s")
			b.Logf("dnsperf %-18s %9.0f queries/s, %5.2f%% lost, upstream asked %d times", run.name, qps, lost, up.queries()-before)
			if lost > 1 {
				b.Errorf("%s: %.2f%% of queries lost", run.name, lost)
			}
		}
	}
	st := g.Stats()
	b.Logf("guard stats: queries=%d local=%d forwarded=%d servfail=%d upstream_errors=%d observations=%d dropped=%d",
		st.Queries, st.AnsweredLocally, st.Forwarded, st.ServFail, st.UpstreamErrors, st.Observations, st.ObservationsDropped)
}

// startDnsmasq runs dnsmasq forwarding to upstream with caching off (so every
// query is forwarded, as the guard does) and NXDOMAIN for the local names;
// t.Cleanup ends it by PID.
func startDnsmasq(b *testing.B, bin, dir, upstream string) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	_ = pc.Close()
	uh, up, _ := net.SplitHostPort(upstream)
	cmd := exec.Command(bin, "--no-daemon", "--port="+port, "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--server="+uh+"#"+up, "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--cache-size=0", "--dns-forward-max=1000",
		"--address=/use-application-dns.net/mask.icloud.com/dns.google/dns.nextdns.io/")
	out := &lab.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatalf("start dnsmasq: %v", err)
	}
	var grp errgroup.Group
	grp.Go(func() error { _ = cmd.Wait(); return nil })
	b.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID
		_ = grp.Wait()
	})
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for range 50 {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		if r, _, err := c.Exchange(m, "127.0.0.1:"+port); err == nil && r.Rcode == dns.RcodeSuccess {
			return port
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("dnsmasq not answering on %s: %s", port, out.String())
	return ""
}

var (
	qpsRe  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	lostRe = regexp.MustCompile(`Queries lost:\s+\d+ \(([0-9.]+)%\)`)
)

func runDnsperf(b *testing.B, bin, port, file string, secs int) (qps, lostPct float64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-s", "127.0.0.1", "-p", port, "-d", file,
		"-l", strconv.Itoa(secs), "-c", "8", "-q", "256", "-t", "2").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v: %s", err, out)
	}
	m := qpsRe.FindSubmatch(out)
	l := lostRe.FindSubmatch(out)
	if m == nil || l == nil {
		b.Fatalf("dnsperf output not understood: %s", out)
	}
	qps, _ = strconv.ParseFloat(string(m[1]), 64)
	lostPct, _ = strconv.ParseFloat(string(l[1]), 64)
	return qps, lostPct
}
