// Package dnsguard is the DNS guard for the pupil VLAN: a small forwarder that
// the DHCP server hands out as the resolver (option 6). It answers a few names
// itself, following each vendor's documented opt-out (iCloud Private Relay,
// Firefox's DoH canary, public DoH/DoT resolver names), gives devices the
// daemon has blocked the block page's address, and forwards everything else to
// the school's filtered resolvers over pooled connections. Every query becomes
// a daemon.Observation of kind ObsDNS, so it is also a daemon.Source.
//
// See docs/dnsguard.md.
package dnsguard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Defaults and limits.
const (
	// DefaultTimeout bounds one forwarded query over all upstreams: after it
	// the client gets SERVFAIL.
	DefaultTimeout = 2 * time.Second
	// BlockTTL is the TTL of block-page answers and of the negative answers
	// given to blocked clients, so a device that is unblocked resolves
	// normally again within seconds.
	BlockTTL = 10
	// NegativeTTL is the SOA minimum (negative-caching TTL, RFC 2308) of the
	// NXDOMAIN answers for canaries and resolver names.
	NegativeTTL = 300
	// MaxInFlight bounds forwarded queries waiting for an upstream (each holds
	// a socket); beyond it queries are answered SERVFAIL at once.
	MaxInFlight = 1024
	// ednsSize is the UDP payload size the guard advertises in its own answers
	// (the DNS Flag Day 2020 value).
	ednsSize = 1232
	// serverUDPSize is the largest query datagram read.
	serverUDPSize = 4096
	// maxUDPSockets bounds the UDP sockets (read loops) per listen address.
	maxUDPSockets = 4
)

// Options configure a Guard.
type Options struct {
	// Listen holds "HOST:PORT" addresses, each served over UDP and TCP. HOST
	// must be a specific address (the gateway's address on the pupil VLAN):
	// the wildcard is refused, so the guard is never an open resolver on the
	// uplink by accident.
	Listen []string
	// Upstreams are the school's filtered resolvers, "IP:PORT" or "IP" (port
	// 53). Queries go round-robin, failing over to the next on error.
	Upstreams []string
	// BlockPageV4 and BlockPageV6 are the block page's addresses, answered to
	// blocked clients' A and AAAA queries. A family left invalid is answered
	// "no data" (NOERROR, empty), so the client uses the other family.
	BlockPageV4 netip.Addr
	BlockPageV6 netip.Addr
	// Blocked reports whether the client at this address is a device the
	// daemon has blocked (and its MAC, for the log). Nil: nobody is blocked.
	// Like MACFor it is called for each query on a UDP socket's read loop,
	// so it must not block.
	Blocked func(client netip.Addr) (mac string, blocked bool)
	// BlockPageNames are names (with every name under them) a blocked client
	// still resolves normally: what the block page itself needs (its own host
	// name, the CDN of its style sheet). Optional.
	BlockPageNames []string
	// AllowResolvers removes names from the built-in resolver list
	// (ResolverNames): the school's own filtering service when managed
	// devices reach it over DoH by name. Optional.
	AllowResolvers []string
	// MACFor maps a client address to its MAC (the daemon's leases), "" when
	// unknown; queries from unknown clients are answered but not observed.
	// Required. It is called for each query on a UDP socket's read loop, so
	// it must be quick and never block (the daemon's is a lock-free lookup).
	MACFor func(client netip.Addr) string
	Logger *zap.Logger
	// Timeout bounds one forwarded query over every upstream tried
	// (DefaultTimeout when zero).
	Timeout time.Duration
}

// Stats are cumulative counters since New; safe to read during Run.
type Stats struct {
	Queries             uint64 // well-formed queries received (UDP and TCP)
	AnsweredLocally     uint64 // answered by the guard itself: canaries, resolver names, blocked clients, refused opcodes
	Forwarded           uint64 // answered with an upstream's reply
	UpstreamErrors      uint64 // upstream attempts that failed (timeout, refused, malformed reply); a query may count several
	ServFail            uint64 // queries answered SERVFAIL: every upstream failed, or MaxInFlight reached
	BlockedAnswers      uint64 // answers given to blocked clients (block page address or no data)
	Canaries            uint64 // NXDOMAIN for mask.icloud.com, mask-h2.icloud.com, use-application-dns.net
	ResolverNames       uint64 // NXDOMAIN for public DoH/DoT resolver names
	TCPFallbacks        uint64 // upstream UDP replies with TC set, retried over TCP
	Malformed           uint64 // packets that could not be parsed or were rejected (FORMERR, NOTIMP, dropped)
	Observations        uint64 // observations handed over
	ObservationsDropped uint64 // observations dropped because the consumer was behind (the answer is never delayed)
	UnknownClients      uint64 // queries from clients MACFor did not know (answered, not observed)
	Upstreams           []UpstreamStats
}

// UpstreamStats are one upstream's counters.
type UpstreamStats struct {
	Addr    string
	Queries uint64 // attempts sent to it
	Errors  uint64 // attempts that failed
	Down    bool   // failed within the last 5 s: tried after the others
}

// Guard is the DNS guard. It is a daemon.Source.
type Guard struct {
	o       Options
	log     *zap.Logger
	timeout time.Duration
	names   nameSet
	exempt  nameSet
	ups     []*upstream
	rr      atomic.Uint64
	slots   chan struct{}

	udp      []*net.UDPConn // one per Listen address (Addrs)
	udpExtra []*net.UDPConn // more sockets on the same addresses (SO_REUSEPORT)
	tcp      []*net.TCPListener
	running  atomic.Bool
	closeMu  sync.Mutex
	closed   bool

	ctx context.Context // Run's: forwarded queries end with it
	out chan<- daemon.Observation

	queries, local, forwarded, upErrors, servfail atomic.Uint64
	blocked, canaries, resolvers, tcpFallback     atomic.Uint64
	malformed, observations, dropped, unknown     atomic.Uint64
}

// New validates o and binds the listeners (so that Addrs is known and a port
// in use is reported now). Call Run to serve, or Close to release them.
func New(o Options) (*Guard, error) {
	if len(o.Listen) == 0 {
		return nil, errors.New("dnsguard: no listen addresses")
	}
	if len(o.Upstreams) == 0 {
		return nil, errors.New("dnsguard: no upstreams: list the school's filtered resolvers")
	}
	if o.MACFor == nil {
		return nil, errors.New("dnsguard: MACFor is required (observations carry the device's MAC)")
	}
	if o.Blocked != nil && !o.BlockPageV4.IsValid() && !o.BlockPageV6.IsValid() {
		return nil, errors.New("dnsguard: Blocked is set but there is no block page address (BlockPageV4 / BlockPageV6)")
	}
	if o.BlockPageV4.IsValid() && !o.BlockPageV4.Unmap().Is4() {
		return nil, fmt.Errorf("dnsguard: BlockPageV4 %v is not an IPv4 address", o.BlockPageV4)
	}
	if o.BlockPageV6.IsValid() && (!o.BlockPageV6.Is6() || o.BlockPageV6.Is4In6()) {
		return nil, fmt.Errorf("dnsguard: BlockPageV6 %v is not an IPv6 address", o.BlockPageV6)
	}
	o.BlockPageV4 = o.BlockPageV4.Unmap()
	if o.Timeout < 0 {
		return nil, fmt.Errorf("dnsguard: negative timeout %v", o.Timeout)
	}
	g := &Guard{
		o: o, log: o.Logger, timeout: o.Timeout, names: nameSet{}, exempt: nameSet{},
		slots: make(chan struct{}, MaxInFlight), ctx: context.Background(),
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	if g.timeout == 0 {
		g.timeout = DefaultTimeout
	}
	for _, n := range resolverNames {
		g.names.add(n, nameResolver)
	}
	for _, n := range o.AllowResolvers {
		delete(g.names, normalize(n))
	}
	for _, n := range canaries {
		g.names.add(n, nameCanary)
	}
	for _, n := range o.BlockPageNames {
		g.exempt.add(n, nameOther)
	}
	for _, s := range o.Upstreams {
		u, err := newUpstream(s)
		if err != nil {
			return nil, err
		}
		g.ups = append(g.ups, u)
	}
	for _, l := range o.Listen {
		if err := g.bind(l); err != nil {
			_ = g.Close()
			return nil, err
		}
	}
	return g, nil
}

// bind opens the UDP sockets and the TCP listener of one address; with port 0
// they all get the same kernel-chosen port. Where the system has SO_REUSEPORT
// (Linux), the address gets one UDP socket per core (up to maxUDPSockets),
// each served by its own read loop, and the kernel spreads clients over them.
func (g *Guard) bind(l string) error {
	ap, err := netip.ParseAddrPort(l)
	if err != nil {
		return fmt.Errorf("dnsguard: listen %q: %w", l, err)
	}
	if ap.Addr().IsUnspecified() {
		return fmt.Errorf("dnsguard: listen %q: give the gateway's address on the pupil VLAN, not the wildcard", l)
	}
	extra := udpSocketsPerAddr() - 1
	lc := net.ListenConfig{}
	if extra > 0 {
		lc.Control = reusePort
	}
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", net.UDPAddrFromAddrPort(ap).String())
		if err != nil {
			return fmt.Errorf("dnsguard: listen udp %s: %w", l, err)
		}
		u := pc.(*net.UDPConn)
		_ = u.SetReadBuffer(udpReadBuffer) // best effort: a class logging on at 08:30 is a burst
		port := u.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		bound := netip.AddrPortFrom(ap.Addr(), port)
		t, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(bound))
		if err != nil {
			_ = u.Close()
			if ap.Port() == 0 && attempt < 10 {
				continue // the UDP port the kernel chose is taken over TCP: choose again
			}
			return fmt.Errorf("dnsguard: listen tcp %s: %w", l, err)
		}
		g.udp, g.tcp = append(g.udp, u), append(g.tcp, t)
		for range extra {
			pc, err := lc.ListenPacket(context.Background(), "udp", net.UDPAddrFromAddrPort(bound).String())
			if err != nil {
				return fmt.Errorf("dnsguard: listen udp %s (SO_REUSEPORT): %w", l, err)
			}
			_ = pc.(*net.UDPConn).SetReadBuffer(udpReadBuffer)
			g.udpExtra = append(g.udpExtra, pc.(*net.UDPConn))
		}
		return nil
	}
}

// udpSocketsPerAddr is how many UDP sockets (read loops) serve one address.
func udpSocketsPerAddr() int {
	if !haveReusePort {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), maxUDPSockets))
}

// Addrs returns the bound addresses (UDP first, then TCP, each in Listen
// order); with port 0 they carry the port the kernel chose.
func (g *Guard) Addrs() []net.Addr {
	var as []net.Addr
	for _, c := range g.udp {
		as = append(as, c.LocalAddr())
	}
	for _, l := range g.tcp {
		as = append(as, l.Addr())
	}
	return as
}

// Close releases the listeners and every upstream socket. Run calls it when
// it returns; calling it again is harmless.
func (g *Guard) Close() error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var errs []error
	for _, c := range append(slices.Clip(g.udp), g.udpExtra...) {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, l := range g.tcp {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, u := range g.ups {
		u.close()
	}
	return errors.Join(errs...)
}

// Run serves until ctx is cancelled (returning nil) or a listener fails.
// Every server, listener and upstream socket is closed when it returns.
func (g *Guard) Run(ctx context.Context, out chan<- daemon.Observation) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("dnsguard: guard already running")
	}
	g.closeMu.Lock()
	closed := g.closed
	g.closeMu.Unlock()
	if closed {
		return errors.New("dnsguard: guard closed")
	}
	g.ctx, g.out = ctx, out
	grp, gctx := errgroup.WithContext(ctx)
	type served struct {
		srv     *dns.Server
		started chan struct{}
		done    chan struct{}
	}
	var servers []served
	add := func(srv *dns.Server) {
		s := served{srv: srv, started: make(chan struct{}), done: make(chan struct{})}
		srv.Handler, srv.MsgAcceptFunc, srv.MsgInvalidFunc = g, g.accept, g.invalid
		srv.NotifyStartedFunc = func() { close(s.started) }
		servers = append(servers, s)
	}
	for _, l := range g.tcp {
		add(&dns.Server{Listener: l})
	}
	for _, s := range servers {
		grp.Go(func() error {
			defer close(s.done)
			err := s.srv.ActivateAndServe()
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dnsguard: serve: %w", err)
		})
	}
	for _, c := range append(slices.Clip(g.udp), g.udpExtra...) {
		grp.Go(func() error {
			err := g.serveUDPConn(c)
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dnsguard: serve udp: %w", err)
		})
	}
	grp.Go(func() error {
		<-gctx.Done()
		// In-flight forwards end within the timeout (their sockets close below).
		sctx, cancel := context.WithTimeout(context.Background(), g.timeout+time.Second)
		defer cancel()
		for _, u := range g.ups {
			u.close()
		}
		var errs []error
		for _, s := range servers {
			select {
			case <-s.started:
				if err := s.srv.ShutdownContext(sctx); err != nil {
					errs = append(errs, fmt.Errorf("dnsguard: shutdown: %w", err))
				}
			case <-s.done: // never started (it failed): nothing to shut down
			}
		}
		if err := g.Close(); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	g.log.Info("DNS guard listening", zap.Stringers("addrs", g.Addrs()), zap.Strings("upstreams", g.o.Upstreams),
		zap.Int("resolver_names", len(g.names)-len(canaries)))
	err := grp.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// accept is dns.DefaultMsgAcceptFunc, counting what it refuses.
func (g *Guard) accept(dh dns.Header) dns.MsgAcceptAction {
	a := dns.DefaultMsgAcceptFunc(dh)
	if a != dns.MsgAccept {
		g.malformed.Add(1)
	}
	return a
}

func (g *Guard) invalid([]byte, error) { g.malformed.Add(1) }

// Stats returns the counters.
func (g *Guard) Stats() Stats {
	st := Stats{
		Queries: g.queries.Load(), AnsweredLocally: g.local.Load(), Forwarded: g.forwarded.Load(),
		UpstreamErrors: g.upErrors.Load(), ServFail: g.servfail.Load(), BlockedAnswers: g.blocked.Load(),
		Canaries: g.canaries.Load(), ResolverNames: g.resolvers.Load(), TCPFallbacks: g.tcpFallback.Load(),
		Malformed: g.malformed.Load(), Observations: g.observations.Load(), ObservationsDropped: g.dropped.Load(),
		UnknownClients: g.unknown.Load(),
	}
	now := time.Now().UnixNano()
	for _, u := range g.ups {
		st.Upstreams = append(st.Upstreams, UpstreamStats{Addr: u.name, Queries: u.queries.Load(), Errors: u.errors.Load(), Down: u.isDown(now)})
	}
	return st
}

// ServeDNS answers one query (dns.Handler) and returns once the client is
// answered. It serves the TCP listeners; the UDP sockets have their own read
// loops (serveUDPConn). Either has already refused responses, opcodes other
// than QUERY and NOTIFY, and messages without exactly one question.
func (g *Guard) ServeDNS(w dns.ResponseWriter, r *dns.Msg) { g.serve(w, r, false) }

// serveUDPConn reads queries from c until it is closed and answers each in
// this goroutine: no goroutine per query. Local answers are written at once;
// forwarded queries are sent upstream and answered by the upstream socket's
// reader (see forward). Packets are screened as miekg/dns's server does
// (dns.DefaultMsgAcceptFunc: FORMERR, NOTIMP or no answer).
func (g *Guard) serveUDPConn(c *net.UDPConn) error {
	buf := make([]byte, serverUDPSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			g.log.Debug("DNS guard: UDP read", zap.Error(err))
			continue
		}
		w := &udpWriter{c: c, to: from}
		if r := g.screen(w, buf[:n]); r != nil {
			g.serve(w, r, true)
		}
	}
}

// screen parses a query datagram, answering or dropping what miekg/dns's
// server would not pass to a handler; nil when it is not for serve.
func (g *Guard) screen(w *udpWriter, pkt []byte) *dns.Msg {
	if len(pkt) < 12 {
		g.invalid(pkt, dns.ErrShortRead)
		return nil // no reply to junk: any reply can be used to amplify
	}
	dh := dns.Header{
		Id: binary.BigEndian.Uint16(pkt), Bits: binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]), Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]), Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	r := new(dns.Msg)
	action := g.accept(dh)
	if action == dns.MsgAccept {
		err := r.Unpack(pkt)
		if err == nil {
			return r
		}
		g.invalid(pkt, err)
		action = dns.MsgReject
	} else {
		var hdr [12]byte // the header alone, for the reply
		copy(hdr[:4], pkt)
		_ = r.Unpack(hdr[:])
	}
	switch action {
	case dns.MsgReject, dns.MsgRejectNotImplemented:
		opcode := r.Opcode
		r.SetRcodeFormatError(r)
		r.Zero = false
		if action == dns.MsgRejectNotImplemented {
			r.Opcode = opcode
			r.Rcode = dns.RcodeNotImplemented
		}
		r.Ns, r.Answer, r.Extra = nil, nil, nil
		_ = w.WriteMsg(r)
	}
	return nil
}

// udpWriter answers one client of a UDP socket (dns.ResponseWriter).
type udpWriter struct {
	c  *net.UDPConn
	to netip.AddrPort
}

func (w *udpWriter) LocalAddr() net.Addr  { return w.c.LocalAddr() }
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.to) }
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *udpWriter) Write(b []byte) (int, error) { return w.c.WriteToUDPAddrPort(b, w.to) }
func (w *udpWriter) Close() error                { return nil }
func (w *udpWriter) TsigStatus() error           { return nil }
func (w *udpWriter) TsigTimersOnly(bool)         {}
func (w *udpWriter) Hijack()                     {}

func (g *Guard) serve(w dns.ResponseWriter, r *dns.Msg, async bool) {
	if len(r.Question) != 1 || r.Response { // a caller other than miekg/dns's server
		g.malformed.Add(1)
		m := new(dns.Msg)
		m.SetRcodeFormatError(r)
		_ = w.WriteMsg(m)
		return
	}
	g.queries.Add(1)
	client := clientOf(w)
	q := &r.Question[0]
	name := normalize(q.Name)
	g.observe(client, name)

	if r.Opcode != dns.OpcodeQuery { // NOTIFY: not for a forwarder
		g.answer(w, r, g.reply(r, dns.RcodeRefused))
		return
	}
	if q.Qclass == dns.ClassINET {
		if kind, zone := g.names.match(name); zone != "" {
			if kind == nameCanary {
				g.canaries.Add(1)
			} else {
				g.resolvers.Add(1)
			}
			m := g.reply(r, dns.RcodeNameError)
			m.Ns = []dns.RR{soa(zone, NegativeTTL)}
			g.answer(w, r, m)
			return
		}
		if m := g.blockedAnswer(r, q, client, name); m != nil {
			g.blocked.Add(1)
			g.answer(w, r, m)
			return
		}
	}
	g.forward(w, r, q, async)
}

// blockedAnswer returns the answer for a blocked client, or nil when the
// client is not blocked or the query is not one the block page replaces.
func (g *Guard) blockedAnswer(r *dns.Msg, q *dns.Question, client netip.Addr, name string) *dns.Msg {
	if g.o.Blocked == nil {
		return nil
	}
	var addr netip.Addr
	switch q.Qtype {
	case dns.TypeA:
		addr = g.o.BlockPageV4
	case dns.TypeAAAA:
		addr = g.o.BlockPageV6
	case dns.TypeHTTPS, dns.TypeSVCB: // their address hints would lead past the block page
	default:
		return nil
	}
	if _, zone := g.exempt.match(name); zone != "" {
		return nil // the block page needs it
	}
	mac, blocked := g.o.Blocked(client)
	if !blocked {
		return nil
	}
	m := g.reply(r, dns.RcodeSuccess)
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: BlockTTL}
	switch {
	case q.Qtype == dns.TypeA && addr.IsValid():
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: addr.AsSlice()}}
	case q.Qtype == dns.TypeAAAA && addr.IsValid():
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()}}
	default:
		m.Ns = []dns.RR{soa(name, BlockTTL)}
	}
	if ce := g.log.Check(zap.DebugLevel, "blocked client answered with the block page"); ce != nil {
		ce.Write(zap.String("mac", mac), zap.Stringer("client", client), zap.String("name", name), zap.String("type", dns.TypeToString[q.Qtype]))
	}
	return m
}

// reply is a local answer to r: same ID, question, opcode and RD; RA set;
// an OPT record when the query had one (RFC 6891 §7).
func (g *Guard) reply(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
	}
	return m
}

// soa is the SOA record of a negative answer (RFC 2308 §3): minttl is how long
// resolvers and stubs cache the NXDOMAIN / no data.
func soa(zone string, minttl uint32) dns.RR {
	z := dns.Fqdn(zone)
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: z, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: minttl},
		Ns:  "dnsguard.hallmonitor.invalid.", Mbox: "hostmaster.hallmonitor.invalid.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: minttl,
	}
}

// answer writes a local answer.
func (g *Guard) answer(w dns.ResponseWriter, r *dns.Msg, m *dns.Msg) {
	g.local.Add(1)
	g.write(w, r, m)
}

func (g *Guard) write(w dns.ResponseWriter, r *dns.Msg, m *dns.Msg) {
	if isUDP(w) {
		m.Truncate(clientUDPSize(r))
	}
	_ = w.WriteMsg(m) // a client gone away is not our error
}

func (g *Guard) servFail(w dns.ResponseWriter, r *dns.Msg) {
	g.servfail.Add(1)
	g.write(w, r, g.reply(r, dns.RcodeServerFailure))
}

// forward sends r to the upstreams (round-robin, failing over, healthy ones
// first) and relays the first reply. The query goes upstream as the client
// sent it (EDNS0 options, DO and CD bits, its UDP size) under a fresh random
// ID; the reply goes back under the client's ID. A UDP reply with TC set is
// retried over TCP; a client that asked over TCP is forwarded over TCP.
//
// With async (the guard's UDP read loops), a query forwarded over UDP is
// answered by the reader of the upstream socket its reply arrives on (or by
// its timer), and forward returns once the query is sent: no goroutine waits
// for each reply. Otherwise forward returns once the client is answered.
func (g *Guard) forward(w dns.ResponseWriter, r *dns.Msg, q *dns.Question, async bool) {
	select {
	case g.slots <- struct{}{}:
	default:
		g.servFail(w, r)
		return
	}
	if !isUDP(w) {
		defer func() { <-g.slots }()
		g.forwardTCP(w, r, q)
		return
	}
	wire, err := r.Pack()
	if err != nil {
		<-g.slots
		g.servFail(w, r)
		return
	}
	start := time.Now()
	f := &fwd{g: g, w: w, r: r, q: q, wire: wire, clientID: r.Id, size: clientUDPSize(r), deadline: start.Add(g.timeout)}
	f.tries = g.order(f.order[:0], start.UnixNano())
	if !async {
		f.done = make(chan struct{})
	}
	f.next()
	if !async {
		<-f.done
	}
}

// fwd is a query forwarded over UDP, in flight. It has one owner at a time:
// the goroutine sending it, then whichever of the socket's reader (a reply),
// the attempt's timer or a socket failure first takes it off its socket's
// pending queries (udpMux.take).
type fwd struct {
	g        *Guard
	w        dns.ResponseWriter
	r        *dns.Msg
	q        *dns.Question
	wire     []byte // the query packed; its ID is the attempt's
	sent     bool   // wire has been sent once (a failover copies it)
	clientID uint16
	size     int       // the client's UDP size
	deadline time.Time // over every upstream
	tryEnd   time.Time // of the current attempt (its TCP retry included)
	order    [8]*upstream
	tries    []*upstream
	i        int           // next in tries
	timer    *time.Timer   // the attempt's; read under its udpMux's mu
	done     chan struct{} // closed when answered (synchronous callers)
}

// next sends the query to the next upstream, or answers SERVFAIL when none
// is left or the time is up.
func (f *fwd) next() {
	g := f.g
	for f.i < len(f.tries) {
		u := f.tries[f.i]
		f.i++
		if g.ctx.Err() != nil {
			f.finish() // shutting down: no answer rather than a wrong one
			return
		}
		left := time.Until(f.deadline)
		if left <= 0 {
			break
		}
		wait := left / time.Duration(len(f.tries)-f.i+1) // the rest of the time, shared by the upstreams left
		f.tryEnd = time.Now().Add(wait)
		u.queries.Add(1)
		m, err := u.getMux()
		if err != nil {
			g.upstreamFailed(u, err)
			continue
		}
		owned, err := m.send(f, wait)
		if !owned {
			return // sent (or failed meanwhile): the reader or the timer carries on
		}
		g.upstreamFailed(u, err)
	}
	g.servFail(f.w, f.r)
	f.finish()
}

// failed carries on after an attempt failed.
func (f *fwd) failed(u *upstream, err error) {
	f.g.upstreamFailed(u, err)
	f.next()
}

// replied handles an upstream's reply (raw is valid only during the call).
func (f *fwd) replied(u *upstream, raw []byte) {
	g := f.g
	if u.downUntil.Load() != 0 {
		u.downUntil.Store(0)
		g.log.Info("DNS upstream answering again", zap.String("upstream", u.name))
	}
	if raw[2]&0x02 != 0 { // TC: ask the same upstream over TCP
		g.tcpFallback.Add(1)
		trunc := append([]byte(nil), raw...)
		go f.retryTCP(u, trunc)
		return
	}
	f.relay(u, raw, nil)
}

// retryTCP asks u over TCP for the reply that came truncated over UDP.
func (f *fwd) retryTCP(u *upstream, trunc []byte) {
	f.r.Id = uint16(rand.Uint32())
	full, err := u.exchangeTCP(f.r, f.q, f.tryEnd)
	f.r.Id = f.clientID
	if err != nil {
		f.g.log.Debug("TCP retry of a truncated reply failed; relaying the truncated reply", zap.String("upstream", u.name), zap.Error(err))
		f.relay(u, trunc, nil)
		return
	}
	f.relay(u, nil, full)
}

// relay answers the client with the upstream's reply: raw unchanged but for
// the ID when it fits the client's UDP size, else parsed and truncated.
func (f *fwd) relay(u *upstream, raw []byte, resp *dns.Msg) {
	g := f.g
	if raw != nil && len(raw) <= f.size {
		g.forwarded.Add(1)
		binary.BigEndian.PutUint16(raw, f.clientID)
		_, _ = f.w.Write(raw)
		f.finish()
		return
	}
	if resp == nil {
		resp = new(dns.Msg)
		if err := resp.Unpack(raw); err != nil {
			f.failed(u, fmt.Errorf("dnsguard: udp %s: malformed reply: %w", u.name, err))
			return
		}
	}
	g.forwarded.Add(1)
	resp.Id = f.clientID
	g.write(f.w, f.r, resp)
	f.finish()
}

func (f *fwd) finish() {
	<-f.g.slots
	if f.done != nil {
		close(f.done)
	}
}

// forwardTCP forwards a query that came over TCP, over TCP.
func (g *Guard) forwardTCP(w dns.ResponseWriter, r *dns.Msg, q *dns.Question) {
	clientID := r.Id
	start := time.Now()
	deadline := start.Add(g.timeout)
	var order [8]*upstream
	tries := g.order(order[:0], start.UnixNano())
	for i, u := range tries {
		if g.ctx.Err() != nil {
			return // shutting down: no answer rather than a wrong one
		}
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			break
		}
		try := now.Add(left / time.Duration(len(tries)-i)) // the rest of the time, shared by the upstreams left
		u.queries.Add(1)
		r.Id = uint16(rand.Uint32())
		resp, err := u.exchangeTCP(r, q, try)
		r.Id = clientID
		if err != nil {
			g.upstreamFailed(u, err)
			continue
		}
		if u.downUntil.Load() != 0 {
			u.downUntil.Store(0)
			g.log.Info("DNS upstream answering again", zap.String("upstream", u.name))
		}
		g.forwarded.Add(1)
		resp.Id = clientID
		g.write(w, r, resp)
		return
	}
	g.servFail(w, r)
}

// order returns the upstreams to try: round-robin from the next one, those
// that failed within downFor last.
func (g *Guard) order(dst []*upstream, now int64) []*upstream {
	n := len(g.ups)
	first := int(g.rr.Add(1) % uint64(n))
	for i := range n {
		if u := g.ups[(first+i)%n]; !u.isDown(now) {
			dst = append(dst, u)
		}
	}
	for i := range n {
		if u := g.ups[(first+i)%n]; u.isDown(now) {
			dst = append(dst, u)
		}
	}
	return dst
}

func (g *Guard) upstreamFailed(u *upstream, err error) {
	g.upErrors.Add(1)
	u.errors.Add(1)
	if errors.Is(err, errClosed) {
		return
	}
	if u.downUntil.Swap(time.Now().Add(downFor).UnixNano()) == 0 {
		g.log.Warn("DNS upstream failed; trying the others first for a while", zap.String("upstream", u.name), zap.Error(err))
	}
}

// observe hands the query over as an ObsDNS observation without ever
// delaying the answer: when the consumer is behind, it is dropped (counted).
func (g *Guard) observe(client netip.Addr, name string) {
	mac := g.o.MACFor(client)
	if mac == "" {
		g.unknown.Add(1)
		return
	}
	o := daemon.Observation{At: time.Now(), Kind: daemon.ObsDNS, MAC: mac, IP: client, DNSName: name}
	select {
	case g.out <- o:
		g.observations.Add(1)
	default:
		g.dropped.Add(1)
	}
}

func clientOf(w dns.ResponseWriter) netip.Addr {
	if u, ok := w.(*udpWriter); ok {
		return u.to.Addr().Unmap()
	}
	return addrOf(w.RemoteAddr())
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func isUDP(w dns.ResponseWriter) bool {
	if _, ok := w.(*udpWriter); ok {
		return true
	}
	_, ok := w.RemoteAddr().(*net.UDPAddr)
	return ok
}

// clientUDPSize is the largest UDP reply the client accepts (RFC 6891 §6.2.5:
// at least 512).
func clientUDPSize(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}
