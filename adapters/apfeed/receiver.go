// Package apfeed receives access points' syslog (UDP and TCP, RFC 3164 and
// RFC 5424) and turns their association events into daemon.Observations of
// kind ObsAP: which access point each device is on, hence which room.
//
// Built-in parsers cover hostapd (OpenWrt and anything else running hostapd),
// Ubiquiti UniFi APs (hostapd, stahtd STA_ASSOC_TRACKER, wevent) and ArubaOS /
// Aruba Instant (stm and authmgr message IDs); CustomParser adds other vendors
// by regular expression. The receiver binds only the configured addresses and
// accepts datagrams and connections only from the configured management
// networks. See docs/location.md.
package apfeed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Limits.
const (
	// MaxMessage is the largest syslog message accepted (RFC 5425 asks for
	// at least 2 KiB; a UDP datagram cannot exceed 64 KiB).
	MaxMessage = 64 << 10
	// MaxConnections bounds concurrent TCP connections over all listeners;
	// more are accepted and closed at once (and counted).
	MaxConnections = 512
	// maxTracked bounds the per-station "last AP" memory used to tell roams
	// from associations; beyond it the oldest-looking entries are dropped.
	maxTracked = 1 << 16
	// maxRefusedLogged bounds the set of refused sources logged (each once).
	maxRefusedLogged = 4096
	udpReadBuffer    = 4 << 20
)

// Options configure a Receiver.
type Options struct {
	// Listen holds "udp://HOST:PORT" and "tcp://HOST:PORT" addresses. HOST
	// must be a specific address (the gateway's management address):
	// listening on every interface is refused.
	Listen []string
	// Allow lists the management networks the APs send from; datagrams and
	// connections from anywhere else are refused, counted and logged once
	// per source address. At least one prefix is required.
	Allow []netip.Prefix
	// Custom parsers, tried in order on lines no built-in parser recognised.
	Custom []CustomParser
	// SSIDByInterface maps an AP radio interface as named in its lines
	// (hostapd's "wlan0", "phy0-ap0"; UniFi's "ath0", "wifi0ap5") to its SSID.
	// Interfaces not in the map give an empty SSID.
	SSIDByInterface map[string]string
	Logger          *zap.Logger
}

// Stats are cumulative counters since New; safe to read during Run.
type Stats struct {
	Messages      uint64            // syslog messages received from allowed senders
	Observations  uint64            // observations handed over
	Ignored       uint64            // recognised AP lines that are not association events
	Unparsed      uint64            // lines no parser recognised (sampled at debug level)
	Refused       uint64            // datagrams and connections from outside Allow
	FramingErrors uint64            // TCP: bad octet count or a message over MaxMessage
	ConnsRejected uint64            // TCP connections closed because MaxConnections were open
	ReadErrors    uint64            // socket read errors other than shutdown
	OpenConns     int64             // TCP connections open now
	ByParser      map[string]uint64 // observations per parser name (hostapd, unifi, aruba, custom names)
}

// Receiver is a syslog receiver for access-point events. It is a daemon.Source.
type Receiver struct {
	log     *zap.Logger
	allow   []netip.Prefix
	custom  []*customParser
	ssids   map[string]string
	udp     []*net.UDPConn
	tcp     []*net.TCPListener
	running atomic.Bool

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	roamMu sync.Mutex
	lastAP map[string]string // station MAC → AP of its last association

	refusedMu     sync.Mutex
	refusedLogged map[netip.Addr]struct{}

	messages, observations, ignoredN, unparsed atomic.Uint64
	refused, framing, rejected, readErrors     atomic.Uint64
	openConns                                  atomic.Int64
	byParser                                   map[string]*atomic.Uint64
	lastSample                                 atomic.Int64 // unix nanos of the last unparsed line logged
}

// New validates o, compiles the custom parsers and binds the listeners (so
// that Addrs is known, and a port already in use is reported now). Call Run
// to serve, or Close to release the sockets without serving.
func New(o Options) (*Receiver, error) {
	if len(o.Listen) == 0 {
		return nil, errors.New("apfeed: no listen addresses")
	}
	if len(o.Allow) == 0 {
		return nil, errors.New("apfeed: no allowed networks: list the access points' management network(s) in Allow")
	}
	for _, p := range o.Allow {
		if !p.IsValid() {
			return nil, fmt.Errorf("apfeed: invalid allowed network %v", p)
		}
	}
	custom, err := compileCustom(o.Custom)
	if err != nil {
		return nil, fmt.Errorf("apfeed: %w", err)
	}
	r := &Receiver{
		log: o.Logger, custom: custom, ssids: o.SSIDByInterface,
		conns: map[net.Conn]struct{}{}, lastAP: map[string]string{},
		refusedLogged: map[netip.Addr]struct{}{}, byParser: map[string]*atomic.Uint64{},
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	for _, p := range o.Allow {
		r.allow = append(r.allow, p.Masked())
	}
	for _, n := range []string{ParserHostapd, ParserUniFi, ParserAruba} {
		r.byParser[n] = new(atomic.Uint64)
	}
	for _, c := range custom {
		r.byParser[c.name] = new(atomic.Uint64)
	}
	for _, l := range o.Listen {
		if err := r.bind(l); err != nil {
			_ = r.Close()
			return nil, err
		}
	}
	return r, nil
}

// bind opens one "udp://" or "tcp://" listener.
func (r *Receiver) bind(l string) error {
	network, hostport, ok := strings.Cut(l, "://")
	if !ok || (network != "udp" && network != "tcp") {
		return fmt.Errorf("apfeed: listen %q: want udp://HOST:PORT or tcp://HOST:PORT", l)
	}
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return fmt.Errorf("apfeed: listen %q: %w", l, err)
	}
	if ap.Addr().IsUnspecified() {
		return fmt.Errorf("apfeed: listen %q: give the gateway's management address, not the wildcard", l)
	}
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return fmt.Errorf("apfeed: listen %s: %w", l, err)
		}
		_ = c.SetReadBuffer(udpReadBuffer) // best effort: capped by net.core.rmem_max
		r.udp = append(r.udp, c)
	case "tcp":
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return fmt.Errorf("apfeed: listen %s: %w", l, err)
		}
		r.tcp = append(r.tcp, ln)
	}
	return nil
}

// Addrs returns the bound addresses (UDP first, then TCP, each in Listen
// order); with port 0 they carry the port the kernel chose.
func (r *Receiver) Addrs() []net.Addr {
	var as []net.Addr
	for _, c := range r.udp {
		as = append(as, c.LocalAddr())
	}
	for _, l := range r.tcp {
		as = append(as, l.Addr())
	}
	return as
}

// Close releases the listeners and any open connections. Run calls it when
// it returns; calling it again is harmless.
func (r *Receiver) Close() error {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, c := range r.udp {
		errs = append(errs, c.Close())
	}
	for _, l := range r.tcp {
		errs = append(errs, l.Close())
	}
	for c := range r.conns {
		_ = c.Close()
	}
	return errors.Join(errs...)
}

// Run serves until ctx is cancelled (returning nil) or a listener fails.
// Every listener and connection is closed when it returns.
func (r *Receiver) Run(ctx context.Context, out chan<- daemon.Observation) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("apfeed: receiver already running")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		return r.Close()
	})
	for _, c := range r.udp {
		g.Go(func() error { return r.serveUDP(gctx, c, out) })
	}
	for _, l := range r.tcp {
		g.Go(func() error { return r.serveTCP(gctx, g, l, out) })
	}
	r.log.Info("syslog receiver listening", zap.Stringers("addrs", r.Addrs()), zap.Int("custom_parsers", len(r.custom)))
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *Receiver) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refuse counts a refused datagram or connection and logs its source the
// first time.
func (r *Receiver) refuse(a netip.Addr, network string) {
	r.refused.Add(1)
	r.refusedMu.Lock()
	_, seen := r.refusedLogged[a]
	full := len(r.refusedLogged) >= maxRefusedLogged
	if !seen && !full {
		r.refusedLogged[a] = struct{}{}
	}
	r.refusedMu.Unlock()
	if !seen && !full {
		r.log.Warn("syslog from outside the allowed networks refused (logged once per source)",
			zap.Stringer("source", a), zap.String("network", network))
	}
}

func (r *Receiver) serveUDP(ctx context.Context, c *net.UDPConn, out chan<- daemon.Observation) error {
	buf := make([]byte, MaxMessage)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			r.readErrors.Add(1)
			continue
		}
		src := from.Addr().Unmap()
		if !r.allowed(src) {
			r.refuse(src, "udp")
			continue
		}
		if err := r.handle(ctx, buf[:n], src, out); err != nil {
			return nil // ctx ended while handing over
		}
	}
}

func (r *Receiver) serveTCP(ctx context.Context, g *errgroup.Group, l *net.TCPListener, out chan<- daemon.Observation) error {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			r.readErrors.Add(1)
			// Out of file descriptors and the like: do not spin.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if !r.allowed(src) {
			r.refuse(src, "tcp")
			_ = c.Close()
			continue
		}
		if r.openConns.Load() >= MaxConnections {
			r.rejected.Add(1)
			_ = c.Close()
			continue
		}
		if !r.track(c) {
			return nil // closing
		}
		g.Go(func() error {
			defer r.untrack(c)
			r.serveConn(ctx, c, src, out)
			return nil
		})
	}
}

// track registers an open connection so Close can end it; false when the
// receiver is already closed (the connection is closed here).
func (r *Receiver) track(c net.Conn) bool {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.closed {
		_ = c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	r.openConns.Add(1)
	return true
}

func (r *Receiver) untrack(c net.Conn) {
	r.connMu.Lock()
	delete(r.conns, c)
	r.connMu.Unlock()
	r.openConns.Add(-1)
	_ = c.Close()
}

var errFraming = errors.New("syslog framing error")

// serveConn reads framed messages (RFC 6587 octet counting or LF-terminated)
// from one connection until it ends, ctx ends or a framing error.
func (r *Receiver) serveConn(ctx context.Context, c net.Conn, src netip.Addr, out chan<- daemon.Observation) {
	br := bufio.NewReaderSize(c, MaxMessage)
	buf := make([]byte, MaxMessage)
	for {
		msg, err := readFrame(br, buf)
		switch {
		case errors.Is(err, errFraming):
			r.framing.Add(1)
			r.log.Debug("syslog TCP framing error; closing the connection", zap.Stringer("source", src), zap.Error(err))
			return
		case err != nil:
			return // EOF, reset, or closed on shutdown
		}
		if len(msg) == 0 {
			continue
		}
		if r.handle(ctx, msg, src, out) != nil {
			return
		}
	}
}

// readFrame reads one message. A frame starting with a digit is octet-counted
// ("MSG-LEN SP MSG", RFC 6587 §3.4.1); anything else runs to LF (§3.4.2). An
// over-long LF-framed message is a framing error. The result may alias br's
// buffer or buf: it is valid until the next call.
func readFrame(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		if c != '\n' && c != '\r' && c != 0 && c != ' ' {
			_ = br.UnreadByte()
			break
		}
	}
	first, err := br.Peek(1)
	if err != nil {
		return nil, err
	}
	if '1' <= first[0] && first[0] <= '9' {
		n := 0
		for i := 0; ; i++ {
			c, err := br.ReadByte()
			if err != nil {
				return nil, err
			}
			if c == ' ' {
				break
			}
			if c < '0' || c > '9' || i >= 6 {
				return nil, fmt.Errorf("%w: bad octet count", errFraming)
			}
			n = n*10 + int(c-'0')
		}
		if n > len(buf) {
			return nil, fmt.Errorf("%w: octet count %d over %d", errFraming, n, len(buf))
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w: message over %d bytes without a newline", errFraming, br.Size())
	case errors.Is(err, io.EOF) && len(line) > 0:
		return line, nil // the last message, unterminated
	case err != nil:
		return nil, err
	}
	return line[:len(line)-1], nil
}

// handle parses one message and hands its observation over. It returns an
// error only when ctx ended before the hand-over.
func (r *Receiver) handle(ctx context.Context, line []byte, src netip.Addr, out chan<- daemon.Observation) error {
	r.messages.Add(1)
	now := time.Now()
	o, ok := r.parse(line, now)
	if !ok {
		return nil
	}
	if o.AP == "" {
		o.AP = src.String()
	}
	r.trackRoam(&o)
	select {
	case out <- o:
		r.observations.Add(1)
		if c := r.byParser[strings.TrimPrefix(o.Source, "syslog:")]; c != nil {
			c.Add(1)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parse runs the built-in parsers, then the custom ones, counting the outcome.
func (r *Receiver) parse(line []byte, now time.Time) (daemon.Observation, bool) {
	s := string(line)
	m := parseSyslog(s, now, time.Local)
	o, iface, res := parseBuiltin(&m)
	if res == unknown {
		for _, p := range r.custom {
			if o, res = p.parse(s, &m); res != unknown {
				break
			}
		}
	}
	switch res {
	case unknown:
		r.unparsed.Add(1)
		if last := r.lastSample.Load(); now.UnixNano()-last > int64(time.Second) && r.lastSample.CompareAndSwap(last, now.UnixNano()) {
			r.log.Debug("syslog line not recognised by any parser (sampled: at most one a second)", zap.String("line", truncate(s, 512)))
		}
		return o, false
	case ignored:
		r.ignoredN.Add(1)
		return o, false
	}
	o.At = saneTime(m.ts, now)
	if o.SSID == "" && iface != "" {
		o.SSID = r.ssids[iface]
	}
	return o, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// trackRoam turns an association at a different AP than the station's last
// one into a roam, and forgets a station when it leaves the AP it was on. A
// disassociation from an AP the station has already left (the old AP's
// deauth arriving after the new AP's association) is passed on unchanged:
// its AP field lets the consumer see it is stale.
func (r *Receiver) trackRoam(o *daemon.Observation) {
	r.roamMu.Lock()
	defer r.roamMu.Unlock()
	prev, known := r.lastAP[o.MAC]
	switch o.APEvent {
	case EventAssociate, EventRoam:
		if o.APEvent == EventAssociate && known && prev != o.AP {
			o.APEvent = EventRoam
		}
		if !known && len(r.lastAP) >= maxTracked {
			n := 0
			for k := range r.lastAP { // random order: drop an eighth
				delete(r.lastAP, k)
				if n++; n >= maxTracked/8 {
					break
				}
			}
		}
		r.lastAP[o.MAC] = o.AP
	case EventDisassociate:
		if known && prev == o.AP {
			delete(r.lastAP, o.MAC)
		}
	}
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	st := Stats{
		Messages: r.messages.Load(), Observations: r.observations.Load(), Ignored: r.ignoredN.Load(),
		Unparsed: r.unparsed.Load(), Refused: r.refused.Load(), FramingErrors: r.framing.Load(),
		ConnsRejected: r.rejected.Load(), ReadErrors: r.readErrors.Load(), OpenConns: r.openConns.Load(),
		ByParser: make(map[string]uint64, len(r.byParser)),
	}
	for n, c := range r.byParser {
		st.ByParser[n] = c.Load()
	}
	return st
}
