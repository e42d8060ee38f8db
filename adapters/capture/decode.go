// Package capture turns Ethernet frames (live AF_PACKET sockets or pcap/pcapng
// files) into daemon.Observations: DHCPv4 client fingerprints and server leases,
// DNS queries, ARP and IPv6 neighbour discovery tying addresses to MACs.
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// Well-known UDP ports the decoder dispatches on explicitly (never through
// gopacket's port registry, so a reply to an ephemeral port is not misread).
const (
	portBOOTPServer = 67
	portBOOTPClient = 68
	portDNS         = 53
)

// DHCP message types (RFC 2132 section 9.6).
const (
	dhcpOffer = 2
	dhcpAck   = 5
	dhcpNak   = 6
)

// Decoder decodes Ethernet frames into Observations. It reuses its layer
// structs between calls: it is not safe for concurrent use; give each
// goroutine its own.
type Decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	arp     layers.ARP
	dhcp    layers.DHCPv4
	dns     layers.DNS
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// NewDecoder returns a Decoder for Ethernet frames (optionally 802.1Q tagged).
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet,
		&d.eth, &d.dot1q, &d.ip4, &d.ip6, &d.udp, &d.arp)
	// Stop quietly at the first layer we have no decoder for (TCP, ICMP, UDP
	// payloads): DHCP and DNS are dispatched below on explicit ports.
	d.parser.IgnoreUnsupported = true
	return d
}

// Decode decodes one Ethernet frame captured at time at on interface iface
// and calls emit for every Observation it yields (zero or more). A frame that
// is not of interest yields nothing and returns nil; a malformed frame of
// interest returns an error. Decode never panics; emit must not retain data.
func (d *Decoder) Decode(data []byte, at time.Time, iface string, emit func(daemon.Observation)) error {
	return d.DecodeTagged(data, at, iface, 0, emit)
}

// DecodeTagged is Decode for frames whose 802.1Q tag was removed before
// capture (Linux VLAN offload reports it beside the frame): vlan is used when
// the frame itself carries no tag.
func (d *Decoder) DecodeTagged(data []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode frame: recovered from panic: %v", r)
		}
	}()
	d.decoded = d.decoded[:0]
	if err := d.parser.DecodeLayers(data, &d.decoded); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	var haveIP4, haveIP6, haveUDP bool
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeDot1Q:
			vlan = d.dot1q.VLANIdentifier // innermost tag wins
		case layers.LayerTypeIPv4:
			haveIP4 = true
		case layers.LayerTypeIPv6:
			haveIP6 = true
		case layers.LayerTypeUDP:
			haveUDP = true
		case layers.LayerTypeARP:
			return d.arpObs(at, iface, vlan, emit)
		}
	}
	if haveUDP && (haveIP4 || haveIP6) {
		src, dst := uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
		switch {
		case haveIP4 && (dst == portBOOTPServer || dst == portBOOTPClient) && (src == portBOOTPServer || src == portBOOTPClient):
			return d.dhcpObs(at, iface, vlan, src, dst, emit)
		case dst == portDNS && src != portDNS:
			return d.dnsObs(at, iface, vlan, haveIP4, emit)
		}
		return nil
	}
	if haveIP6 && !haveUDP {
		d.ndObs(at, iface, vlan, emit)
	}
	return nil
}

// arpObs reports the sender of an ARP request or reply.
func (d *Decoder) arpObs(at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	a := &d.arp
	if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
		len(a.SourceHwAddress) != 6 || len(a.SourceProtAddress) != 4 {
		return nil
	}
	if isZero(a.SourceHwAddress) {
		return nil
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsARP, MAC: FormatMAC(a.SourceHwAddress), Interface: iface, VLAN: vlan}
	if ip := netip.AddrFrom4([4]byte(a.SourceProtAddress)); !ip.IsUnspecified() {
		o.IP = ip // an ARP probe (RFC 5227) has sender IP 0.0.0.0: MAC only
	}
	emit(o)
	return nil
}

// dnsObs reports the names in a DNS query sent by a device (QR=0, to port 53).
func (d *Decoder) dnsObs(at time.Time, iface string, vlan uint16, v4 bool, emit func(daemon.Observation)) error {
	if len(d.udp.Payload) < 12 || d.udp.Payload[2]&0x80 != 0 { // header too short, or a response
		return nil
	}
	if err := d.dns.DecodeFromBytes(d.udp.Payload, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("decode DNS query: %w", err)
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsDNS, MAC: FormatMAC(d.eth.SrcMAC), Interface: iface, VLAN: vlan}
	if v4 {
		o.IP, _ = netip.AddrFromSlice(d.ip4.SrcIP)
		o.TTL = d.ip4.TTL
	} else {
		o.IP, _ = netip.AddrFromSlice(d.ip6.SrcIP)
		o.TTL = d.ip6.HopLimit
	}
	for _, q := range d.dns.Questions {
		name := normalizeName(q.Name)
		if name == "" {
			continue
		}
		o.DNSName = name
		emit(o)
	}
	return nil
}

// ndObs ties an IPv6 source address to the MAC of a router/neighbour
// solicitation or neighbour advertisement (ICMPv6 133, 135, 136).
func (d *Decoder) ndObs(at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) {
	if d.ip6.NextHeader != layers.IPProtocolICMPv6 || len(d.ip6.Payload) < 4 {
		return
	}
	switch d.ip6.Payload[0] {
	case 133, 135, 136:
	default:
		return
	}
	ip, ok := netip.AddrFromSlice(d.ip6.SrcIP)
	if !ok || ip.IsUnspecified() || len(d.eth.SrcMAC) != 6 {
		return
	}
	emit(daemon.Observation{At: at, Kind: daemon.ObsIPv6, MAC: FormatMAC(d.eth.SrcMAC), Interface: iface, VLAN: vlan, IP: ip, TTL: d.ip6.HopLimit})
}

var errNoClientMAC = errors.New("DHCP message without a 6-byte client hardware address")

// dhcpObs reports a DHCPv4 client message (fingerprint) or server reply (lease).
// Client messages go to port 67 from 68 (or from 67 via a relay); replies come
// from 67 to 68 (or to 67 via a relay).
func (d *Decoder) dhcpObs(at time.Time, iface string, vlan uint16, src, dst uint16, emit func(daemon.Observation)) error {
	payload := d.udp.Payload
	if len(payload) < 240 {
		return fmt.Errorf("decode DHCPv4: %d bytes, want at least 240", len(payload))
	}
	op := payload[0]
	client := op == 1 && dst == portBOOTPServer
	server := op == 2 && src == portBOOTPServer
	if !client && !server {
		return nil
	}
	if err := d.dhcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("decode DHCPv4: %w", err)
	}
	m := &d.dhcp
	relayed := !m.RelayAgentIP.IsUnspecified()
	var mac []byte
	switch {
	case m.HardwareLen == 6 && !isZero(m.ClientHWAddr):
		mac = m.ClientHWAddr
	case !relayed && len(d.eth.SrcMAC) == 6 && client:
		mac = d.eth.SrcMAC // e.g. htype 0 clients: the frame's sender is the client
	default:
		return errNoClientMAC
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsDHCP, MAC: FormatMAC(mac), Interface: iface, VLAN: vlan}
	if server {
		var mt uint8
		for _, opt := range m.Options {
			if opt.Type == layers.DHCPOptMessageType && len(opt.Data) == 1 {
				mt = opt.Data[0]
			}
		}
		switch mt {
		case dhcpAck:
			o.IP = addr4(m.YourClientIP)
		case dhcpOffer, dhcpNak:
		default:
			return nil
		}
		o.DHCP = &fingerprint.DHCP{MessageType: mt}
		emit(o)
		return nil
	}
	if !relayed {
		o.TTL = d.ip4.TTL // through a relay the TTL is the relay's, not the device's
	}
	fp := &fingerprint.DHCP{Options: make([]uint8, 0, len(m.Options))}
	for _, opt := range m.Options {
		if opt.Type == layers.DHCPOptPad {
			continue
		}
		fp.Options = append(fp.Options, uint8(opt.Type))
		data := opt.Data
		switch opt.Type {
		case layers.DHCPOptMessageType:
			if len(data) == 1 {
				fp.MessageType = data[0]
			}
		case layers.DHCPOptParamsRequest:
			fp.ParamList = append([]uint8(nil), data...)
			for _, p := range data {
				if p == 108 { // RFC 8925 IPv6-Only Preferred
					fp.IPv6OnlyPreferred = true
				}
			}
		case layers.DHCPOptClassID:
			fp.VendorClass = cleanString(data)
		case layers.DHCPOptHostname:
			fp.Hostname = cleanString(data)
		case 81: // RFC 4702 client FQDN: flags, rcode1, rcode2, name
			if len(data) > 3 {
				if data[0]&0x04 != 0 {
					fp.FQDN = wireName(data[3:])
				} else {
					fp.FQDN = cleanString(data[3:])
				}
			}
		case layers.DHCPOptClientID:
			fp.ClientID = append([]byte(nil), data...)
		case 77: // RFC 3004 user class
			fp.UserClass = userClass(data)
		case layers.DHCPOptMaxMessageSize:
			if len(data) == 2 {
				fp.MaxMsgSize = binary.BigEndian.Uint16(data)
			}
		case layers.DHCPOptRequestIP:
			if len(data) == 4 {
				fp.RequestedIP = netip.AddrFrom4([4]byte(data)).String()
			}
		case 82: // RFC 3046 relay agent information
			for len(data) >= 2 {
				code, n := data[0], int(data[1])
				if n > len(data)-2 {
					break
				}
				switch code {
				case 1:
					fp.CircuitID = append([]byte(nil), data[2:2+n]...)
				case 2:
					fp.RemoteID = append([]byte(nil), data[2:2+n]...)
				}
				data = data[2+n:]
			}
		}
	}
	if ci := addr4(m.ClientIP); ci.IsValid() && !ci.IsUnspecified() {
		o.IP = ci
	} else if fp.RequestedIP != "" {
		o.IP, _ = netip.ParseAddr(fp.RequestedIP)
	}
	o.DHCP = fp
	emit(o)
	return nil
}

func addr4(b []byte) netip.Addr {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// FormatMAC formats a hardware address as lower-case colon-separated hex
// ("aa:bb:cc:dd:ee:ff"); it returns "" for an empty slice.
func FormatMAC(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var buf [3 * 20]byte
	out := buf[:0]
	if 3*len(b) > len(buf) {
		out = make([]byte, 0, 3*len(b))
	}
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return string(out)
}

// cleanString turns option bytes into a printable string: trailing NULs cut,
// invalid UTF-8 and control characters replaced.
func cleanString(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
}

// normalizeName lower-cases a DNS name and drops its trailing dot.
func normalizeName(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return strings.ToLower(cleanString(b))
}

// wireName decodes an uncompressed DNS wire-format name (RFC 1035 3.1), as
// used by option 81 with the E flag set.
func wireName(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || n > len(b)-1 || n > 63 {
			break
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(cleanString(b[1 : 1+n]))
		b = b[1+n:]
	}
	return sb.String()
}

// userClass renders option 77: RFC 3004 length-prefixed instances joined by
// ",", or, for clients that send a bare string (Windows, ChromeOS), the string.
func userClass(b []byte) string {
	var parts []string
	rest := b
	for len(rest) > 0 {
		n := int(rest[0])
		if n == 0 || n > len(rest)-1 {
			return cleanString(b)
		}
		parts = append(parts, cleanString(rest[1:1+n]))
		rest = rest[1+n:]
	}
	return strings.Join(parts, ",")
}
