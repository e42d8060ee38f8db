// Package synth generates a deterministic, realistic mix of Ethernet frames
// as a school gateway sees them (mostly TCP and QUIC, some DNS, a little ARP,
// mDNS, DHCP, DHCPv6 and neighbour discovery), all 802.1Q tagged, from a few
// thousand devices. The capture benchmarks, the 1,000,000-packet pcap of
// deploy/bench/classify-vs-tcpdump.sh and the live-capture lab benchmark use
// it. Frames are built with gopacket's serialiser (and miekg/dns for mDNS),
// independently of the decoder they exercise.
package synth

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"
)

// Kind is what a generated frame is.
type Kind uint8

// Frame kinds, in the order of Weights.
const (
	TCP       Kind = iota // HTTPS and other TCP: never an observation
	QUIC                  // UDP 443: never an observation
	DNSQuery              // a device's DNS query: one observation
	DNSReply              // the resolver's answer: none
	ARP                   // ARP request: one observation
	MDNSQuery             // mDNS query with a known answer: none
	MDNSReply             // mDNS announcement of the device's own name: one observation
	DHCP                  // DHCPv4 REQUEST: one observation
	ND                    // ICMPv6 neighbour solicitation: one observation
	DHCPv6                // DHCPv6 Solicit: one observation
	NumKinds
)

var kindNames = [NumKinds]string{"tcp", "quic", "dns-query", "dns-reply", "arp", "mdns-query", "mdns-reply", "dhcp", "nd", "dhcpv6"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Observes reports whether the decoder should turn a frame of this kind into
// an observation.
func (k Kind) Observes() bool {
	switch k {
	case DNSQuery, ARP, MDNSReply, DHCP, ND, DHCPv6:
		return true
	}
	return false
}

// Weights are the per-mille proportions of each kind in Mixed: on a school
// gateway most frames are bulk TCP/QUIC; DNS is a few percent; ARP, mDNS and
// DHCP are background chatter.
var Weights = [NumKinds]int{TCP: 700, QUIC: 120, DNSQuery: 60, DNSReply: 60, ARP: 30, MDNSQuery: 10, MDNSReply: 5, DHCP: 8, ND: 5, DHCPv6: 2}

var dnsNames = []string{
	"captive.apple.com", "gsp64-ssl.ls.apple.com", "connectivitycheck.gstatic.com", "www.google.com",
	"clients4.google.com", "www.msftconnecttest.com", "login.microsoftonline.com", "graph.instagram.com",
	"api.snapchat.com", "tiktokv.com", "www.bbc.co.uk", "classroom.google.com", "outlook.office365.com",
	"mesu.apple.com", "play.googleapis.com", "time.android.com", "i.scdn.co", "www.youtube.com",
	"device-provisioning.googleapis.com", "firebaselogging-pa.googleapis.com",
}

// Generator produces frames; it is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	devices int
	cum     [NumKinds]int
	buf     gopacket.SerializeBuffer
	opts    gopacket.SerializeOptions
}

// New returns a Generator for devices distinct devices (MACs), seeded so that
// the same seed gives the same stream.
func New(seed uint64, devices int) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), devices: max(devices, 1),
		buf: gopacket.NewSerializeBuffer(), opts: gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}}
	sum := 0
	for k, w := range Weights {
		sum += w
		g.cum[k] = sum
	}
	return g
}

// Next returns the next frame of the mix (a fresh slice) and its kind.
func (g *Generator) Next() ([]byte, Kind, error) {
	r := g.rng.IntN(g.cum[NumKinds-1])
	k := Kind(0)
	for r >= g.cum[k] {
		k++
	}
	b, err := g.Frame(k, g.rng.IntN(g.devices))
	return b, k, err
}

// Frame builds one frame of kind k for device number dev.
func (g *Generator) Frame(k Kind, dev int) ([]byte, error) {
	mac := DeviceMAC(dev)
	ip := DeviceIP(dev)
	vlan := uint16(10 + dev%30)
	eth := &layers.Ethernet{SrcMAC: mac, DstMAC: gatewayMAC, EthernetType: layers.EthernetTypeDot1Q}
	tag := &layers.Dot1Q{VLANIdentifier: vlan}
	var ls []gopacket.SerializableLayer
	switch k {
	case TCP:
		tag.Type = layers.EthernetTypeIPv4
		ip4 := ipv4(ip, net.IPv4(93, 184, byte(dev), byte(g.rng.IntN(256))), layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(40000 + g.rng.IntN(20000)), DstPort: 443, ACK: true, PSH: true, Seq: g.rng.Uint32(), Window: 2048}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		ls = []gopacket.SerializableLayer{eth, tag, ip4, tcp, gopacket.Payload(g.payload(40 + g.rng.IntN(1400)))}
	case QUIC:
		tag.Type = layers.EthernetTypeIPv4
		ip4 := ipv4(ip, net.IPv4(142, 250, byte(dev), 14), layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + g.rng.IntN(20000)), DstPort: 443}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ls = []gopacket.SerializableLayer{eth, tag, ip4, udp, gopacket.Payload(g.payload(60 + g.rng.IntN(1200)))}
	case DNSQuery, DNSReply:
		tag.Type = layers.EthernetTypeIPv4
		name := dnsNames[g.rng.IntN(len(dnsNames))]
		q := &layers.DNS{ID: uint16(g.rng.Uint32()), RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
		ip4 := ipv4(ip, resolverIP, layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + g.rng.IntN(20000)), DstPort: 53}
		if k == DNSReply {
			eth.SrcMAC, eth.DstMAC = gatewayMAC, mac
			ip4.SrcIP, ip4.DstIP = resolverIP, ip
			udp.SrcPort, udp.DstPort = 53, udp.SrcPort
			q.QR, q.RA, q.ANCount = true, true, 1
			q.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IPv4(142, 250, 1, byte(dev)).To4()}}
		}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ls = []gopacket.SerializableLayer{eth, tag, ip4, udp, q}
	case ARP:
		tag.Type = layers.EthernetTypeARP
		eth.DstMAC = layers.EthernetBroadcast
		ls = []gopacket.SerializableLayer{eth, tag, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: ip,
			DstHwAddress: make([]byte, 6), DstProtAddress: net.IPv4(10, 20, 0, 1).To4()}}
	case MDNSQuery, MDNSReply:
		tag.Type = layers.EthernetTypeIPv4
		eth.DstMAC = net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
		msg, err := mdns(k == MDNSReply, dev, ip)
		if err != nil {
			return nil, err
		}
		ip4 := ipv4(ip, net.IPv4(224, 0, 0, 251), layers.IPProtocolUDP)
		ip4.TTL = 255
		udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ls = []gopacket.SerializableLayer{eth, tag, ip4, udp, gopacket.Payload(msg)}
	case DHCP:
		tag.Type = layers.EthernetTypeIPv4
		eth.DstMAC = layers.EthernetBroadcast
		ip4 := ipv4(net.IPv4zero, net.IPv4bcast, layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 68, DstPort: 67}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ls = []gopacket.SerializableLayer{eth, tag, ip4, udp, &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet,
			HardwareLen: 6, Xid: g.rng.Uint32(), ClientHWAddr: mac, Options: []layers.DHCPOption{
				layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeRequest)}),
				layers.NewDHCPOption(layers.DHCPOptParamsRequest, []byte{1, 121, 3, 6, 15, 108, 114, 119, 252}),
				layers.NewDHCPOption(layers.DHCPOptMaxMessageSize, []byte{0x05, 0xdc}),
				layers.NewDHCPOption(layers.DHCPOptClientID, append([]byte{1}, mac...)),
				layers.NewDHCPOption(layers.DHCPOptRequestIP, ip),
				layers.NewDHCPOption(layers.DHCPOptHostname, []byte(fmt.Sprintf("device-%d", dev))),
			}}}
	case ND, DHCPv6:
		tag.Type = layers.EthernetTypeIPv6
		ll := LinkLocal(mac)
		if k == ND {
			eth.DstMAC = net.HardwareAddr{0x33, 0x33, 0xff, mac[3], mac[4], mac[5]}
			ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: ll, DstIP: net.ParseIP("ff02::1:ff00:1")}
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
			_ = icmp.SetNetworkLayerForChecksum(ip6)
			ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::1"),
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: mac}}}
			ls = []gopacket.SerializableLayer{eth, tag, ip6, icmp, ns}
			break
		}
		eth.DstMAC = net.HardwareAddr{0x33, 0x33, 0x00, 0x01, 0x00, 0x02}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: ll, DstIP: net.ParseIP("ff02::1:2")}
		udp := &layers.UDP{SrcPort: 546, DstPort: 547}
		_ = udp.SetNetworkLayerForChecksum(ip6)
		ls = []gopacket.SerializableLayer{eth, tag, ip6, udp, gopacket.Payload(DHCPv6Solicit(g.rng.Uint32(), mac, fmt.Sprintf("device-%d", dev)))}
	default:
		return nil, fmt.Errorf("synth: unknown kind %d", k)
	}
	if err := gopacket.SerializeLayers(g.buf, g.opts, ls...); err != nil {
		return nil, fmt.Errorf("synth: serialise %s: %w", k, err)
	}
	return append([]byte(nil), g.buf.Bytes()...), nil
}

var (
	gatewayMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	resolverIP = net.IPv4(10, 20, 0, 1).To4()
)

func ipv4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.To4(), DstIP: dst.To4()}
}

func (g *Generator) payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

// DeviceMAC is device number dev's MAC: a few real-looking OUIs, unicast.
func DeviceMAC(dev int) net.HardwareAddr {
	ouis := [][3]byte{{0x3c, 0x22, 0xfb}, {0xf0, 0x18, 0x98}, {0xa4, 0x83, 0xe7}, {0xda, 0xa1, 0x19}, {0x00, 0x17, 0x88}}
	o := ouis[dev%len(ouis)]
	return net.HardwareAddr{o[0], o[1], o[2], byte(dev >> 16), byte(dev >> 8), byte(dev)}
}

// DeviceIP is device number dev's IPv4 address in 10.20.0.0/16.
func DeviceIP(dev int) net.IP {
	return net.IPv4(10, 20, byte(1+dev/250), byte(2+dev%250)).To4()
}

// LinkLocal is the EUI-64 link-local IPv6 address of mac.
func LinkLocal(mac net.HardwareAddr) net.IP {
	ip := make(net.IP, 16)
	ip[0], ip[1] = 0xfe, 0x80
	copy(ip[8:], []byte{mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]})
	return ip
}

// MDNSName is the host name device number dev announces over mDNS.
func MDNSName(dev int) string { return fmt.Sprintf("Pupil-iPad-%d", dev) }

// mdns builds an mDNS announcement of the device's own A record (reply) or a
// query for AirPlay services carrying a known answer about another device.
func mdns(reply bool, dev int, ip net.IP) ([]byte, error) {
	m := new(dns.Msg)
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET | 1<<15, Ttl: 120}
	}
	if reply {
		m.Response, m.Authoritative = true, true
		host := MDNSName(dev) + ".local."
		m.Answer = []dns.RR{
			&dns.PTR{Hdr: hdr("_companion-link._tcp.local.", dns.TypePTR), Ptr: MDNSName(dev) + "._companion-link._tcp.local."},
			&dns.A{Hdr: hdr(host, dns.TypeA), A: ip},
		}
	} else {
		m.Question = []dns.Question{{Name: "_airplay._tcp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
		m.Answer = []dns.RR{&dns.PTR{Hdr: hdr("_airplay._tcp.local.", dns.TypePTR), Ptr: "Hall TV._airplay._tcp.local."}}
	}
	b, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("synth: pack mDNS: %w", err)
	}
	return b, nil
}

// DHCPv6Solicit builds a Solicit with a DUID-LLT client identifier holding
// mac, an option request list, elapsed time and a Client FQDN.
func DHCPv6Solicit(xid uint32, mac net.HardwareAddr, fqdn string) []byte {
	b := []byte{1, byte(xid >> 16), byte(xid >> 8), byte(xid)}
	opt := func(code uint16, data []byte) {
		b = binary.BigEndian.AppendUint16(b, code)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		b = append(b, data...)
	}
	duid := append([]byte{0, 1, 0, 1, 0x2c, 0x1d, 0x3e, 0x4f}, mac...) // DUID-LLT, Ethernet, time
	opt(1, duid)
	opt(6, []byte{0, 23, 0, 24, 0, 39}) // ORO: DNS servers, domain list, FQDN
	opt(8, []byte{0, 0})                // elapsed time
	name := []byte{0x01}                // flags: S
	for _, l := range []string{fqdn} {
		name = append(name, byte(len(l)))
		name = append(name, l...)
	}
	opt(39, append(name, 0))
	return b
}
