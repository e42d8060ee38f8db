package dnsguard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// HALLMONITOR_DNSPERF_SECONDS (default 5) s; HALLMONITOR_DNSPERF_RUNS
// (comma-separated run names) picks some of the runs. Run with -benchtime 1x
// (deploy/bench/dnsguard.sh). The upstream is the test upstream in a process
// of its own, so that each server's CPU time per query is measured apart:
// this process's for the guard, /proc's for dnsmasq. That figure is steadier
// than queries/s when other jobs share the cores.
func BenchmarkDnsperf(b *testing.B) {
	tools := lab.RequireTools(b, "dnsperf", "dnsmasq")
	dnsperf, dnsmasq := tools[0], tools[1]
	secs := 5
	if s, err := strconv.Atoi(os.Getenv("HALLMONITOR_DNSPERF_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	up := startUpstreamProcess(b)
	g := startGuard(b, testOptions(up.addr))
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
	mport, mpid := startDnsmasq(b, dnsmasq, dir, up.addr)
	_, gport, _ := net.SplitHostPort(g.addr)
	self := os.Getpid()
	b.ResetTimer()
	for range b.N {
		for _, run := range []struct {
			name, port, file string
			pid              int
		}{
			{"guard_local", gport, local, self},
			{"dnsmasq_local", mport, local, mpid},
			{"guard_forwarded", gport, fwd, self},
			{"dnsmasq_forwarded", mport, fwd, mpid},
		} {
			if only := os.Getenv("HALLMONITOR_DNSPERF_RUNS"); only != "" && !slices.Contains(strings.Split(only, ","), run.name) {
				continue
			}
			before := up.queries(b)
			cpu0, ucpu0 := processCPU(run.pid), processCPU(up.pid)
			qps, n, lost := runDnsperf(b, dnsperf, run.port, run.file, secs)
			us := float64(processCPU(run.pid)-cpu0) / 1e3 / float64(max(n, 1))
			uus := float64(processCPU(up.pid)-ucpu0) / 1e3 / float64(max(n, 1))
			b.ReportMetric(qps, run.name+"_q/s")
			b.ReportMetric(us, run.name+"_µs_cpu/q")
			b.Logf("dnsperf %-18s %9.0f queries/s, %5.2f%% lost, upstream asked %6d times; CPU per query: server %5.1f µs, upstream %5.1f µs",
				run.name, qps, lost, up.queries(b)-before, us, uus)
			if lost > 1 {
				b.Errorf("%s: %.2f%% of queries lost", run.name, lost)
			}
		}
	}
	st := g.Stats()
	b.Logf("guard stats: queries=%d local=%d forwarded=%d servfail=%d upstream_errors=%d observations=%d dropped=%d",
		st.Queries, st.AnsweredLocally, st.Forwarded, st.ServFail, st.UpstreamErrors, st.Observations, st.ObservationsDropped)
}

// upstreamEnv makes this test binary the test upstream (TestUpstreamProcess).
const upstreamEnv = "HALLMONITOR_DNSGUARD_UPSTREAM_PROCESS"

// TestUpstreamProcess is not a test: with upstreamEnv set it runs the test
// upstream, prints its address and serves until its stdin closes
// (startUpstreamProcess).
func TestUpstreamProcess(t *testing.T) {
	if os.Getenv(upstreamEnv) != "1" {
		return
	}
	up := startUpstream(t)
	fmt.Printf("ADDR %s\n", up.Addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

type upstreamProcess struct {
	addr string
	pid  int
}

// queries asks the upstream process how many queries it has answered.
func (u *upstreamProcess) queries(b *testing.B) int64 {
	m := new(dns.Msg)
	m.SetQuestion(countName, dns.TypeTXT)
	r, err := dns.Exchange(m, u.addr)
	if err != nil || len(r.Answer) != 1 {
		b.Fatalf("upstream query count: %v %v", err, r)
	}
	n, _ := strconv.ParseInt(r.Answer[0].(*dns.TXT).Txt[0], 10, 64)
	return n
}

// startUpstreamProcess runs the test upstream in a child process (this test
// binary, TestUpstreamProcess); it ends when its stdin is closed, or is
// killed by PID, in b.Cleanup.
func startUpstreamProcess(b *testing.B) *upstreamProcess {
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpstreamProcess$")
	cmd.Env = append(os.Environ(), upstreamEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start upstream process: %v", err)
	}
	var grp errgroup.Group
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		grp.Go(func() error { _ = cmd.Wait(); close(done); return nil })
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill() // by PID
		}
		_ = grp.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			grp.Go(func() error { _, _ = io.Copy(io.Discard, stdout); return nil })
			return &upstreamProcess{addr: addr, pid: cmd.Process.Pid}
		}
	}
	b.Fatalf("upstream process printed no address: %v", sc.Err())
	return nil
}

// processCPU is a process's user+system CPU time in nanoseconds
// (/proc/PID/stat, in clock ticks of 10 ms), 0 when unknown.
func processCPU(pid int) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(st[i+1:])) // from field 3 (state) on
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + stime) * int64(10*time.Millisecond)
}

// startDnsmasq runs dnsmasq forwarding to upstream with caching off (so every
// query is forwarded, as the guard does) and NXDOMAIN for the local names;
// t.Cleanup ends it by PID.
func startDnsmasq(b *testing.B, bin, dir, upstream string) (port string, pid int) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ = net.SplitHostPort(pc.LocalAddr().String())
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
			return port, cmd.Process.Pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("dnsmasq not answering on %s: %s", port, out.String())
	return "", 0
}

var (
	qpsRe  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	doneRe = regexp.MustCompile(`Queries completed:\s+(\d+)`)
	lostRe = regexp.MustCompile(`Queries lost:\s+\d+ \(([0-9.]+)%\)`)
)

func runDnsperf(b *testing.B, bin, port, file string, secs int) (qps float64, completed int64, lostPct float64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-s", "127.0.0.1", "-p", port, "-d", file,
		"-l", strconv.Itoa(secs), "-c", "8", "-q", "256", "-t", "2").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v: %s", err, out)
	}
	m := qpsRe.FindSubmatch(out)
	l := lostRe.FindSubmatch(out)
	d := doneRe.FindSubmatch(out)
	if m == nil || l == nil || d == nil {
		b.Fatalf("dnsperf output not understood: %s", out)
	}
	qps, _ = strconv.ParseFloat(string(m[1]), 64)
	completed, _ = strconv.ParseInt(string(d[1]), 10, 64)
	lostPct, _ = strconv.ParseFloat(string(l[1]), 64)
	return qps, completed, lostPct
}
