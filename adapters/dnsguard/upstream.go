package dnsguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Pool sizes and failover.
const (
	// udpSockets is how many connected UDP sockets each upstream's queries
	// share (each with a reader goroutine matching replies to queries by ID).
	udpSockets = 4
	// udpReadBuffer is the receive buffer asked for on those sockets and on
	// the guard's own listening sockets (the kernel caps it at
	// net.core.rmem_max): replies to every query in flight, and a burst of
	// client queries, must fit.
	udpReadBuffer = 1 << 20
	// maxIdleTCP bounds the idle TCP connections kept per upstream.
	maxIdleTCP = 32
	// downFor is how long an upstream that failed is tried only after the
	// others (it is still tried when they fail too).
	downFor = 5 * time.Second
)

var errClosed = errors.New("dnsguard: upstream pool closed")

// upstream is one of the school's resolvers with its sockets. Queries over
// UDP share a few connected sockets (the kernel drops datagrams from anyone
// else); each query waits under its own random ID, unique among the queries
// in flight on its socket, and a reply is handed to the query with its ID
// only when its question is the query's. A reply nobody waits for (a late
// answer to a query that timed out) is dropped. TCP connections are pooled
// and carry one query at a time.
type upstream struct {
	addr netip.AddrPort
	name string

	mu      sync.Mutex
	closed  bool
	udp     [udpSockets]*udpMux // nil until first used, or after the socket failed
	idleTCP []*dns.Conn
	busy    map[net.Conn]struct{} // every open TCP connection, to close on shutdown

	next            atomic.Uint32 // round-robin over udp
	downUntil       atomic.Int64  // unix nanos; 0 when healthy
	queries, errors atomic.Uint64
}

// udpMux is one shared connected UDP socket and the queries waiting on it.
type udpMux struct {
	u    *upstream
	slot int
	c    *net.UDPConn

	mu      sync.Mutex
	pending map[uint16]*fwd
	dead    error // set once the socket failed: no new queries
}

func newUpstream(s string) (*upstream, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(strings.Trim(s, "[]"))
		if aerr != nil {
			return nil, fmt.Errorf("dnsguard: upstream %q: want IP:PORT or IP: %w", s, err)
		}
		ap = netip.AddrPortFrom(a, 53)
	}
	if !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
		return nil, fmt.Errorf("dnsguard: upstream %q: not a usable address", s)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	return &upstream{addr: ap, name: ap.String(), busy: map[net.Conn]struct{}{}}, nil
}

func (u *upstream) isDown(now int64) bool { return u.downUntil.Load() > now }

func (u *upstream) track(c net.Conn) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		_ = c.Close()
		return errClosed
	}
	u.busy[c] = struct{}{}
	return nil
}

func (u *upstream) forget(c net.Conn) {
	u.mu.Lock()
	delete(u.busy, c)
	u.mu.Unlock()
	_ = c.Close()
}

// getMux returns the next shared UDP socket, opening it (and starting its
// reader) when needed.
func (u *upstream) getMux() (*udpMux, error) {
	i := int(u.next.Add(1) % udpSockets)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, errClosed
	}
	if m := u.udp[i]; m != nil {
		return m, nil
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.addr))
	if err != nil {
		return nil, fmt.Errorf("dnsguard: dial udp %s: %w", u.name, err)
	}
	_ = c.SetReadBuffer(udpReadBuffer) // best effort
	m := &udpMux{u: u, slot: i, c: c, pending: map[uint16]*fwd{}}
	u.udp[i] = m
	go m.read()
	return m, nil
}

func (u *upstream) getTCP(timeout time.Duration) (c *dns.Conn, reused bool, err error) {
	u.mu.Lock()
	if n := len(u.idleTCP); n > 0 && !u.closed {
		c := u.idleTCP[n-1]
		u.idleTCP = u.idleTCP[:n-1]
		u.mu.Unlock()
		return c, true, nil
	}
	u.mu.Unlock()
	nc, err := net.DialTimeout("tcp", u.name, timeout)
	if err != nil {
		return nil, false, fmt.Errorf("dnsguard: dial tcp %s: %w", u.name, err)
	}
	if err := u.track(nc); err != nil {
		return nil, false, err
	}
	return &dns.Conn{Conn: nc}, false, nil
}

func (u *upstream) putTCP(c *dns.Conn) {
	u.mu.Lock()
	if !u.closed && len(u.idleTCP) < maxIdleTCP {
		u.idleTCP = append(u.idleTCP, c)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	u.forget(c.Conn)
}

// close closes every socket, idle or busy: a query waiting on one fails at
// once.
func (u *upstream) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	for c := range u.busy {
		_ = c.Close()
	}
	for _, m := range u.udp {
		if m != nil {
			_ = m.c.Close() // its reader fails the queries waiting on it
		}
	}
	u.idleTCP = nil
}

// send makes f pending on this socket under an ID unused here (written into
// f.wire), starts the attempt's timer (wait) and sends the query. Once the
// query is pending, f belongs to whoever takes it off (the reader, the timer,
// a socket failure): owned is false. It is true, with the error, when the
// query could not be sent and f is still the caller's.
func (m *udpMux) send(f *fwd, wait time.Duration) (owned bool, err error) {
	u := m.u
	m.mu.Lock()
	if m.dead != nil {
		err := m.dead
		m.mu.Unlock()
		return true, fmt.Errorf("dnsguard: udp %s: %w", u.name, err)
	}
	var id uint16
	for {
		id = uint16(rand.Uint32())
		if _, taken := m.pending[id]; !taken {
			break
		}
	}
	if f.sent {
		// A failover: the previous attempt's sender may still be writing
		// f.wire (its timer can fire first), so this one gets its own copy.
		f.wire = slices.Clone(f.wire)
	}
	f.sent = true
	wire := f.wire // f is not ours once pending and unlocked
	binary.BigEndian.PutUint16(wire, id)
	m.pending[id] = f
	f.timer = time.AfterFunc(wait, func() {
		if m.take(id, f) {
			f.failed(u, fmt.Errorf("dnsguard: udp %s: %w", u.name, os.ErrDeadlineExceeded))
		}
	})
	m.mu.Unlock()
	if _, err := m.c.Write(wire); err != nil && m.take(id, f) {
		return true, fmt.Errorf("dnsguard: udp %s: %w", u.name, err)
	}
	return false, nil
}

// take removes f if it is still pending under id, stopping its timer; false
// when another has taken it.
func (m *udpMux) take(id uint16, f *fwd) bool {
	m.mu.Lock()
	if m.pending[id] != f {
		m.mu.Unlock()
		return false
	}
	delete(m.pending, id)
	t := f.timer
	m.mu.Unlock()
	t.Stop()
	return true
}

// read hands each reply to the query waiting for it until the socket fails.
// An ICMP port unreachable (ECONNREFUSED, reported once) fails the queries
// then waiting; any other error fails them and retires the socket (the next
// query opens a new one).
func (m *udpMux) read() {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, err := m.c.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				m.failAll(err, false)
				continue
			}
			m.failAll(err, true)
			return
		}
		m.dispatch(buf[:n])
	}
}

func (m *udpMux) failAll(err error, dead bool) {
	u := m.u
	if dead {
		u.mu.Lock()
		if u.closed {
			err = errClosed
		}
		if u.udp[m.slot] == m {
			u.udp[m.slot] = nil
		}
		u.mu.Unlock()
		_ = m.c.Close()
	}
	m.mu.Lock()
	if dead {
		m.dead = err
	}
	var failed []*fwd
	for id, f := range m.pending {
		delete(m.pending, id)
		f.timer.Stop()
		failed = append(failed, f)
	}
	m.mu.Unlock()
	err = fmt.Errorf("dnsguard: udp %s: %w", u.name, err)
	for _, f := range failed {
		f.failed(u, err)
	}
}

// dispatch hands raw to the query it answers, if any is waiting: same ID, a
// response with one question, and the question echoed (byte for byte, or
// equal when parsed: 0x20 case randomisation, compression).
func (m *udpMux) dispatch(raw []byte) {
	if len(raw) < 12 || raw[2]&0x80 == 0 || binary.BigEndian.Uint16(raw[4:]) != 1 {
		return // not a response, or not one question
	}
	id := binary.BigEndian.Uint16(raw)
	m.mu.Lock()
	f := m.pending[id]
	if f == nil {
		m.mu.Unlock()
		return // late or stray
	}
	ok, err := replyMatches(raw, f.wire, f.q)
	if !ok && err == nil {
		m.mu.Unlock()
		return // another question: stray or spoofed
	}
	delete(m.pending, id)
	t := f.timer
	m.mu.Unlock()
	t.Stop()
	if err != nil {
		f.failed(m.u, fmt.Errorf("dnsguard: udp %s: %w", m.u.name, err))
		return
	}
	f.replied(m.u, raw)
}

// replyMatches reports whether the reply raw carries the question of the packed
// query wire (q parsed); an error for a reply that cannot be parsed.
func replyMatches(raw, wire []byte, q *dns.Question) (bool, error) {
	if qend := questionEnd(wire); qend > 0 && len(raw) >= qend && string(raw[12:qend]) == string(wire[12:qend]) {
		return true, nil // the question echoed byte for byte
	}
	r := new(dns.Msg) // the question differs in case (0x20) or encoding: compare parsed
	if err := r.Unpack(raw); err != nil {
		if r.Truncated && len(r.Question) == 1 && sameQuestion(r, q) {
			return true, nil // truncated mid-record: the caller retries over TCP
		}
		return false, fmt.Errorf("malformed reply: %w", err)
	}
	return sameQuestion(r, q), nil
}

// questionEnd returns the offset after the first question of an uncompressed
// packed query, or 0.
func questionEnd(wire []byte) int {
	i := 12
	for i < len(wire) && wire[i] != 0 {
		if wire[i]&0xc0 != 0 {
			return 0
		}
		i += 1 + int(wire[i])
	}
	i += 1 + 4
	if i > len(wire) {
		return 0
	}
	return i
}

// exchangeTCP sends m (whose ID is id) over a pooled TCP connection. A pooled
// connection the upstream has closed meanwhile is replaced once.
func (u *upstream) exchangeTCP(m *dns.Msg, q *dns.Question, deadline time.Time) (*dns.Msg, error) {
	var lastErr error
	for range 2 {
		c, reused, err := u.getTCP(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		r, err := exchangeConn(c, m, q, deadline)
		if err == nil {
			u.putTCP(c)
			return r, nil
		}
		u.forget(c.Conn)
		lastErr = err
		var ne net.Error
		if !reused || (errors.As(err, &ne) && ne.Timeout()) {
			break
		}
	}
	return nil, fmt.Errorf("dnsguard: tcp %s: %w", u.name, lastErr)
}

func exchangeConn(c *dns.Conn, m *dns.Msg, q *dns.Question, deadline time.Time) (*dns.Msg, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := c.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		r, err := c.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == m.Id && r.Response && sameQuestion(r, q) {
			return r, nil
		}
	}
}

func sameQuestion(m *dns.Msg, q *dns.Question) bool {
	return len(m.Question) == 1 && m.Question[0].Qtype == q.Qtype && m.Question[0].Qclass == q.Qclass &&
		strings.EqualFold(m.Question[0].Name, q.Name)
}
