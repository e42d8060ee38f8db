package dnsguard

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// What a pupil's device gets for each kind of name, over UDP and over TCP,
// and whether the school's resolver was asked at all.
func TestAnswers(t *testing.T) {
	up := startUpstream(t)
	o := testOptions(up.Addr)
	o.AllowResolvers = []string{"doh.familyshield.opendns.com"} // the school's own DoH filter
	g := startGuard(t, o)
	st0 := g.Stats() // waitServing's canary queries
	tests := []struct {
		name      string
		from      netip.Addr
		qname     string
		qtype     uint16
		rcode     int
		want      []string // answer data
		upstream  bool     // the upstream must be asked
		negSOA    bool     // a SOA in the authority section (negative caching)
		wantTTL   uint32   // TTL of the first answer, when not zero
		whyMatter string
	}{
		{"forwarded A", pupil, "www.example.test", dns.TypeA, dns.RcodeSuccess, []string{upstreamA.String()}, true, false, 0,
			"ordinary names resolve through the school's filtered resolver"},
		{"forwarded AAAA", pupil, "www.example.test", dns.TypeAAAA, dns.RcodeSuccess, []string{upstreamAAAA.String()}, true, false, 0, ""},
		{"Private Relay mask", pupil, "mask.icloud.com", dns.TypeA, dns.RcodeNameError, nil, false, true, 0,
			"Apple: a negative answer turns iCloud Private Relay off on this network"},
		{"Private Relay mask-h2", pupil, "mask-h2.icloud.com", dns.TypeAAAA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"Private Relay HTTPS record", pupil, "mask.icloud.com", dns.TypeHTTPS, dns.RcodeNameError, nil, false, true, 0, ""},
		{"Firefox canary", pupil, "use-application-dns.net", dns.TypeA, dns.RcodeNameError, nil, false, true, 0,
			"Mozilla: NXDOMAIN disables Firefox's default DoH"},
		{"Google DoH", pupil, "dns.google", dns.TypeA, dns.RcodeNameError, nil, false, true, 0,
			"a browser set to Google DoH cannot bootstrap and falls back"},
		{"Cloudflare DoH, mixed case, trailing dot", pupil, "Mozilla.CloudFlare-DNS.com.", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"Cloudflare DoH for Chrome", pupil, "chrome.cloudflare-dns.com", dns.TypeAAAA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"Cloudflare one.one.one.one", pupil, "one.one.one.one", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"Quad9 DoH", pupil, "dns.quad9.net", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"OpenDNS DoH", pupil, "doh.opendns.com", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"NextDNS DoH, per-profile subdomain", pupil, "abc123.dns.nextdns.io", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"CleanBrowsing DoH HTTPS record", pupil, "doh.cleanbrowsing.org", dns.TypeHTTPS, dns.RcodeNameError, nil, false, true, 0, ""},
		{"school's own DoH filter allowed", pupil, "doh.familyshield.opendns.com", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0,
			"AllowResolvers keeps the school's managed devices working"},
		{"google.com not over-blocked", pupil, "www.google.com", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0, ""},
		{"quad9.net website not over-blocked", pupil, "quad9.net", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0, ""},
		{"lookalike not over-blocked", pupil, "notdns.google.example", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0, ""},
		{"blocked client A → block page", blocked, "www.example.test", dns.TypeA, dns.RcodeSuccess, []string{blockV4.String()}, false, false, BlockTTL,
			"a blocked device lands on the block page, and not for long once unblocked"},
		{"blocked client AAAA → block page", blocked, "tiktok.example", dns.TypeAAAA, dns.RcodeSuccess, []string{blockV6.String()}, false, false, BlockTTL, ""},
		{"blocked client HTTPS → no data", blocked, "www.example.test", dns.TypeHTTPS, dns.RcodeSuccess, nil, false, true, 0,
			"HTTPS records' address hints would lead past the block page"},
		{"blocked client MX forwarded", blocked, "www.example.test", dns.TypeMX, dns.RcodeSuccess, []string{"MX mx.example.test."}, true, false, 0, ""},
		{"blocked client, block page host resolves", blocked, "blocked.school.test", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0,
			"the block page itself must load"},
		{"blocked client, block page CDN resolves", blocked, "cdn.blocked.school.test", dns.TypeA, dns.RcodeSuccess, []string{otherA.String()}, true, false, 0, ""},
		{"blocked client, canary still NXDOMAIN", blocked, "use-application-dns.net", dns.TypeA, dns.RcodeNameError, nil, false, true, 0, ""},
		{"unknown client forwarded", stranger, "www.example.test", dns.TypeA, dns.RcodeSuccess, []string{upstreamA.String()}, true, false, 0, ""},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				before := up.queries()
				r := query(t, network, tc.from, g.addr, tc.qname, tc.qtype, true)
				if r.Rcode != tc.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if got := answers(r); !slices.Equal(got, tc.want) {
					t.Errorf("answers %v, want %v", got, tc.want)
				}
				if asked := up.queries() > before; asked != tc.upstream {
					t.Errorf("upstream asked: %v, want %v", asked, tc.upstream)
				}
				if hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA; hasSOA != tc.negSOA {
					t.Errorf("negative-caching SOA present: %v, want %v (%v)", hasSOA, tc.negSOA, r.Ns)
				}
				if tc.wantTTL != 0 && (len(r.Answer) == 0 || r.Answer[0].Header().Ttl != tc.wantTTL) {
					t.Errorf("answer TTL: %v, want %d", r.Answer, tc.wantTTL)
				}
				if !r.RecursionAvailable {
					t.Error("RA not set: stub resolvers may distrust the answer")
				}
				if r.IsEdns0() == nil {
					t.Error("no OPT record in the reply to an EDNS0 query (RFC 6891)")
				}
				if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, dns.Fqdn(tc.qname)) {
					t.Errorf("question not echoed: %v", r.Question)
				}
			})
		}
	}
	st := g.Stats()
	count := func(pred func(i int) bool) (n uint64) {
		for i := range tests {
			if pred(i) {
				n += 2 // UDP and TCP
			}
		}
		return n
	}
	wantCanaries := count(func(i int) bool {
		return slices.Contains(canaries, normalize(tests[i].qname))
	})
	wantResolvers := count(func(i int) bool {
		return tests[i].rcode == dns.RcodeNameError && !slices.Contains(canaries, normalize(tests[i].qname))
	})
	wantBlocked := count(func(i int) bool {
		return tests[i].from == blocked && !tests[i].upstream && tests[i].rcode == dns.RcodeSuccess
	})
	st.Canaries -= st0.Canaries
	if st.Canaries != wantCanaries || st.ResolverNames != wantResolvers || st.BlockedAnswers != wantBlocked {
		t.Errorf("stats canaries=%d resolvers=%d blocked=%d, want %d %d %d", st.Canaries, st.ResolverNames, st.BlockedAnswers,
			wantCanaries, wantResolvers, wantBlocked)
	}
	if st.AnsweredLocally < st.Canaries+st.ResolverNames+st.BlockedAnswers || st.Forwarded == 0 || st.ServFail != 0 || st.UpstreamErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The client's message ID and EDNS0 settings reach the upstream and the ID
// comes back; the upstream sees a different, random ID.
func TestForwardPreservesIDAndEDNS(t *testing.T) {
	up := startUpstream(t)
	g := startGuard(t, testOptions(up.Addr))
	tests := []struct {
		name    string
		network string
		edns    func(m *dns.Msg)
		want    string
	}{
		{"no EDNS0", "udp", func(*dns.Msg) {}, "no-edns cd=false"},
		{"EDNS0 1400, DO", "udp", func(m *dns.Msg) { m.SetEdns0(1400, true) }, "size=1400 do=true options=0 cd=false"},
		{"EDNS0 with cookie, CD", "udp", func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
			m.CheckingDisabled = true
		}, "size=1232 do=false options=1 cd=true"},
		{"TCP, EDNS0 4096", "tcp", func(m *dns.Msg) { m.SetEdns0(4096, true) }, "size=4096 do=true options=0 cd=false"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("edns.test.", dns.TypeTXT)
			m.Id = uint16(0x4100 + i)
			tc.edns(m)
			r, err := exchangeFrom(tc.network, pupil, g.addr, m) // miekg/dns checks the reply's ID
			if err != nil {
				t.Fatal(err)
			}
			if r.Id != m.Id {
				t.Errorf("reply ID %#x, want the client's %#x", r.Id, m.Id)
			}
			if got := answers(r); len(got) != 1 || got[0] != tc.want {
				t.Errorf("upstream saw %v, want %q", got, tc.want)
			}
			if int64(m.Id) == up.lastID.Load() {
				t.Logf("upstream ID equals the client's (1 in 65536 chance)")
			}
		})
	}
}

// Many queries in flight at once share the upstream sockets: each client gets
// the answer to its own question under its own ID, over UDP and TCP.
func TestConcurrentForwardsGetTheirOwnAnswers(t *testing.T) {
	up := startUpstream(t)
	g := startGuard(t, testOptions(up.Addr, up.Addr)) // two upstreams: round-robin over both pools
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		network := "udp"
		if i%10 == 0 {
			network = "tcp"
		}
		wg.Go(func() {
			name := fmt.Sprintf("q%d.echo.test.", i)
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeTXT)
			m.Id = uint16(i)
			r, err := exchangeFrom(network, pupil, g.addr, m)
			if err != nil {
				t.Errorf("%s over %s: %v", name, network, err)
				return
			}
			if got := answers(r); r.Id != uint16(i) || len(got) != 1 || got[0] != name {
				t.Errorf("%s over %s: ID %d answers %v, want ID %d and its own name", name, network, r.Id, got, i)
			}
		})
	}
	wg.Wait()
	if st := g.Stats(); st.Forwarded != n || st.ServFail != 0 || st.UpstreamErrors != 0 {
		t.Errorf("stats forwarded=%d servfail=%d upstream_errors=%d, want %d 0 0", st.Forwarded, st.ServFail, st.UpstreamErrors, n)
	}
}

// An upstream that truncates over UDP is asked again over TCP, so a UDP client
// with room gets every record; a client without room gets TC and, over TCP,
// everything.
func TestTruncationRetriesOverTCP(t *testing.T) {
	up := startUpstream(t)
	g := startGuard(t, testOptions(up.Addr))
	tests := []struct {
		name       string
		network    string
		edns       bool
		wantTC     bool
		wantAll    bool
		upstreamTC bool // the guard must have used TCP upstream
	}{
		{"UDP client with EDNS0 4096 gets all 40", "udp", true, false, true, true},
		{"UDP client without EDNS0 gets TC", "udp", false, true, false, true},
		{"TCP client gets all 40", "tcp", false, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.tcpQ.Load()
			r := query(t, tc.network, pupil, g.addr, "big.test", dns.TypeA, tc.edns)
			if r.Truncated != tc.wantTC {
				t.Errorf("TC=%v, want %v", r.Truncated, tc.wantTC)
			}
			if all := len(r.Answer) == bigAnswers; all != tc.wantAll {
				t.Errorf("%d answers, want all %d: %v", len(r.Answer), bigAnswers, tc.wantAll)
			}
			if used := up.tcpQ.Load() > before; used != tc.upstreamTC {
				t.Errorf("upstream TCP used: %v, want %v", used, tc.upstreamTC)
			}
		})
	}
	if st := g.Stats(); st.TCPFallbacks != 2 {
		t.Errorf("TCPFallbacks = %d, want 2 (the two UDP clients)", st.TCPFallbacks)
	}
}

// A dead or hung upstream gives SERVFAIL within the timeout, never a hang;
// with a second upstream the client is answered, and the dead one is tried
// last afterwards.
func TestUpstreamFailure(t *testing.T) {
	// Bounds are loose enough for a loaded CI machine under -race and still
	// tell "at once" (quick) from "after the hung upstream's share of the
	// timeout" (timeout/2 with two upstreams).
	const timeout = time.Second
	const quick = 300 * time.Millisecond
	up := startUpstream(t)
	tests := []struct {
		name      string
		upstreams func(t *testing.T) []string
		rcode     int
		maxFirst  time.Duration // the first query's latency bound
		maxSecond time.Duration // the next query's
	}{
		{"hung upstream → SERVFAIL within the timeout", func(t *testing.T) []string { return []string{blackhole(t)} },
			dns.RcodeServerFailure, timeout + 300*time.Millisecond, timeout + 300*time.Millisecond},
		{"refusing port → SERVFAIL at once", func(t *testing.T) []string { return []string{closedPort(t)} },
			dns.RcodeServerFailure, quick, quick},
		{"hung then good → answered, then the hung one tried last", func(t *testing.T) []string { return []string{blackhole(t), up.Addr} },
			dns.RcodeSuccess, timeout + 300*time.Millisecond, quick},
		{"good then hung → answered quickly", func(t *testing.T) []string { return []string{up.Addr, blackhole(t)} },
			dns.RcodeSuccess, timeout + 300*time.Millisecond, quick},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(tc.upstreams(t)...)
			o.Timeout = timeout
			g := startGuard(t, o)
			for i, bound := range []time.Duration{tc.maxFirst, tc.maxSecond} {
				for _, network := range []string{"udp", "tcp"} {
					start := time.Now()
					r := query(t, network, pupil, g.addr, "www.example.test", dns.TypeA, false)
					took := time.Since(start)
					if r.Rcode != tc.rcode {
						t.Errorf("query %d over %s: rcode %s, want %s", i+1, network, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
					}
					if took > bound {
						t.Errorf("query %d over %s took %v, want at most %v", i+1, network, took, bound)
					}
				}
			}
			st := g.Stats()
			if tc.rcode == dns.RcodeServerFailure && (st.ServFail != 4 || st.UpstreamErrors < 4) {
				t.Errorf("stats servfail=%d upstream_errors=%d, want 4 and ≥4", st.ServFail, st.UpstreamErrors)
			}
			if tc.rcode == dns.RcodeSuccess && st.Forwarded != 4 {
				t.Errorf("forwarded %d, want 4", st.Forwarded)
			}
		})
	}
}

// Every query becomes an ObsDNS observation with the device's MAC, address
// and normalised name; a client without a lease is answered but not observed.
func TestObservations(t *testing.T) {
	up := startUpstream(t)
	g := startGuard(t, testOptions(up.Addr))
	for len(g.obs) > 0 { // waitServing's queries
		<-g.obs
	}
	g0 := g.Stats()
	start := time.Now()
	tests := []struct {
		from    netip.Addr
		qname   string
		network string
		want    *daemon.Observation
	}{
		{pupil, "WWW.Example.TEST.", "udp", &daemon.Observation{Kind: daemon.ObsDNS, MAC: macs[pupil], IP: pupil, DNSName: "www.example.test"}},
		{pupil, "mask.icloud.com", "tcp", &daemon.Observation{Kind: daemon.ObsDNS, MAC: macs[pupil], IP: pupil, DNSName: "mask.icloud.com"}},
		{blocked, "TikTok.example", "udp", &daemon.Observation{Kind: daemon.ObsDNS, MAC: macs[blocked], IP: blocked, DNSName: "tiktok.example"}},
		{stranger, "www.example.test", "udp", nil},
	}
	for _, tc := range tests {
		query(t, tc.network, tc.from, g.addr, tc.qname, dns.TypeA, false)
		select {
		case o := <-g.obs:
			if tc.want == nil {
				t.Errorf("%v: observation %+v for a client without a lease", tc.from, o)
				continue
			}
			if o.At.Before(start) || o.At.After(time.Now()) {
				t.Errorf("%s: At %v not the query time", tc.qname, o.At)
			}
			o.At = time.Time{}
			if o != *tc.want {
				t.Errorf("%s: observation %+v, want %+v", tc.qname, o, *tc.want)
			}
		default:
			if tc.want != nil {
				t.Errorf("%s from %v: no observation", tc.qname, tc.from)
			}
		}
	}
	st := g.Stats()
	if st.Observations-g0.Observations != 3 || st.UnknownClients-g0.UnknownClients != 1 || st.ObservationsDropped != 0 {
		t.Errorf("stats observations=%d unknown=%d dropped=%d", st.Observations-g0.Observations, st.UnknownClients-g0.UnknownClients, st.ObservationsDropped)
	}
}

// A consumer that is behind never delays an answer: the observation is
// dropped and counted.
func TestSlowConsumerDoesNotDelayAnswers(t *testing.T) {
	up := startUpstream(t)
	g, err := New(testOptions(up.Addr))
	if err != nil {
		t.Fatal(err)
	}
	g.out = make(chan daemon.Observation) // unbuffered and never read
	w := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	m := new(dns.Msg)
	m.SetQuestion("use-application-dns.net.", dns.TypeA)
	start := time.Now()
	g.ServeDNS(w, m) // blocking on the unread channel would never return
	if time.Since(start) > time.Second || len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeNameError {
		t.Errorf("answer %v after %v", w.msgs, time.Since(start))
	}
	if st := g.Stats(); st.ObservationsDropped != 1 {
		t.Errorf("ObservationsDropped = %d, want 1", st.ObservationsDropped)
	}
	if err := g.Close(); err != nil {
		t.Error(err)
	}
}

// Misconfigurations are refused with a message naming the problem.
func TestNewRejects(t *testing.T) {
	ok := testOptions("127.0.0.1:53")
	tests := []struct {
		name   string
		modify func(o *Options)
		want   string
	}{
		{"no listen", func(o *Options) { o.Listen = nil }, "no listen"},
		{"wildcard listen", func(o *Options) { o.Listen = []string{"0.0.0.0:0"} }, "not the wildcard"},
		{"wildcard v6 listen", func(o *Options) { o.Listen = []string{"[::]:0"} }, "not the wildcard"},
		{"bad listen", func(o *Options) { o.Listen = []string{"localhost"} }, "listen"},
		{"no upstreams", func(o *Options) { o.Upstreams = nil }, "no upstreams"},
		{"bad upstream", func(o *Options) { o.Upstreams = []string{"resolver.school"} }, "upstream"},
		{"unspecified upstream", func(o *Options) { o.Upstreams = []string{"0.0.0.0"} }, "not a usable address"},
		{"no MACFor", func(o *Options) { o.MACFor = nil }, "MACFor"},
		{"blocking without a block page", func(o *Options) { o.BlockPageV4, o.BlockPageV6 = netip.Addr{}, netip.Addr{} }, "block page"},
		{"v6 block page as v4", func(o *Options) { o.BlockPageV4 = blockV6 }, "not an IPv4"},
		{"v4 block page as v6", func(o *Options) { o.BlockPageV6 = blockV4 }, "not an IPv6"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.modify(&o)
			g, err := New(o)
			if err == nil {
				_ = g.Close()
				t.Fatalf("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	// A bare IP upstream means port 53; IPv6 listen on [::1] works.
	o := ok
	o.Upstreams = []string{"10.0.0.53", "[2001:db8::53]:5353"}
	o.Listen = []string{"127.0.0.1:0", "[::1]:0"}
	g, err := New(o)
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer g.Close()
	if g.ups[0].name != "10.0.0.53:53" || g.ups[1].name != "[2001:db8::53]:5353" || len(g.Addrs()) != 4 {
		t.Errorf("upstreams %s %s, addrs %v", g.ups[0].name, g.ups[1].name, g.Addrs())
	}
}

// recorder is an in-process dns.ResponseWriter.
type recorder struct {
	remote net.Addr
	msgs   []*dns.Msg
	raw    [][]byte
}

func (w *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *recorder) RemoteAddr() net.Addr { return w.remote }
func (w *recorder) WriteMsg(m *dns.Msg) error {
	if _, err := m.Pack(); err != nil {
		return err
	}
	w.msgs = append(w.msgs, m)
	return nil
}
func (w *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	w.msgs = append(w.msgs, m)
	w.raw = append(w.raw, b)
	return len(b), nil
}
func (w *recorder) Close() error        { return nil }
func (w *recorder) TsigStatus() error   { return nil }
func (w *recorder) TsigTimersOnly(bool) {}
func (w *recorder) Hijack()             {}
