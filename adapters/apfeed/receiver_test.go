package apfeed

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

var allowLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// running is a Receiver under test: its observations arrive on out.
type running struct {
	*lab.RunningSource[daemon.Observation]
	r        *Receiver
	out      chan daemon.Observation
	udp, tcp net.Addr
	stop     func() error
}

// start runs a receiver on loopback UDP and TCP ports chosen by the kernel.
// The cleanup cancels it and checks Run returned nil.
func start(t testing.TB, o Options) *running {
	t.Helper()
	if o.Listen == nil {
		o.Listen = []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}
	}
	if o.Allow == nil {
		o.Allow = allowLoopback
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	rs := lab.RunSource(t, r.Run, 1024)
	rr := &running{RunningSource: rs, r: r, out: rs.Out, stop: rs.Stop}
	for _, a := range r.Addrs() {
		switch a.Network() {
		case "udp":
			rr.udp = a
		case "tcp":
			rr.tcp = a
		}
	}
	return rr
}

func (rr *running) next(t testing.TB) daemon.Observation {
	t.Helper()
	return rr.Next(t, func() any { return rr.r.Stats() })
}

func (rr *running) none(t testing.TB, wait time.Duration) {
	t.Helper()
	select {
	case o := <-rr.out:
		t.Fatalf("unexpected observation %+v", o)
	case <-time.After(wait):
	}
}

// eventually waits up to 2 s for ok(stats); it returns nil on success, else
// the last stats.
func eventually(r *Receiver, ok func(Stats) bool) *Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := r.Stats()
		if ok(st) {
			return nil
		}
		if time.Now().After(deadline) {
			return &st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sendUDP(t testing.TB, from string, to net.Addr, lines ...string) {
	t.Helper()
	var laddr *net.UDPAddr
	if from != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(from)}
	}
	c, err := net.DialUDP("udp", laddr, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, l := range lines {
		if _, err := c.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
}

func line(ap, ev, mac string) string {
	return fmt.Sprintf("<30>%s %s hostapd: wlan0: %s %s", time.Now().Format(time.Stamp), ap, ev, mac)
}

// Both framings on one TCP connection (RFC 6587 octet counting and LF), a
// UDP datagram, SSIDs from the interface map, and an AP named by the
// sender's address when the header has no host name.
func TestReceiverUDPAndTCP(t *testing.T) {
	rr := start(t, Options{SSIDByInterface: map[string]string{"wlan0": "School", "wlan1": "Guest"}})

	sendUDP(t, "", rr.udp, line("classroom-12", "AP-STA-CONNECTED", "3c:28:6d:11:22:33")+"\n")
	o := rr.next(t)
	if o.MAC != "3c:28:6d:11:22:33" || o.AP != "classroom-12" || o.SSID != "School" || o.APEvent != "associate" || o.Kind != daemon.ObsAP {
		t.Fatalf("UDP: %+v", o)
	}
	if d := time.Since(o.At); d < 0 || d > 2*time.Second {
		t.Errorf("At %v is not the message's (now) time", o.At)
	}

	c, err := net.Dial("tcp", rr.tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m1 := line("staffroom", "AP-STA-CONNECTED", "aa:bb:cc:00:00:01")
	m2 := fmt.Sprintf("<30>%s hostapd[99]: wlan1: AP-STA-CONNECTED aa:bb:cc:00:00:02", time.Now().Format(time.Stamp))
	m3 := line("staffroom", "AP-STA-DISCONNECTED", "aa:bb:cc:00:00:01")
	// Two octet-counted frames and one LF frame in one write, then an
	// unterminated last frame before close.
	payload := fmt.Sprintf("%d %s%d %s%s\n", len(m1), m1, len(m2), m2, m3)
	if _, err := c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(line("staffroom", "AP-STA-CONNECTED", "aa:bb:cc:00:00:03"))); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := []struct{ mac, ap, ssid, ev string }{
		{"aa:bb:cc:00:00:01", "staffroom", "School", "associate"},
		{"aa:bb:cc:00:00:02", "127.0.0.1", "Guest", "associate"},
		{"aa:bb:cc:00:00:01", "staffroom", "School", "disassociate"},
		{"aa:bb:cc:00:00:03", "staffroom", "School", "associate"},
	}
	for i, w := range want {
		o := rr.next(t)
		if o.MAC != w.mac || o.AP != w.ap || o.SSID != w.ssid || o.APEvent != w.ev {
			t.Errorf("TCP message %d: %+v; want %+v", i+1, o, w)
		}
	}
	// Counters move just after the hand-over.
	if st := eventually(rr.r, func(st Stats) bool {
		return st.Messages == 5 && st.Observations == 5 && st.ByParser["hostapd"] == 5
	}); st != nil {
		t.Errorf("stats %+v", *st)
	}
}

// Syslog from outside the management networks must never move a device:
// a datagram from 127.0.0.2 and a TCP connection from it are refused,
// counted, and the source logged once.
func TestReceiverRefusesOutsideAllow(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	rr := start(t, Options{Logger: zap.New(core)})

	spoof := line("staffroom", "AP-STA-CONNECTED", "66:66:66:66:66:66")
	sendUDP(t, "127.0.0.2", rr.udp, spoof, spoof)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("tcp", rr.tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte(spoof + "\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("refused TCP connection was not closed")
	}
	c.Close()

	// An allowed sender afterwards gets through, and is the only observation.
	sendUDP(t, "127.0.0.1", rr.udp, line("classroom-12", "AP-STA-CONNECTED", "3c:28:6d:11:22:33"))
	if o := rr.next(t); o.MAC != "3c:28:6d:11:22:33" {
		t.Fatalf("got %+v; the refused sender's event came through", o)
	}
	rr.none(t, 100*time.Millisecond)
	st := rr.r.Stats()
	if st.Refused != 3 || st.Messages != 1 {
		t.Errorf("Refused = %d (want 3), Messages = %d (want 1)", st.Refused, st.Messages)
	}
	if n := logs.FilterMessageSnippet("refused").Len(); n != 1 {
		t.Errorf("refusal logged %d times; want once for the one source", n)
	}
}

// A station associating at another AP is a roam; the old AP's late deauth is
// passed on with its (old) AP so the consumer can tell it is stale; leaving
// the current AP and coming back is a fresh association.
func TestReceiverRoam(t *testing.T) {
	rr := start(t, Options{})
	const mac = "3c:28:6d:11:22:33"
	steps := []struct {
		ap, ev string
		want   string
	}{
		{"classroom-12", "AP-STA-CONNECTED", "associate"},
		{"classroom-12", "AP-STA-CONNECTED", "associate"}, // hostapd repeats after the handshake
		{"classroom-13", "AP-STA-CONNECTED", "roam"},
		{"classroom-12", "AP-STA-DISCONNECTED", "disassociate"}, // stale: AP says classroom-12
		{"classroom-13", "AP-STA-DISCONNECTED", "disassociate"},
		{"classroom-12", "AP-STA-CONNECTED", "associate"},
	}
	for i, s := range steps {
		sendUDP(t, "", rr.udp, line(s.ap, s.ev, mac))
		o := rr.next(t)
		if o.APEvent != s.want || o.AP != s.ap {
			t.Errorf("step %d: %s at %s → %s at %s; want %s", i+1, s.ev, s.ap, o.APEvent, o.AP, s.want)
		}
	}
}

// Broken framing costs the sender its connection, not the receiver: it is
// counted, and the next connection works.
func TestReceiverFramingErrors(t *testing.T) {
	rr := start(t, Options{})
	for _, bad := range []string{
		"9999999 <30>x", // count over MaxMessage
		"12x <30>abc",   // not a count
		"<30>" + strings.Repeat("a", MaxMessage+10), // LF frame over MaxMessage
	} {
		c, err := net.Dial("tcp", rr.tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(bad))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection not closed after %.20q", bad)
		}
		c.Close()
	}
	c, err := net.Dial("tcp", rr.tcp.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte(line("ap1", "AP-STA-CONNECTED", "3c:28:6d:11:22:33") + "\n"))
	c.Close()
	if o := rr.next(t); o.MAC != "3c:28:6d:11:22:33" {
		t.Fatalf("%+v", o)
	}
	if st := rr.r.Stats(); st.FramingErrors != 3 {
		t.Errorf("FramingErrors = %d; want 3", st.FramingErrors)
	}
}

// Lines from the APs' other daemons are counted so an admin can see a feed
// that arrives but is not understood.
func TestReceiverCountsUnparsedAndIgnored(t *testing.T) {
	rr := start(t, Options{Custom: []CustomParser{merakiParser}})
	sendUDP(t, "", rr.udp,
		"<30>Jun 30 18:00:00 classroom-12 dnsmasq-dhcp[1234]: DHCPACK(br-lan) 10.0.0.5 3c:28:6d:11:22:33 phone",
		"<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: authenticated",
		`<134>1 1719763200.123456789 Classroom_12 events type=association radio='1' vap='0' client_mac='F8:CF:C5:11:22:33' channel='36'`)
	if o := rr.next(t); o.Source != "syslog:meraki" || o.AP != "Classroom_12" {
		t.Fatalf("%+v", o)
	}
	if st := eventually(rr.r, func(st Stats) bool {
		return st.Messages == 3 && st.Unparsed == 1 && st.Ignored == 1 && st.ByParser["meraki"] == 1
	}); st != nil {
		t.Errorf("stats %+v", *st)
	}
}

func TestNewRefusesUnsafeConfig(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"wildcard", Options{Listen: []string{"udp://0.0.0.0:514"}, Allow: allowLoopback}, "not the wildcard"},
		{"ipv6 wildcard", Options{Listen: []string{"tcp://[::]:514"}, Allow: allowLoopback}, "not the wildcard"},
		{"no allow", Options{Listen: []string{"udp://127.0.0.1:0"}}, "no allowed networks"},
		{"no listen", Options{Allow: allowLoopback}, "no listen addresses"},
		{"scheme", Options{Listen: []string{"tls://127.0.0.1:6514"}, Allow: allowLoopback}, "want udp://HOST:PORT"},
		{"host name", Options{Listen: []string{"udp://gateway:514"}, Allow: allowLoopback}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.o)
			if err == nil {
				r.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// Cancelling Run releases the ports: the address can be bound again at once.
func TestRunReleasesListeners(t *testing.T) {
	rr := start(t, Options{})
	if err := rr.stop(); err != nil {
		t.Fatal(err)
	}
	u, err := net.ListenPacket("udp", rr.udp.String())
	if err != nil {
		t.Fatalf("UDP port still held: %v", err)
	}
	u.Close()
	l, err := net.Listen("tcp", rr.tcp.String())
	if err != nil {
		t.Fatalf("TCP port still held: %v", err)
	}
	l.Close()
}
