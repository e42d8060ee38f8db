package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
	"github.com/hallmonitor/hallmonitor/daemon"
)

var deviceIP = net.IPv4(10, 0, 0, 23).To4()

// mdnsFrame builds an mDNS message from testMAC/deviceIP (UDP 5353 → 5353).
func mdnsFrame(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	msg, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 0xfb}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 255, Protocol: layers.IPProtocolUDP, SrcIP: deviceIP, DstIP: net.IPv4(224, 0, 0, 251).To4()}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, udp, gopacket.Payload(msg))
}

func rrHdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET | 1<<15, Ttl: 120}
}

// TestDecodeMDNSHostnames: a device's own announcements and probes give its
// host name; records about other devices (a sleep proxy's, a query's known
// answers) and service instance names do not.
func TestDecodeMDNSHostnames(t *testing.T) {
	own := &dns.A{Hdr: rrHdr("Alices-iPhone.local.", dns.TypeA), A: net.IP(deviceIP)}
	other := &dns.A{Hdr: rrHdr("Bobs-MacBook.local.", dns.TypeA), A: net.IPv4(10, 0, 0, 99)}
	svc := &dns.PTR{Hdr: rrHdr("_companion-link._tcp.local.", dns.TypePTR), Ptr: "Alice’s iPhone._companion-link._tcp.local."}
	tests := []struct {
		name string
		msg  func() *dns.Msg
		want []string
	}{
		{"announcement", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: []dns.RR{svc, own}}
		}, []string{"Alices-iPhone"}},
		{"address in the additional section", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{svc}, Extra: []dns.RR{own}}
		}, []string{"Alices-iPhone"}},
		{"sleep proxy answering for another device", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{other}}
		}, nil},
		{"query with known answers", func() *dns.Msg {
			return &dns.Msg{Question: []dns.Question{{Name: "Bobs-MacBook.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}, Answer: []dns.RR{own}}
		}, nil},
		{"probe", func() *dns.Msg {
			return &dns.Msg{Question: []dns.Question{{Name: "Alices-iPhone.local.", Qtype: dns.TypeANY, Qclass: dns.ClassINET}}, Ns: []dns.RR{own}}
		}, []string{"Alices-iPhone"}},
		{"UTF-8 name", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{&dns.A{Hdr: rrHdr("Alice’s iPad.local.", dns.TypeA), A: net.IP(deviceIP)}}}
		}, []string{"Alice’s iPad"}},
		{"not .local", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{&dns.A{Hdr: rrHdr("printer.example.com.", dns.TypeA), A: net.IP(deviceIP)}}}
		}, nil},
		{"service records only", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Response: true}, Answer: []dns.RR{svc}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := decodeAll(t, mdnsFrame(t, tt.msg()))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range obs {
				if o.Kind != daemon.ObsDNS || o.DNSName != "" || o.MAC != "3c:22:fb:01:02:03" || o.TTL != 0 || o.IP != netip.AddrFrom4([4]byte(deviceIP)) {
					t.Errorf("observation %+v: want ObsDNS from the device, no DNSName, no TTL", o)
				}
				got = append(got, o.Hostname)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("host names %q, want %q", got, tt.want)
			}
		})
	}
}

// dhcpv6Frame wraps a DHCPv6 message in IPv6/UDP from testMAC's link-local address.
func dhcpv6Frame(t testing.TB, srcMAC net.HardwareAddr, sport, dport layers.UDPPort, msg []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 1, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: synth.LinkLocal(srcMAC), DstIP: net.ParseIP("ff02::1:2")}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, udp, gopacket.Payload(msg))
}

func dhcpv6Opt(code uint16, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// relayForw wraps msg in a Relay-forward from a relay, with the client's
// link-local peer address and optionally RFC 6939's client link-layer option.
func relayForw(msg []byte, peer net.IP, clientLL net.HardwareAddr) []byte {
	b := append([]byte{12, 0}, net.ParseIP("2001:db8::1").To16()...)
	b = append(b, peer.To16()...)
	if clientLL != nil {
		b = append(b, dhcpv6Opt(79, append([]byte{0, 1}, clientLL...))...)
	}
	return append(b, dhcpv6Opt(9, msg)...)
}

// TestDecodeDHCPv6: a client's Solicit ties its link-local address to its
// MAC, with its FQDN as host name; through a relay the MAC comes from option
// 79 or the DUID; server messages and broken options yield nothing.
func TestDecodeDHCPv6(t *testing.T) {
	relayMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0xee}
	otherMAC := net.HardwareAddr{0xf0, 0x18, 0x98, 0xaa, 0xbb, 0xcc}
	solicit := synth.DHCPv6Solicit(0xabcdef, testMAC, "alices-laptop")
	duidLLOnly := append([]byte{1, 0, 0, 1}, dhcpv6Opt(1, append([]byte{0, 3, 0, 1}, otherMAC...))...) // DUID-LL, no FQDN
	ll := synth.LinkLocal(testMAC)
	tests := []struct {
		name    string
		frame   []byte
		want    string // "MAC IP hostname", "" for no observation
		wantErr error
	}{
		{"direct solicit", dhcpv6Frame(t, testMAC, 546, 547, solicit), "3c:22:fb:01:02:03 " + ll.String() + " alices-laptop", nil},
		{"relayed, option 79", dhcpv6Frame(t, relayMAC, 547, 547, relayForw(solicit, ll, otherMAC)), "f0:18:98:aa:bb:cc " + ll.String() + " alices-laptop", nil},
		{"relayed, DUID-LL", dhcpv6Frame(t, relayMAC, 547, 547, relayForw(duidLLOnly, ll, nil)), "f0:18:98:aa:bb:cc " + ll.String() + " ", nil},
		{"relayed, no client MAC", dhcpv6Frame(t, relayMAC, 547, 547, relayForw([]byte{1, 0, 0, 1}, ll, nil)), "", nil},
		{"server advertise", dhcpv6Frame(t, relayMAC, 547, 546, append([]byte{2, 0, 0, 1}, dhcpv6Opt(1, []byte{0, 3, 0, 1, 1, 2, 3, 4, 5, 6})...)), "", nil},
		{"option overruns the message", dhcpv6Frame(t, testMAC, 546, 547, []byte{1, 0, 0, 1, 0, 1, 0, 40, 0, 3}), "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := decodeAll(t, tt.frame)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got := ""
			for _, o := range obs {
				if o.Kind != daemon.ObsIPv6 || o.TTL != 0 {
					t.Errorf("observation %+v: want ObsIPv6 without TTL", o)
				}
				got = o.MAC + " " + o.IP.String() + " " + o.Hostname
			}
			if len(obs) > 1 || got != tt.want {
				t.Errorf("got %d observations, last %q; want %q", len(obs), got, tt.want)
			}
		})
	}
	m, ok, err := ParseDHCPv6(solicit, testMAC, netip.MustParseAddr("fe80::1"))
	if err != nil || !ok || !bytes.Equal(m.DUIDMAC, testMAC) || m.MessageType != 1 {
		t.Errorf("ParseDHCPv6(solicit) = %+v, %v, %v: want the DUID-LLT's MAC", m, ok, err)
	}
}

// TestDecodeStatsClassifyErrors: the counters a daemon exports tell a frame
// cut short by the capture from one whose contents are wrong.
func TestDecodeStatsClassifyErrors(t *testing.T) {
	disc := iosDiscover(t, 0)
	badIHL := append([]byte(nil), disc...)
	badIHL[14] = 0x43 // IPv4, header length 12 bytes
	dnsQ := dnsFrame(t, 40000, 53, false, "example.com")
	badDNS := append([]byte(nil), dnsQ...)
	badDNS[14+20+8+12] = 60 // the question's first label claims 60 bytes
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"DHCP cut by the snap length", disc[:14+20+8+100], ErrTruncated},
		{"Ethernet header cut", disc[:10], ErrTruncated},
		{"IPv4 header length below 20", badIHL, ErrMalformed},
		{"DNS question overruns the datagram", badDNS, ErrMalformed},
		{"VLAN tag cut", iosDiscover(t, 42)[:16], ErrTruncated},
	}
	d := NewDecoder()
	var wantT, wantM uint64
	for _, tt := range tests {
		err := d.Decode(tt.frame, time.Time{}, "eth0", func(daemon.Observation) { t.Errorf("%s: unexpected observation", tt.name) })
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if tt.want == ErrTruncated {
			wantT++
		} else {
			wantM++
		}
	}
	if err := d.Decode(tcpFrame(t)[:40], time.Time{}, "eth0", nil); err != nil {
		t.Errorf("a cut TCP segment is no business of ours: %v", err)
	}
	st := d.Stats()
	if st.Truncated != wantT || st.Malformed != wantM || st.Frames != uint64(len(tests)+1) {
		t.Errorf("stats %+v: want %d truncated, %d malformed, %d frames", st, wantT, wantM, len(tests)+1)
	}
}

// TestReplayErrorsNameTheFile: every way a file can fail to be a capture
// gives an error that names it.
func TestReplayErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	pcapHdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	rawIP := append([]byte(nil), pcapHdr...)
	rawIP[20] = 101 // LINKTYPE_RAW
	badRecord := append(append([]byte(nil), pcapHdr...), make([]byte, 8)...)
	badRecord = append(badRecord, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f) // caplen 2 GiB
	tests := []struct{ name, content, want string }{
		{"empty", "", "not a pcap or pcapng file"},
		{"text", "this is not a capture file\n", "not a pcap or pcapng file"},
		{"raw IP link type", string(rawIP), "not supported"},
		{"record longer than the snap length", string(badRecord), "read packet 1"},
		{"pcapng without a section", "\x0a\x0d\x0d\x0a\x00\x00", "pcapng"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".pcap")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := ForEach(context.Background(), path, func(daemon.Observation) error { return nil })
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s and saying %q", err, path, tt.want)
			}
		})
	}
	err := ForEach(context.Background(), filepath.Join(dir, "missing.pcap"), func(daemon.Observation) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "missing.pcap") {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestForEachStopsOnConsumerError: a consumer's error ends the replay and is
// returned as is.
func TestForEachStopsOnConsumerError(t *testing.T) {
	path := filepath.Join(refDir, "iot-sentinel/HueBridge__Setup-A-1-STA.pcap")
	if _, err := os.Stat(path); err != nil {
		t.Skip("reference capture missing")
	}
	stop := errors.New("enough")
	n := 0
	err := ForEach(context.Background(), path, func(daemon.Observation) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err = %v after %d observations, want %v after 1", err, n, stop)
	}
}

// TestReplayBoundsSnapLength: a pcap header claiming a 4 GiB snap length does
// not make Replay allocate it; the packets are still read, and a record
// longer than libpcap's 262144-byte ceiling is an error naming the file.
func TestReplayBoundsSnapLength(t *testing.T) {
	frame := iosDiscover(t, 0)
	rec := func(caplen uint32) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint32(b[8:], caplen)
		binary.LittleEndian.PutUint32(b[12:], caplen)
		return b
	}
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}
	good := append(append(append([]byte(nil), hdr...), rec(uint32(len(frame)))...), frame...)
	dir := t.TempDir()
	path := filepath.Join(dir, "huge-snaplen.pcap")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	var obs int
	var ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	if err := ForEach(context.Background(), path, func(daemon.Observation) error { obs++; return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms2)
	if d := ms2.TotalAlloc - ms1.TotalAlloc; d > 16<<20 {
		t.Errorf("replaying a 1-packet file allocated %d bytes", d)
	}
	if obs == 0 {
		t.Error("the DHCP packet was not decoded")
	}
	bad := append(append([]byte(nil), hdr...), rec(maxSnaplen+1)...)
	path = filepath.Join(dir, "huge-record.pcap")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ForEach(context.Background(), path, func(daemon.Observation) error { return nil }); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want an error naming %s", err, path)
	}
}
