package dnsguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Fixed records of the test upstream (documentation addresses, RFC 5737 / 3849).
var (
	upstreamA    = netip.MustParseAddr("192.0.2.10")
	upstreamAAAA = netip.MustParseAddr("2001:db8::10")
	otherA       = netip.MustParseAddr("192.0.2.99") // any other name
	blockV4      = netip.MustParseAddr("192.0.2.80")
	blockV6      = netip.MustParseAddr("2001:db8::80")
)

const bigAnswers = 40 // "big.test." has this many A records: too many for 512 bytes

// testUpstream is a real miekg/dns server on 127.0.0.1 (UDP and TCP on one
// port) answering fixed records, counting what it receives.
type testUpstream struct {
	Addr       string
	udpQ, tcpQ atomic.Int64
	lastID     atomic.Int64
}

func (u *testUpstream) queries() int64 { return u.udpQ.Load() + u.tcpQ.Load() }

// countName asked for TXT returns the upstream's query count (not counted).
const countName = "queries.upstream.test."

func (u *testUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 && r.Question[0].Name == countName && r.Question[0].Qtype == dns.TypeTXT {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: countName, Rrtype: dns.TypeTXT, Class: dns.ClassINET},
			Txt: []string{strconv.FormatInt(u.queries(), 10)}}}
		_ = w.WriteMsg(m)
		return
	}
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	if udp {
		u.udpQ.Add(1)
	} else {
		u.tcpQ.Add(1)
	}
	u.lastID.Store(int64(r.Id))
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 300}
	switch name := strings.ToLower(q.Name); {
	case name == "big.test." && q.Qtype == dns.TypeA:
		if udp { // an upstream whose UDP limit is small: always truncates over UDP
			m.Truncated = true
			break
		}
		for i := range bigAnswers {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(198, 51, 100, byte(i+1))})
		}
	case name == "edns.test." && q.Qtype == dns.TypeTXT: // echoes the query's EDNS0
		txt := "no-edns"
		if opt := r.IsEdns0(); opt != nil {
			txt = fmt.Sprintf("size=%d do=%t options=%d", opt.UDPSize(), opt.Do(), len(opt.Option))
		}
		m.Answer = []dns.RR{&dns.TXT{Hdr: hdr, Txt: []string{txt, fmt.Sprintf("cd=%t", r.CheckingDisabled)}}}
	case q.Qtype == dns.TypeTXT && strings.HasSuffix(name, ".echo.test."): // answers with its own name
		m.Answer = []dns.RR{&dns.TXT{Hdr: hdr, Txt: []string{name}}}
	case q.Qtype == dns.TypeA && name == "www.example.test.":
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: upstreamA.AsSlice()}}
	case q.Qtype == dns.TypeAAAA && name == "www.example.test.":
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: upstreamAAAA.AsSlice()}}
	case q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: otherA.AsSlice()}}
	case q.Qtype == dns.TypeMX:
		m.Answer = []dns.RR{&dns.MX{Hdr: hdr, Preference: 10, Mx: "mx.example.test."}}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	_ = w.WriteMsg(m)
}

// startUpstream starts a test upstream; it is shut down in t.Cleanup.
func startUpstream(t testing.TB) *testUpstream {
	t.Helper()
	pc, ln := listenUDPTCP(t)
	u := &testUpstream{Addr: pc.LocalAddr().String()}
	serve(t, &dns.Server{PacketConn: pc, Handler: u}, &dns.Server{Listener: ln, Handler: u})
	return u
}

// listenUDPTCP binds UDP and TCP on one kernel-chosen loopback port. The port
// the kernel picks for UDP may be taken over TCP by another test's connection
// (CI saw "bind: address already in use"), so it chooses again a few times.
func listenUDPTCP(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			// A burst of 300 queries overflows the default 208 KiB receive
			// buffer under -race (the kernel's RcvbufErrors counted exactly the
			// guard's "upstream timeouts"); a real resolver has room for it.
			_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
			return pc, ln
		}
		_ = pc.Close()
		if attempt == 20 {
			t.Fatalf("no loopback port free over both UDP and TCP after %d tries: %v", attempt+1, err)
		}
	}
}

// serve runs miekg/dns servers under an errgroup until t's cleanup.
func serve(t testing.TB, servers ...*dns.Server) {
	t.Helper()
	var grp errgroup.Group
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		grp.Go(s.ActivateAndServe)
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("test DNS server did not start")
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if err := s.Shutdown(); err != nil {
				t.Errorf("shutdown test server: %v", err)
			}
		}
		if err := grp.Wait(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Logf("test server: %v", err)
		}
	})
}

// blackhole is a UDP socket that reads queries and never answers (an upstream
// that is up but hung); closed in t.Cleanup.
func blackhole(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc.LocalAddr().String() // nobody reads: datagrams queue and are dropped
}

// closedPort returns a loopback UDP port nothing listens on (the kernel
// answers ICMP port unreachable).
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	_ = pc.Close()
	return a
}

// Client addresses on loopback (all of 127/8 is local on Linux).
var (
	pupil    = netip.MustParseAddr("127.0.0.1") // known, not blocked
	blocked  = netip.MustParseAddr("127.0.0.2") // known, blocked
	stranger = netip.MustParseAddr("127.0.0.3") // not in the leases
)

var macs = map[netip.Addr]string{pupil: "aa:bb:cc:00:00:01", blocked: "aa:bb:cc:00:00:02"}

func testOptions(upstreams ...string) Options {
	return Options{
		Listen:         []string{"127.0.0.1:0"},
		Upstreams:      upstreams,
		BlockPageV4:    blockV4,
		BlockPageV6:    blockV6,
		Blocked:        func(c netip.Addr) (string, bool) { return macs[c], c == blocked },
		BlockPageNames: []string{"blocked.school.test"},
		MACFor:         func(c netip.Addr) string { return macs[c] },
		Timeout:        time.Second,
	}
}

// runningGuard is a Guard serving until the test ends; cleanup cancels it and
// checks Run returned nil promptly and released its port.
type runningGuard struct {
	*Guard
	addr string
	obs  chan daemon.Observation
}

func startGuard(t testing.TB, o Options) *runningGuard {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rg := &runningGuard{Guard: g, addr: g.Addrs()[0].String(), obs: make(chan daemon.Observation, 1<<16)}
	ctx, cancel := context.WithCancel(context.Background())
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return g.Run(gctx, rg.obs) })
	t.Cleanup(func() {
		cancel()
		done := make(chan error, 1)
		var w errgroup.Group
		w.Go(func() error { done <- grp.Wait(); return nil })
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(o.Timeout + 3*time.Second):
			t.Errorf("Run still running %v after cancel", o.Timeout+3*time.Second)
		}
		_ = w.Wait()
		// The port is free again (UDP and TCP): a restarted daemon can bind it.
		pc, err := net.ListenPacket("udp", rg.addr)
		if err != nil {
			t.Errorf("UDP port not released after Run: %v", err)
		} else {
			_ = pc.Close()
		}
		ln, err := net.Listen("tcp", rg.addr)
		if err != nil {
			t.Errorf("TCP port not released after Run: %v", err)
		} else {
			_ = ln.Close()
		}
	})
	waitServing(t, rg.addr)
	return rg
}

// waitServing waits until the guard answers over UDP and TCP.
func waitServing(t testing.TB, addr string) {
	t.Helper()
	for _, n := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: n, Timeout: 200 * time.Millisecond}
		ok := false
		for range 50 {
			m := new(dns.Msg)
			m.SetQuestion("use-application-dns.net.", dns.TypeA)
			if _, _, err := c.Exchange(m, addr); err == nil {
				ok = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !ok {
			t.Fatalf("guard not answering over %s on %s", n, addr)
		}
	}
}

// query sends one question from the client address over net ("udp"/"tcp").
func query(t testing.TB, network string, from netip.Addr, server, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(4096, false)
	}
	r, err := exchangeFrom(network, from, server, m)
	if err != nil {
		t.Fatalf("%s %s %s from %v: %v", network, name, dns.TypeToString[qtype], from, err)
	}
	return r
}

func exchangeFrom(network string, from netip.Addr, server string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 3 * time.Second, Dialer: &net.Dialer{Timeout: 3 * time.Second}}
	if network == "udp" {
		c.Dialer.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	} else {
		c.Dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	r, _, err := c.Exchange(m, server)
	return r, err
}

func answers(m *dns.Msg) []string {
	var s []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			s = append(s, rr.A.String())
		case *dns.AAAA:
			s = append(s, rr.AAAA.String())
		case *dns.MX:
			s = append(s, "MX "+rr.Mx)
		case *dns.TXT:
			s = append(s, strings.Join(rr.Txt, " "))
		default:
			s = append(s, rr.String())
		}
	}
	return s
}
