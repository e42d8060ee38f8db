package dnsguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Pool sizes and failover.
const (
	// maxIdleUDP and maxIdleTCP bound the idle sockets kept per upstream; busy
	// sockets are bounded by MaxInFlight.
	maxIdleUDP = 256
	maxIdleTCP = 32
	// udpBufSize is a pooled UDP socket's receive buffer: the common EDNS0
	// sizes (1232, 4096) fit; a query advertising more grows it.
	udpBufSize = 4096
	// downFor is how long an upstream that failed is tried only after the
	// others (it is still tried when they fail too).
	downFor = 5 * time.Second
)

var errClosed = errors.New("dnsguard: upstream pool closed")

// upstream is one of the school's resolvers with its pooled sockets. UDP
// sockets are connected (the kernel drops datagrams from anyone else) and
// carry one query at a time; a reply with another ID (a late answer to a
// query that timed out) is skipped.
type upstream struct {
	addr netip.AddrPort
	name string

	mu      sync.Mutex
	closed  bool
	idleUDP []*udpConn
	idleTCP []*dns.Conn
	busy    map[net.Conn]struct{} // every open socket, to close on shutdown

	downUntil       atomic.Int64 // unix nanos; 0 when healthy
	queries, errors atomic.Uint64
}

type udpConn struct {
	c   *net.UDPConn
	buf []byte
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

func (u *upstream) getUDP() (*udpConn, error) {
	u.mu.Lock()
	if n := len(u.idleUDP); n > 0 && !u.closed {
		c := u.idleUDP[n-1]
		u.idleUDP = u.idleUDP[:n-1]
		u.mu.Unlock()
		return c, nil
	}
	u.mu.Unlock()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.addr))
	if err != nil {
		return nil, fmt.Errorf("dnsguard: dial udp %s: %w", u.name, err)
	}
	if err := u.track(c); err != nil {
		return nil, err
	}
	return &udpConn{c: c, buf: make([]byte, udpBufSize)}, nil
}

func (u *upstream) putUDP(c *udpConn) {
	u.mu.Lock()
	if !u.closed && len(u.idleUDP) < maxIdleUDP {
		u.idleUDP = append(u.idleUDP, c)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	u.forget(c.c)
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

// close closes every socket, idle or busy (a busy read returns at once).
func (u *upstream) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	for c := range u.busy {
		_ = c.Close()
	}
	u.idleUDP, u.idleTCP = nil, nil
}

// exchangeUDP sends the packed query (its ID already set to id) and returns
// a copy of the reply's wire form: a response to this ID whose question is the
// query's (other datagrams, such as a late reply to an earlier query, are
// skipped). size is the largest reply the query allows (its EDNS0 UDP size, at
// least 512). The body is not parsed here: the caller relays it unchanged
// unless it must be truncated or retried over TCP.
func (u *upstream) exchangeUDP(wire []byte, id uint16, q *dns.Question, size int, deadline time.Time) ([]byte, error) {
	c, err := u.getUDP()
	if err != nil {
		return nil, err
	}
	if size > len(c.buf) { // a client advertising more than udpBufSize (rare): grow this socket's buffer
		c.buf = make([]byte, min(size, dns.MaxMsgSize))
	}
	raw, err := c.exchange(wire, id, q, deadline)
	if err != nil {
		u.forget(c.c) // a timed-out socket may still receive the late reply: do not reuse it
		return nil, fmt.Errorf("dnsguard: udp %s: %w", u.name, err)
	}
	out := make([]byte, len(raw))
	copy(out, raw)
	u.putUDP(c)
	return out, nil
}

func (c *udpConn) exchange(wire []byte, id uint16, q *dns.Question, deadline time.Time) ([]byte, error) {
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := c.c.Write(wire); err != nil {
		return nil, err
	}
	qend := questionEnd(wire)
	for {
		n, err := c.c.Read(c.buf)
		if err != nil {
			return nil, err
		}
		raw := c.buf[:n]
		if n < 12 || binary.BigEndian.Uint16(raw) != id || raw[2]&0x80 == 0 || binary.BigEndian.Uint16(raw[4:]) != 1 {
			continue // a stale or stray datagram, not a response, or not one question
		}
		if qend > 0 && n >= qend && string(raw[12:qend]) == string(wire[12:qend]) {
			return raw, nil // the question echoed byte for byte
		}
		m := new(dns.Msg) // the question differs in case (0x20) or encoding: compare parsed
		if err := m.Unpack(raw); err != nil {
			if m.Truncated && len(m.Question) == 1 && sameQuestion(m, q) {
				return raw, nil // truncated mid-record: the caller retries over TCP
			}
			return nil, fmt.Errorf("malformed reply: %w", err)
		}
		if sameQuestion(m, q) {
			return raw, nil
		}
	}
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
