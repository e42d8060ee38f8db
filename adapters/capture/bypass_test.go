package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Frames for the bypass detector, built with gopacket's serialiser. The device
// is testMAC at 10.30.0.23 (IPv6 2001:db8:30::23) on VLAN 30, the pupil Wi-Fi.

var (
	devIP4  = net.IPv4(10, 30, 0, 23).To4()
	devIP6  = net.ParseIP("2001:db8:30::23")
	schoolR = netip.MustParseAddr("10.30.0.1") // the school's resolver (the filter)
)

type l4 struct {
	tcp     *layers.TCP
	udp     *layers.UDP
	payload []byte
}

// ipFrame builds an 802.1Q-tagged frame from the device to dst with the given
// TTL / hop limit.
func ipFrame(t testing.TB, dst string, ttl uint8, x l4) []byte {
	t.Helper()
	ip := net.ParseIP(dst)
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: serverMAC, EthernetType: layers.EthernetTypeDot1Q}
	tag := &layers.Dot1Q{VLANIdentifier: 30}
	var netl gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	proto := layers.IPProtocolUDP
	if x.tcp != nil {
		proto = layers.IPProtocolTCP
	}
	if ip4 := ip.To4(); ip4 != nil {
		tag.Type = layers.EthernetTypeIPv4
		v4 := &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto, SrcIP: devIP4, DstIP: ip4}
		netl, ls = v4, []gopacket.SerializableLayer{eth, tag, v4}
	} else {
		tag.Type = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: devIP6, DstIP: ip}
		netl, ls = v6, []gopacket.SerializableLayer{eth, tag, v6}
	}
	if x.tcp != nil {
		_ = x.tcp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, x.tcp)
	} else {
		_ = x.udp.SetNetworkLayerForChecksum(netl)
		ls = append(ls, x.udp)
	}
	if x.payload != nil {
		ls = append(ls, gopacket.Payload(x.payload))
	}
	return serialize(t, ls...)
}

func syn(t testing.TB, dst string, port layers.TCPPort, ttl uint8) []byte {
	return ipFrame(t, dst, ttl, l4{tcp: &layers.TCP{SrcPort: 50123, DstPort: port, SYN: true, Window: 65535}})
}

func udpTo(t testing.TB, dst string, port layers.UDPPort, payload []byte) []byte {
	return ipFrame(t, dst, 64, l4{udp: &layers.UDP{SrcPort: 50124, DstPort: port}, payload: payload})
}

func dnsTo(t testing.TB, dst, name string, ttl uint8) []byte {
	q := &layers.DNS{ID: 9, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	buf := gopacket.NewSerializeBuffer()
	if err := q.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return ipFrame(t, dst, ttl, l4{udp: &layers.UDP{SrcPort: 50125, DstPort: 53}, payload: buf.Bytes()})
}

// wgInit is a WireGuard handshake initiation: type 1, three reserved zero
// bytes, then sender index, ephemeral key, encrypted static and timestamp,
// mac1, mac2 (148 bytes).
func wgInit(n int) []byte {
	b := make([]byte, n)
	b[0] = 1
	for i := 4; i < n; i++ {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// quic returns a QUIC packet whose first byte is first (0xc3: a v1 Initial).
func quic(first byte) []byte {
	b := make([]byte, 1200)
	b[0] = first
	binary.BigEndian.PutUint32(b[1:5], 1) // version 1
	return b
}

// openVPNReset is a P_CONTROL_HARD_RESET_CLIENT_V2 (opcode 7, key 0), session
// ID and packet-ID array, as an OpenVPN client's first UDP datagram.
func openVPNResetMsg(opcode byte) []byte {
	b := []byte{opcode << 3, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0}
	return b
}

// ike is an IKE header (28 bytes) and a little payload: initiator SPI, the
// responder SPI, next payload SA (33), version, exchange type, flags
// (initiator), message ID 0.
func ike(respSPI uint64, version, exchange byte) []byte {
	b := make([]byte, 28+40)
	binary.BigEndian.PutUint64(b[0:8], 0x1122334455667788)
	binary.BigEndian.PutUint64(b[8:16], respSPI)
	b[16], b[17], b[18], b[19] = 33, version, exchange, 0x08
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b
}

func natt(p []byte) []byte { return append([]byte{0, 0, 0, 0}, p...) }

// bypassOf decodes frames in order with one decoder and returns the Bypass
// labels, checking every bypass observation names the device.
func bypassOf(t *testing.T, d *Decoder, frames [][]byte, times []time.Time) (labels []string, all []daemon.Observation) {
	t.Helper()
	for i, f := range frames {
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		if times != nil {
			at = times[i]
		}
		if err := d.Decode(f, at, "eth1", func(o daemon.Observation) {
			all = append(all, o)
			if o.Kind != daemon.ObsBypass {
				return
			}
			if o.MAC != testMAC.String() || o.VLAN != 30 || !o.IP.IsValid() || o.Bypass == "" || o.Interface != "eth1" {
				t.Errorf("frame %d: bypass observation without the device: %+v", i, o)
			}
			labels = append(labels, o.Bypass)
		}); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	return labels, all
}

// TestBypassDetections: what a DSL is told for each way round the filter, and
// what stays quiet (ordinary HTTPS, the school's own resolver, bulk QUIC,
// Wi-Fi calling, allowed destinations).
func TestBypassDetections(t *testing.T) {
	school := DecoderOptions{SchoolResolvers: []netip.Addr{schoolR}}
	allowed := DecoderOptions{SchoolResolvers: []netip.Addr{schoolR},
		Allowed: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	tests := []struct {
		name   string
		opts   DecoderOptions
		frames func(t *testing.T) [][]byte
		want   []string
	}{
		{"dns to another resolver", school, func(t *testing.T) [][]byte { return [][]byte{dnsTo(t, "8.8.8.8", "tiktok.com", 64)} },
			[]string{"dns-other-resolver 8.8.8.8"}},
		{"dns to another resolver over IPv6", school, func(t *testing.T) [][]byte {
			return [][]byte{dnsTo(t, "2606:4700:4700::1111", "tiktok.com", 64)}
		}, []string{"dns-other-resolver 2606:4700:4700::1111"}},
		{"dns to the school resolver", school, func(t *testing.T) [][]byte { return [][]byte{dnsTo(t, "10.30.0.1", "tiktok.com", 64)} }, nil},
		{"dns to a home router address (not routed out)", school, func(t *testing.T) [][]byte {
			return [][]byte{dnsTo(t, "192.168.1.1", "tiktok.com", 64)}
		}, nil},
		{"dns destinations not judged without a resolver list", DecoderOptions{}, func(t *testing.T) [][]byte {
			return [][]byte{dnsTo(t, "8.8.8.8", "tiktok.com", 64)}
		}, nil},
		{"DoT to a public resolver", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "1.1.1.1", 853, 64)} }, []string{"dot 1.1.1.1:853"}},
		{"DoT to any server", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "203.0.113.53", 853, 64)} }, []string{"dot 203.0.113.53:853"}},
		{"DoT established segment is not a new attempt", school, func(t *testing.T) [][]byte {
			return [][]byte{ipFrame(t, "1.1.1.1", 64, l4{tcp: &layers.TCP{SrcPort: 50123, DstPort: 853, ACK: true, PSH: true}, payload: []byte("x")})}
		}, nil},
		{"DoH to Google", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "8.8.8.8", 443, 64)} }, []string{"doh 8.8.8.8:443"}},
		{"DoH to Cloudflare over IPv6", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "2606:4700:4700::1111", 443, 64)} },
			[]string{"doh [2606:4700:4700::1111]:443"}},
		{"DoH to a NextDNS anycast address", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "45.90.28.77", 443, 64)} },
			[]string{"doh 45.90.28.77:443"}},
		{"DoH over QUIC (HTTP/3) handshake", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "1.1.1.1", 443, quic(0xc3))} },
			[]string{"doh 1.1.1.1:443"}},
		{"QUIC short header to a resolver (mid-connection) is not re-judged", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "1.1.1.1", 443, quic(0x43))}
		}, nil},
		{"ordinary HTTPS", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "93.184.216.34", 443, 64)} }, nil},
		{"ordinary HTTP/3", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "142.250.1.14", 443, quic(0xc3))} }, nil},
		{"DNS over QUIC", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "94.140.14.14", 853, quic(0xc0))} },
			[]string{"doq 94.140.14.14:853"}},
		{"WireGuard handshake initiation", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.9", 51820, wgInit(148))} },
			[]string{"vpn wireguard 203.0.113.9:51820"}},
		{"WireGuard on another port", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.9", 4443, wgInit(148))} },
			[]string{"vpn wireguard 203.0.113.9:4443"}},
		{"WireGuard over IPv6", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "2a01:4f8::9", 51820, wgInit(148))} },
			[]string{"vpn wireguard [2a01:4f8::9]:51820"}},
		{"148 bytes that are not WireGuard", school, func(t *testing.T) [][]byte {
			b := wgInit(148)
			b[0] = 4
			return [][]byte{udpTo(t, "203.0.113.9", 51820, b)}
		}, nil},
		{"WireGuard-like but 149 bytes", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.9", 51820, wgInit(149))} }, nil},
		{"OpenVPN UDP client hard reset", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "203.0.113.10", 1194, openVPNResetMsg(7))}
		}, []string{"vpn openvpn 203.0.113.10:1194"}},
		{"OpenVPN UDP data packet", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.10", 1194, openVPNResetMsg(9))} }, nil},
		{"OpenVPN TCP client hard reset", school, func(t *testing.T) [][]byte {
			m := openVPNResetMsg(7)
			return [][]byte{ipFrame(t, "203.0.113.10", 64, l4{tcp: &layers.TCP{SrcPort: 50123, DstPort: 1194, ACK: true, PSH: true},
				payload: append([]byte{0, byte(len(m))}, m...)})}
		}, []string{"vpn openvpn 203.0.113.10:1194"}},
		{"IKEv2 IKE_SA_INIT", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.11", 500, ike(0, 0x20, 34))} },
			[]string{"vpn ipsec 203.0.113.11:500"}},
		{"IKEv1 main mode", school, func(t *testing.T) [][]byte { return [][]byte{udpTo(t, "203.0.113.11", 500, ike(0, 0x10, 2))} },
			[]string{"vpn ipsec 203.0.113.11:500"}},
		{"IKE reply direction (responder SPI set) on 500", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "203.0.113.11", 500, ike(0x99, 0x20, 34))}
		}, nil},
		{"IKE_AUTH over NAT-T", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "203.0.113.11", 4500, natt(ike(0x99, 0x20, 35)))}
		},
			[]string{"vpn ipsec 203.0.113.11:4500"}},
		{"ESP in UDP (tunnel data)", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "203.0.113.11", 4500, append([]byte{0, 0, 0x10, 0x01}, make([]byte, 60)...))}
		}, nil},
		{"NAT-T dead-peer detection is not a new tunnel", school, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "203.0.113.11", 4500, natt(ike(0x99, 0x20, 37)))}
		}, nil},
		{"Wi-Fi calling: IKE after an ePDG lookup", school, func(t *testing.T) [][]byte {
			return [][]byte{dnsTo(t, "10.30.0.1", "epdg.epc.mnc030.mcc234.pub.3gppnetwork.org", 64),
				udpTo(t, "203.0.113.11", 500, ike(0, 0x20, 34)), udpTo(t, "203.0.113.11", 4500, natt(ike(0x99, 0x20, 35)))}
		}, nil},
		{"PPTP", school, func(t *testing.T) [][]byte { return [][]byte{syn(t, "203.0.113.12", 1723, 64)} }, []string{"vpn pptp 203.0.113.12:1723"}},
		{"iCloud Private Relay lookup", school, func(t *testing.T) [][]byte {
			return [][]byte{dnsTo(t, "10.30.0.1", "mask.icloud.com", 64)}
		}, []string{"relay icloud-private-relay"}},
		{"allowed destination (the trust's VPN)", allowed, func(t *testing.T) [][]byte {
			return [][]byte{udpTo(t, "198.51.100.7", 51820, wgInit(148)), syn(t, "198.51.100.7", 1723, 64)}
		}, nil},
		{"the school's resolver is not DoH even when public", DecoderOptions{SchoolResolvers: []netip.Addr{netip.MustParseAddr("208.67.222.123")}},
			func(t *testing.T) [][]byte {
				return [][]byte{syn(t, "208.67.222.123", 443, 64), dnsTo(t, "208.67.222.123", "bbc.co.uk", 64)}
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := bypassOf(t, NewDecoderWith(tt.opts), tt.frames(t), nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("bypass %q, want %q", got, tt.want)
			}
			if off, _ := bypassOf(t, NewDecoder(), tt.frames(t), nil); len(off) != 0 {
				t.Errorf("NewDecoder (bypass off) reported %q", off)
			}
		})
	}
}

// TestBypassKeepsDNSObservation: a query to another resolver is still an
// ObsDNS (classification keeps working) as well as a bypass.
func TestBypassKeepsDNSObservation(t *testing.T) {
	_, all := bypassOf(t, NewDecoderWith(DecoderOptions{SchoolResolvers: []netip.Addr{schoolR}}), [][]byte{dnsTo(t, "8.8.8.8", "tiktok.com", 64)}, nil)
	if len(all) != 2 || all[0].Kind != daemon.ObsDNS || all[0].DNSName != "tiktok.com" || all[1].Kind != daemon.ObsBypass {
		t.Fatalf("observations %+v, want the DNS query then the bypass", all)
	}
	if all[1].IP != netip.AddrFrom4([4]byte(devIP4)) {
		t.Errorf("bypass IP %v, want the device's", all[1].IP)
	}
}

// TestBypassTethering: a device that sends both at its own stack's TTL and one
// below it forwards for others; one that only ever shows 63 is behind a router.
func TestBypassTethering(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		ttls  []uint8
		gaps  []time.Duration // before each frame
		want  []string
		dhcp0 bool // the first TTL comes from a DHCP request, not a SYN
	}{
		{"phone sharing its Wi-Fi", []uint8{64, 63}, []time.Duration{0, time.Minute}, []string{"tethering ttl 63"}, false},
		{"Windows laptop hotspot", []uint8{128, 127}, []time.Duration{0, time.Minute}, []string{"tethering ttl 127"}, false},
		{"Windows hotspot sharing to a phone", []uint8{128, 63}, []time.Duration{0, time.Minute}, []string{"tethering ttl 63"}, false},
		{"own TTL seen in its DHCP request", []uint8{64, 63}, []time.Duration{0, time.Minute}, []string{"tethering ttl 63"}, true},
		{"behind a routed hop: only 63 ever", []uint8{63, 63, 63}, []time.Duration{0, time.Minute, time.Minute}, nil, false},
		{"own TTL too long ago", []uint8{64, 63}, []time.Duration{0, 11 * time.Minute}, nil, false},
		{"reported once per window", []uint8{64, 63, 63, 64, 63}, []time.Duration{0, time.Second, time.Second, time.Minute, 6 * time.Minute},
			[]string{"tethering ttl 63", "tethering ttl 63"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frames [][]byte
			var times []time.Time
			at := t0
			for i, ttl := range tt.ttls {
				at = at.Add(tt.gaps[i])
				f := syn(t, "93.184.216.34", 443, ttl)
				if i == 0 && tt.dhcp0 {
					f = iosDiscover(t, 30)
				}
				frames, times = append(frames, f), append(times, at)
			}
			got, _ := bypassOf(t, NewDecoderWith(DecoderOptions{}), frames, times)
			if !slices.Equal(got, tt.want) {
				t.Errorf("bypass %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBypassOncePerWindow: a device's repeated DoH connections make one
// report per destination per window; other destinations and devices count
// on their own; the bounded cache may forget (a report again), never grow.
func TestBypassOncePerWindow(t *testing.T) {
	d := NewDecoderWith(DecoderOptions{Window: 5 * time.Minute})
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	g, c := syn(t, "8.8.8.8", 443, 64), syn(t, "1.1.1.1", 443, 64)
	frames := [][]byte{g, g, c, g, g}
	times := []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(4 * time.Minute), t0.Add(10 * time.Minute)}
	got, _ := bypassOf(t, d, frames, times)
	want := []string{"doh 8.8.8.8:443", "doh 1.1.1.1:443", "doh 8.8.8.8:443"}
	if !slices.Equal(got, want) {
		t.Errorf("bypass %q, want %q", got, want)
	}
	// another device, same destination: reported
	other := slices.Clone(g)
	copy(other[6:12], []byte{0x3c, 0x22, 0xfb, 9, 9, 9})
	n := 0
	_ = d.Decode(other, t0.Add(10*time.Minute+time.Second), "eth1", func(o daemon.Observation) {
		if o.Kind == daemon.ObsBypass && o.MAC == "3c:22:fb:09:09:09" {
			n++
		}
	})
	if n != 1 {
		t.Errorf("second device: %d reports, want 1", n)
	}
}

// TestBypassIgnoresOutgoingAndBroadcastSources: frames the gateway itself
// sends, and frames with a multicast or zero source MAC, are never judged.
func TestBypassIgnoresOutgoingAndBroadcastSources(t *testing.T) {
	d := NewDecoderWith(DecoderOptions{})
	d.outgoing = true
	if got, _ := bypassOf(t, d, [][]byte{syn(t, "8.8.8.8", 443, 64)}, nil); len(got) != 0 {
		t.Errorf("outgoing frame reported: %q", got)
	}
	d.outgoing = false
	f := syn(t, "8.8.8.8", 443, 64)
	copy(f[6:12], make([]byte, 6))
	if err := d.Decode(f, time.Time{}, "eth1", func(o daemon.Observation) { t.Errorf("zero source MAC reported: %+v", o) }); err != nil {
		t.Fatal(err)
	}
}

// TestBypassNoAllocs: with detection on, frames that are not findings, and
// findings already reported, allocate nothing (the capture hot path).
func TestBypassNoAllocs(t *testing.T) {
	d := NewDecoderWith(DecoderOptions{SchoolResolvers: []netip.Addr{schoolR}})
	emit := func(daemon.Observation) {}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	frames := map[string][]byte{
		"https syn":                    syn(t, "93.184.216.34", 443, 64),
		"tcp ack":                      tcpFrame(t),
		"quic short header":            udpTo(t, "142.250.1.14", 443, quic(0x43)),
		"quic initial":                 udpTo(t, "142.250.1.14", 443, quic(0xc3)),
		"doh, reported":                syn(t, "8.8.8.8", 443, 64),
		"wireguard, reported":          udpTo(t, "203.0.113.9", 51820, wgInit(148)),
		"dns other resolver, reported": dnsTo(t, "8.8.8.8", "example.com", 64),
		"other udp":                    udpTo(t, "203.0.113.9", 40000, []byte("hello")),
	}
	for name, f := range frames {
		_ = d.Decode(f, at, "eth1", emit) // first report (allocates the label), caches warm
		if a := testing.AllocsPerRun(20, func() { _ = d.Decode(f, at, "eth1", emit) }); a != 0 {
			t.Errorf("%s: %.1f allocs per frame, want 0", name, a)
		}
	}
}

// TestPublicResolvers: the embedded list holds the resolvers docs/bypass.md
// names, and nothing a school would normally reach for ordinary browsing.
func TestPublicResolvers(t *testing.T) {
	for _, a := range []string{"8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "1.1.1.1", "1.0.0.1", "2606:4700:4700::1111",
		"9.9.9.9", "149.112.112.112", "208.67.222.222", "208.67.220.220", "94.140.14.14", "45.90.28.1", "45.90.30.250",
		"185.228.168.168", "76.76.2.0", "194.242.2.2"} {
		ip := netip.MustParseAddr(a)
		if !publicSet.has(ip.AsSlice()) {
			t.Errorf("%s is not in PublicResolvers", a)
		}
	}
	for _, a := range []string{"8.8.8.9", "1.1.1.4", "142.250.1.14", "93.184.216.34", "10.30.0.1", "2606:4700::6810:84e5", "45.90.29.1"} {
		if publicSet.has(netip.MustParseAddr(a).AsSlice()) {
			t.Errorf("%s is in PublicResolvers", a)
		}
	}
	for i := 1; i < len(publicSet.v4); i++ {
		if publicSet.v4[i].lo <= publicSet.v4[i-1].hi {
			t.Fatalf("IPv4 ranges overlap: %v %v", publicSet.v4[i-1], publicSet.v4[i])
		}
	}
}

// TestBypassFilter runs BypassFilter in x/net/bpf's VM: every frame the
// detector reports passes, with everything Filter passes; bulk TCP and QUIC
// stay in the kernel. Filter (detection off) passes none of the bypass frames.
func TestBypassFilter(t *testing.T) {
	wide, narrow := filterVM(t, BypassFilter), filterVM(t, Filter)
	untag := func(f []byte) []byte { return retag(f) } // as seen with VLAN offload: the tag removed
	m := openVPNResetMsg(7)
	tests := []struct {
		name   string
		frame  []byte
		bypass bool // a bypass frame: the wide filter passes it, the narrow one does not
		accept bool // for frames that are not bypass frames
	}{
		{"DoT syn", syn(t, "1.1.1.1", 853, 64), true, false},
		{"DoH syn", syn(t, "8.8.8.8", 443, 64), true, false},
		{"any syn (ports are judged in user space)", syn(t, "93.184.216.34", 443, 64), true, false},
		{"DoH syn IPv6", syn(t, "2606:4700:4700::1111", 443, 64), true, false},
		{"QUIC initial", udpTo(t, "1.1.1.1", 443, quic(0xc3)), true, false},
		{"QUIC initial IPv6", udpTo(t, "2606:4700:4700::1111", 443, quic(0xc3)), true, false},
		{"DoQ initial", udpTo(t, "94.140.14.14", 853, quic(0xc0)), true, false},
		{"WireGuard", udpTo(t, "203.0.113.9", 51820, wgInit(148)), true, false},
		{"WireGuard IPv6", udpTo(t, "2a01:4f8::9", 51820, wgInit(148)), true, false},
		{"OpenVPN UDP", udpTo(t, "203.0.113.10", 1194, m), true, false},
		{"OpenVPN TCP", ipFrame(t, "203.0.113.10", 64, l4{tcp: &layers.TCP{SrcPort: 50123, DstPort: 1194, ACK: true, PSH: true}, payload: append([]byte{0, byte(len(m))}, m...)}), true, false},
		{"IKE", udpTo(t, "203.0.113.11", 500, ike(0, 0x20, 34)), true, false},
		{"IKE NAT-T", udpTo(t, "203.0.113.11", 4500, natt(ike(0x99, 0x20, 35))), true, false},
		{"dns query", dnsTo(t, "8.8.8.8", "example.com", 64), false, true},
		{"dhcp discover", iosDiscover(t, 0), false, true},
		{"arp", arpFrame(t, net.IPv4(10, 0, 0, 9)), false, true},
		{"tcp established", tcpFrame(t), false, false},
		{"QUIC short header (bulk)", udpTo(t, "142.250.1.14", 443, quic(0x43)), false, false},
		{"other udp", udpTo(t, "203.0.113.9", 40000, []byte("hello")), false, false},
		{"WireGuard data (not 148 bytes)", udpTo(t, "203.0.113.9", 51820, append([]byte{4, 0, 0, 0}, make([]byte, 200)...)), false, false},
	}
	for _, tt := range tests {
		f := untag(tt.frame)
		// untagged (VLAN offload), still tagged, QinQ; three tags are dropped
		for _, v := range tagVariants {
			tf := retag(f, v.tpids...)
			nw, err := wide.Run(tf)
			if err != nil {
				t.Fatalf("%s, %s: %v", tt.name, v.name, err)
			}
			nn, _ := narrow.Run(tf)
			wantWide, wantNarrow := (tt.accept || tt.bypass) && !v.deep, tt.accept && !v.deep
			if (nw > 0) != wantWide || (nn > 0) != wantNarrow {
				t.Errorf("%s, %s: BypassFilter accepts %v (want %v), Filter accepts %v (want %v)", tt.name, v.name, nw > 0, wantWide, nn > 0, wantNarrow)
			}
		}
		// and the untagged frame still decodes to the same finding
		if tt.bypass && tt.name != "any syn (ports are judged in user space)" {
			d := NewDecoderWith(DecoderOptions{})
			n := 0
			_ = d.DecodeTagged(f, time.Unix(1, 0), "eth1", 30, func(o daemon.Observation) {
				if o.Kind == daemon.ObsBypass && o.VLAN == 30 {
					n++
				}
			})
			if n != 1 {
				t.Errorf("%s: untagged frame gave %d bypass observations, want 1", tt.name, n)
			}
		}
	}
}

// FuzzDecodeBypass: the decoder with bypass detection on never panics, and
// every bypass observation names a device and what was seen.
func FuzzDecodeBypass(f *testing.F) {
	m := openVPNResetMsg(7)
	for _, fr := range [][]byte{
		syn(f, "1.1.1.1", 853, 64), syn(f, "8.8.8.8", 443, 63), syn(f, "2606:4700:4700::1111", 443, 64),
		udpTo(f, "1.1.1.1", 443, quic(0xc3)), udpTo(f, "203.0.113.9", 51820, wgInit(148)),
		udpTo(f, "203.0.113.10", 1194, m), udpTo(f, "203.0.113.11", 500, ike(0, 0x20, 34)),
		udpTo(f, "203.0.113.11", 4500, natt(ike(0x99, 0x20, 35))), dnsTo(f, "8.8.8.8", "mask.icloud.com", 64),
		ipFrame(f, "203.0.113.10", 64, l4{tcp: &layers.TCP{SrcPort: 50123, DstPort: 1194, ACK: true}, payload: append([]byte{0, byte(len(m))}, m...)}),
		iosDiscover(f, 30), tcpFrame(f),
	} {
		f.Add(fr, int64(0))
	}
	d := NewDecoderWith(DecoderOptions{SchoolResolvers: []netip.Addr{schoolR}})
	f.Fuzz(func(t *testing.T, data []byte, sec int64) {
		_ = d.Decode(data, time.Unix(sec, 0), "fuzz", func(o daemon.Observation) {
			if o.Kind == 0 || (o.Kind != daemon.ObsARP && o.MAC == "") {
				t.Fatalf("observation without kind or MAC: %+v", o)
			}
			if o.Kind == daemon.ObsBypass {
				word, _, _ := strings.Cut(o.Bypass, " ")
				switch word {
				case "dns-other-resolver", "dot", "doq", "doh", "vpn", "tethering", "relay":
				default:
					t.Fatalf("bypass %q: unknown kind", o.Bypass)
				}
			}
		})
	})
}
