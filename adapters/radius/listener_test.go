package radius

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

var loopbackClient = []Client{{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: secret}}

type running struct {
	*lab.RunningSource[daemon.Observation]
	l    *Listener
	out  chan daemon.Observation
	stop func() error
}

// start runs a Listener on a loopback port; out has the given buffer (0:
// nothing is taken until the test reads).
func start(t testing.TB, o Options, buffer int) *running {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Clients == nil {
		o.Clients = loopbackClient
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	rs := lab.RunSource(t, l.Run, buffer)
	return &running{RunningSource: rs, l: l, out: rs.Out, stop: rs.Stop}
}

func (rr *running) next(t testing.TB) daemon.Observation {
	t.Helper()
	return rr.Next(t, func() any { return rr.l.Stats() })
}

// nasConn is a UDP socket as an AP would use, from the given local address.
func nasConn(t testing.TB, from string, to net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// settledStats returns the listener's counters once done says they are
// complete, or after 2 s: a response is counted after the write that the
// NAS may already have read (CI saw Responses 3 of 4 for that instant).
func settledStats(l *Listener, done func(Stats) bool) Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := l.Stats()
		if done(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// exchange sends b and waits up to wait for an authentic Accounting-Response.
func exchange(t testing.TB, c *net.UDPConn, b, sec []byte, wait time.Duration) bool {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return awaitResponse(t, c, b, sec, wait)
}

func awaitResponse(t testing.TB, c *net.UDPConn, req, sec []byte, wait time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return false
	}
	if radius.Code(buf[0]) != radius.CodeAccountingResponse || !radius.IsAuthenticResponse(buf[:n], req, sec) {
		t.Fatalf("reply is not an authentic Accounting-Response: % x", buf[:n])
	}
	return true
}

func session(t testing.TB, status rfc2866.AcctStatusType, calledStation, nasID string) []byte {
	t.Helper()
	return encode(t, acct(t, status, func(p *radius.Packet) {
		set(p, rfc2865.CallingStationID_Type, "3C-28-6D-11-22-33")
		set(p, rfc2865.CalledStationID_Type, calledStation)
		set(p, rfc2865.NASIdentifier_Type, nasID)
		set(p, rfc2865.UserName_Type, "pupil-0042")
		set(p, rfc2866.AcctSessionID_Type, "5F3A2B1C")
	}))
}

// One pupil's session: Start in Classroom 12, an Interim there, an Interim
// from Classroom 13 (a roam as a controller reports it), Stop. Each request
// is answered, and each becomes the right observation.
func TestListenerSession(t *testing.T) {
	rr := start(t, Options{}, 16)
	c := nasConn(t, "127.0.0.1", rr.l.Addr())
	steps := []struct {
		status       rfc2866.AcctStatusType
		called, nas  string
		ev, ap, ssid string
	}{
		{rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "classroom-12", "associate", "classroom-12", "Pupils"},
		{rfc2866.AcctStatusType_Value_InterimUpdate, "18-E8-29-00-00-12:Pupils", "classroom-12", "associate", "classroom-12", "Pupils"},
		{rfc2866.AcctStatusType_Value_InterimUpdate, "18-E8-29-00-00-13:Pupils", "classroom-13", "roam", "classroom-13", "Pupils"},
		{rfc2866.AcctStatusType_Value_Stop, "18-E8-29-00-00-13:Pupils", "classroom-13", "disassociate", "classroom-13", "Pupils"},
	}
	for i, s := range steps {
		if !exchange(t, c, session(t, s.status, s.called, s.nas), secret, 5*time.Second) {
			t.Fatalf("step %d (%v): no Accounting-Response", i+1, s.status)
		}
		o := rr.next(t)
		if o.Kind != daemon.ObsRADIUS || o.MAC != "3c:28:6d:11:22:33" || o.APEvent != s.ev || o.AP != s.ap || o.SSID != s.ssid ||
			o.Identity != "pupil-0042" || o.Source != "radius:127.0.0.1" {
			t.Errorf("step %d: %+v", i+1, o)
		}
	}
	if st := settledStats(rr.l, func(st Stats) bool { return st.Responses == 4 }); st.Observations != 4 || st.Responses != 4 {
		t.Errorf("stats %+v", st)
	}
}

// The AP is told "recorded" only when HallMonitor has taken the observation:
// while the daemon is not reading, no Accounting-Response goes out (the NAS
// keeps the record and retransmits).
func TestListenerRepliesOnlyAfterHandover(t *testing.T) {
	rr := start(t, Options{}, 0)
	c := nasConn(t, "127.0.0.1", rr.l.Addr())
	req := session(t, rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "classroom-12")
	if exchange(t, c, req, secret, 300*time.Millisecond) {
		t.Fatal("Accounting-Response sent before the observation was handed over")
	}
	if o := rr.next(t); o.MAC != "3c:28:6d:11:22:33" {
		t.Fatalf("%+v", o)
	}
	if !awaitResponse(t, c, req, secret, 5*time.Second) {
		t.Fatal("no Accounting-Response after the hand-over")
	}
}

// A wrong secret yields no observation and no response, is counted and
// logged (once a minute per source), and a sender with no configured secret
// is dropped and counted. Neither stops the listener.
func TestListenerWrongAndMissingSecret(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	rr := start(t, Options{Logger: zap.New(core)}, 16)
	c := nasConn(t, "127.0.0.1", rr.l.Addr())
	wrong := []byte("not-the-secret")
	bad := encode(t, acct(t, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) {
		p.Secret = wrong
		set(p, rfc2865.CallingStationID_Type, "66-66-66-66-66-66")
	}))
	for range 2 {
		if exchange(t, c, bad, wrong, 200*time.Millisecond) {
			t.Fatal("a request with the wrong secret was answered")
		}
	}
	other := nasConn(t, "127.0.0.2", rr.l.Addr())
	if exchange(t, other, session(t, rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "x"), secret, 200*time.Millisecond) {
		t.Fatal("a request from an unconfigured client was answered")
	}
	// Still serving, and the first observation is the genuine one.
	if !exchange(t, c, session(t, rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "classroom-12"), secret, 5*time.Second) {
		t.Fatal("no response to a good request")
	}
	if o := rr.next(t); o.MAC != "3c:28:6d:11:22:33" {
		t.Fatalf("first observation %+v", o)
	}
	st := rr.l.Stats()
	if st.BadAuthenticator != 2 || st.NoSecret != 1 || st.Observations != 1 {
		t.Errorf("stats %+v", st)
	}
	if n := logs.FilterMessageSnippet("shared secret is wrong").Len(); n != 1 {
		t.Errorf("bad secret logged %d times; want 1", n)
	}
	if n := logs.FilterMessageSnippet("no client secret").Len(); n != 1 {
		t.Errorf("missing secret logged %d times; want 1", n)
	}
}

// A retransmission (same Identifier and authenticator, because the response
// was lost) is answered again but is not a second observation.
func TestListenerRetransmission(t *testing.T) {
	rr := start(t, Options{}, 16)
	c := nasConn(t, "127.0.0.1", rr.l.Addr())
	req := session(t, rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "classroom-12")
	for i := range 2 {
		if !exchange(t, c, req, secret, 5*time.Second) {
			t.Fatalf("send %d: no response", i+1)
		}
	}
	rr.next(t)
	select {
	case o := <-rr.out:
		t.Fatalf("retransmission became a second observation: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
	if st := settledStats(rr.l, func(st Stats) bool { return st.Responses == 2 }); st.Duplicates != 1 || st.Responses != 2 {
		t.Errorf("stats %+v", st)
	}
}

// The most specific client prefix's secret applies.
func TestListenerMostSpecificSecret(t *testing.T) {
	rr := start(t, Options{Clients: []Client{
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Secret: []byte("wide")},
		{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Secret: secret},
	}}, 16)
	c := nasConn(t, "127.0.0.1", rr.l.Addr())
	if !exchange(t, c, session(t, rfc2866.AcctStatusType_Value_Start, "18-E8-29-00-00-12:Pupils", "classroom-12"), secret, 5*time.Second) {
		t.Fatal("the /32 client's secret was not used")
	}
	rr.next(t)
}

func TestNewRefusesUnsafeConfig(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"wildcard", Options{Listen: "0.0.0.0:1813", Clients: loopbackClient}, "not the wildcard"},
		{"no clients", Options{Listen: "127.0.0.1:0"}, "no clients"},
		{"empty secret", Options{Listen: "127.0.0.1:0", Clients: []Client{{Prefix: netip.MustParsePrefix("10.0.0.0/24")}}}, "empty shared secret"},
		{"bad address", Options{Listen: "gateway:1813", Clients: loopbackClient}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.o)
			if err == nil {
				l.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v lacks %q", err, tc.want)
			}
		})
	}
}

// Cancelling Run releases the port.
func TestRunReleasesSocket(t *testing.T) {
	rr := start(t, Options{}, 1)
	addr := rr.l.Addr().String()
	if err := rr.stop(); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("port still held: %v", err)
	}
	c.Close()
}
