// Package radius is a RADIUS accounting listener (RFC 2866, over UDP, with
// layeh.com/radius) that turns the access points' Start / Interim-Update /
// Stop records into daemon.Observations of kind ObsRADIUS: the device's MAC
// (Calling-Station-Id), its AP (NAS-Identifier, Called-Station-Id MAC), SSID
// and 802.1X identity (User-Name). Each client network has its own shared
// secret; a request is answered only after its observation was handed over,
// so the NAS retransmits what HallMonitor did not take. See docs/location.md.
package radius

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Client is one RADIUS client network (APs or a controller) and its shared secret.
type Client struct {
	Prefix netip.Prefix
	Secret []byte
}

// Options configure a Listener.
type Options struct {
	// Listen is "HOST:PORT" (UDP; RADIUS accounting is port 1813). HOST must
	// be a specific address: listening on every interface is refused.
	Listen string
	// Clients are the networks allowed to send accounting, each with its
	// secret; the most specific prefix containing the sender wins. Packets
	// from anywhere else are dropped and counted.
	Clients []Client
	Logger  *zap.Logger
}

// Stats are cumulative counters; safe to read during Run.
type Stats struct {
	Packets          uint64 // datagrams received
	Observations     uint64 // observations handed over
	Responses        uint64 // Accounting-Responses sent
	NoSecret         uint64 // from an address no client prefix covers: dropped
	BadAuthenticator uint64 // wrong shared secret (or a corrupted packet): dropped
	Malformed        uint64 // not parseable as RADIUS, or no Acct-Status-Type: dropped
	NotAccounting    uint64 // other codes (Access-Request, ...): dropped
	Duplicates       uint64 // retransmissions answered again without a second observation
	NoStation        uint64 // answered, but naming no device (Accounting-On/Off, non-MAC Calling-Station-Id)
}

const (
	dupWindow     = 30 * time.Second
	maxDupEntries = 1 << 14
	maxLogged     = 4096
	badLogEvery   = time.Minute
	maxTracked    = 1 << 16
)

// Listener is a RADIUS accounting server. It is a daemon.Source.
type Listener struct {
	log     *zap.Logger
	clients []Client // longest prefix first
	conn    *net.UDPConn
	running atomic.Bool
	closeMu sync.Mutex
	closed  bool

	// Owned by the serving goroutine.
	dups      map[dupKey]dupEntry
	lastAP    map[string]string // station MAC → AP key of its last Start/Interim
	noSecret  map[netip.Addr]struct{}
	badLogged map[netip.Addr]time.Time

	packets, observations, responses, noSecretN, badAuth atomic.Uint64
	malformed, notAcct, duplicates, noStation            atomic.Uint64
}

type dupKey struct {
	from netip.AddrPort
	id   byte
}

type dupEntry struct {
	auth [16]byte
	resp []byte
	at   time.Time
}

// New validates o and binds the UDP socket (so Addr is known and a port in
// use is reported now). Call Run to serve, or Close.
func New(o Options) (*Listener, error) {
	if len(o.Clients) == 0 {
		return nil, errors.New("radius: no clients: list the APs' (or controller's) network with its shared secret")
	}
	l := &Listener{log: o.Logger, dups: map[dupKey]dupEntry{}, lastAP: map[string]string{},
		noSecret: map[netip.Addr]struct{}{}, badLogged: map[netip.Addr]time.Time{}}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	for i, c := range o.Clients {
		if !c.Prefix.IsValid() {
			return nil, fmt.Errorf("radius: client %d: invalid prefix", i+1)
		}
		if len(c.Secret) == 0 {
			return nil, fmt.Errorf("radius: client %d (%v): empty shared secret", i+1, c.Prefix)
		}
		l.clients = append(l.clients, Client{Prefix: c.Prefix.Masked(), Secret: slices.Clone(c.Secret)})
	}
	slices.SortStableFunc(l.clients, func(a, b Client) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	ap, err := netip.ParseAddrPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("radius: listen %q: %w", o.Listen, err)
	}
	if ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("radius: listen %q: give the gateway's management address, not the wildcard", o.Listen)
	}
	l.conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("radius: listen %s: %w", o.Listen, err)
	}
	_ = l.conn.SetReadBuffer(4 << 20) // best effort
	return l, nil
}

// Addr is the bound address (with the kernel's port when Listen had port 0).
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close releases the socket; Run calls it when it returns.
func (l *Listener) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.conn.Close()
}

// Run serves until ctx is cancelled (returning nil) or the socket fails.
func (l *Listener) Run(ctx context.Context, out chan<- daemon.Observation) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("radius: listener already running")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		return l.Close()
	})
	g.Go(func() error { return l.serve(gctx, out) })
	l.log.Info("RADIUS accounting listener started", zap.Stringer("addr", l.Addr()), zap.Int("clients", len(l.clients)))
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *Listener) secretFor(a netip.Addr) []byte {
	for _, c := range l.clients {
		if c.Prefix.Contains(a) {
			return c.Secret
		}
	}
	return nil
}

func (l *Listener) serve(ctx context.Context, out chan<- daemon.Observation) error {
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("radius: read: %w", err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if err := l.handle(ctx, buf[:n], from, out); err != nil {
			return nil // ctx ended before the hand-over: no response, the NAS retries
		}
	}
}

// handle processes one datagram; it returns an error only when ctx ended
// before the observation was handed over.
func (l *Listener) handle(ctx context.Context, b []byte, from netip.AddrPort, out chan<- daemon.Observation) error {
	l.packets.Add(1)
	now := time.Now()
	src := from.Addr()
	secret := l.secretFor(src)
	if secret == nil {
		l.noSecretN.Add(1)
		if _, seen := l.noSecret[src]; !seen && len(l.noSecret) < maxLogged {
			l.noSecret[src] = struct{}{}
			l.log.Warn("RADIUS packet from an address with no client secret dropped (logged once per source)", zap.Stringer("source", src))
		}
		return nil
	}
	if len(b) >= 20 {
		if d, ok := l.dups[dupKey{from, b[1]}]; ok && now.Sub(d.at) < dupWindow && [16]byte(b[4:20]) == d.auth {
			l.duplicates.Add(1)
			l.reply(d.resp, from)
			return nil
		}
	}
	req, err := Parse(b, secret, src, now)
	switch {
	case errors.Is(err, ErrBadAuthenticator):
		l.badAuth.Add(1)
		if last, ok := l.badLogged[src]; (!ok && len(l.badLogged) < maxLogged) || (ok && now.Sub(last) > badLogEvery) {
			l.badLogged[src] = now
			l.log.Warn("RADIUS accounting with a bad authenticator dropped: the shared secret is wrong (logged at most once a minute per source)",
				zap.Stringer("source", src))
		}
		return nil
	case errors.Is(err, ErrNotAccounting):
		l.notAcct.Add(1)
		return nil
	case err != nil:
		l.malformed.Add(1)
		l.log.Debug("malformed RADIUS accounting dropped", zap.Stringer("source", src), zap.Error(err))
		return nil
	}
	if req.Station {
		o := req.Observation
		l.trackRoam(&o, req.Status)
		select {
		case out <- o:
			l.observations.Add(1)
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		l.noStation.Add(1)
	}
	resp, err := req.Packet.Response(radius.CodeAccountingResponse).Encode()
	if err != nil {
		return nil // cannot happen for an empty Accounting-Response
	}
	l.remember(dupKey{from, req.Packet.Identifier}, req.Packet.Authenticator, resp, now)
	l.reply(resp, from)
	return nil
}

func (l *Listener) reply(resp []byte, to netip.AddrPort) {
	if _, err := l.conn.WriteToUDPAddrPort(resp, to); err == nil {
		l.responses.Add(1)
	}
}

// remember caches a response for retransmissions, pruning old entries.
func (l *Listener) remember(k dupKey, auth [16]byte, resp []byte, now time.Time) {
	if len(l.dups) >= maxDupEntries {
		for key, d := range l.dups {
			if now.Sub(d.at) >= dupWindow {
				delete(l.dups, key)
			}
		}
		if len(l.dups) >= maxDupEntries { // all recent: a flood; start afresh
			clear(l.dups)
		}
	}
	l.dups[k] = dupEntry{auth: auth, resp: resp, at: now}
}

// trackRoam: an Interim-Update from a different AP than the station's last
// Start/Interim is a roam (controllers report a roam as Interim with a new
// Called-Station-Id); Stop forgets the station when it names the same AP.
func (l *Listener) trackRoam(o *daemon.Observation, status rfc2866.AcctStatusType) {
	key := o.APMAC
	if key == "" {
		key = o.AP
	}
	prev, known := l.lastAP[o.MAC]
	switch status {
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate:
		if status == rfc2866.AcctStatusType_Value_InterimUpdate && known && prev != key {
			o.APEvent = "roam"
		}
		if !known && len(l.lastAP) >= maxTracked {
			n := 0
			for k := range l.lastAP {
				delete(l.lastAP, k)
				if n++; n >= maxTracked/8 {
					break
				}
			}
		}
		l.lastAP[o.MAC] = key
	case rfc2866.AcctStatusType_Value_Stop:
		if known && prev == key {
			delete(l.lastAP, o.MAC)
		}
	}
}

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	return Stats{
		Packets: l.packets.Load(), Observations: l.observations.Load(), Responses: l.responses.Load(),
		NoSecret: l.noSecretN.Load(), BadAuthenticator: l.badAuth.Load(), Malformed: l.malformed.Load(),
		NotAccounting: l.notAcct.Load(), Duplicates: l.duplicates.Load(), NoStation: l.noStation.Load(),
	}
}
