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
	portBOOTPServer   = 67
	portBOOTPClient   = 68
	portDNS           = 53
	portMDNS          = 5353
	portDHCPv6Client  = 546
	portDHCPv6Server  = 547
	etherTypeIPv4     = 0x0800
	etherTypeARP      = 0x0806
	etherTypeIPv6     = 0x86dd
	etherTypeDot1Q    = 0x8100
	etherTypeQinQ     = 0x88a8
	etherTypeQinQOld  = 0x9100
	ipProtoUDP        = 17
	ipProtoICMPv6     = 58
	internCacheLimit  = 8192 // entries per interning map before it is reset
	maxNameBytes      = 255  // longest DNS name interned (RFC 1035)
	maxMDNSHostnames  = 4    // host names reported per mDNS message
	dnsHeaderLen      = 12
	dhcpv4MinLen      = 240
	dhcpv6HeaderLen   = 4
	dhcpv6OptClientID = 1
	dhcpv6OptFQDN     = 39
)

// DHCP message types (RFC 2132 section 9.6).
const (
	dhcpOffer = 2
	dhcpAck   = 5
	dhcpNak   = 6
)

// ErrTruncated and ErrMalformed classify Decode's errors (test with
// errors.Is): a frame cut short before a header or message the decoder needs,
// or one whose fields contradict each other.
var (
	ErrTruncated = errors.New("truncated frame")
	ErrMalformed = errors.New("malformed frame")
)

// DecodeStats are a Decoder's cumulative counters.
type DecodeStats struct {
	Frames       uint64 // frames given to Decode
	Observations uint64 // observations emitted
	Truncated    uint64 // frames cut short before a header or message of interest
	Malformed    uint64 // frames of interest whose fields are inconsistent
}

// Decoder decodes Ethernet frames into Observations. Link, network and
// transport headers are parsed by hand (no allocation, no gopacket layer
// dispatch); only DHCPv4 and DNS message bodies go through gopacket's
// decoders, and mDNS through miekg/dns, once the ports say they are of
// interest. It reuses its buffers and interns MAC addresses and DNS names
// between calls: it is not safe for concurrent use; give each goroutine its own.
type Decoder struct {
	dhcp  layers.DHCPv4
	dns   layers.DNS
	stats DecodeStats

	// filter-bypass detection (NewDecoderWith); nil: off
	bp *bypassState
	// outgoing: the current frame was sent by the capturing host (Live sets
	// it from PACKET_OUTGOING); such frames are never judged for bypass.
	outgoing bool

	// current frame
	src     []byte // Ethernet source MAC
	ipSrc   []byte // IPv4 or IPv6 source address
	ipDst   []byte // IPv4 or IPv6 destination address
	ttl     uint8  // IPv4 TTL or IPv6 hop limit
	payload []byte // UDP payload

	macs    map[[6]byte]string
	names   map[string]string
	nameBuf [maxNameBytes]byte
}

// NewDecoder returns a Decoder for Ethernet frames (optionally 802.1Q tagged).
func NewDecoder() *Decoder {
	return &Decoder{macs: make(map[[6]byte]string), names: make(map[string]string)}
}

// Stats returns the counters since NewDecoder.
func (d *Decoder) Stats() DecodeStats { return d.stats }

// Decode decodes one Ethernet frame captured at time at on interface iface
// and calls emit for every Observation it yields (zero or more). A frame that
// is not of interest yields nothing and returns nil; a malformed frame of
// interest returns an error wrapping ErrTruncated or ErrMalformed. Decode
// never panics; emit must not retain data.
func (d *Decoder) Decode(data []byte, at time.Time, iface string, emit func(daemon.Observation)) error {
	return d.DecodeTagged(data, at, iface, 0, emit)
}

// DecodeTagged is Decode for frames whose 802.1Q tag was removed before
// capture (Linux VLAN offload reports it beside the frame): vlan is used when
// the frame itself carries no tag.
func (d *Decoder) DecodeTagged(data []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode frame: %w: recovered from panic: %v", ErrMalformed, r)
		}
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				d.stats.Truncated++
			} else {
				d.stats.Malformed++
			}
		}
	}()
	d.stats.Frames++
	counted := func(o daemon.Observation) {
		d.stats.Observations++
		emit(o)
	}
	return d.frame(data, at, iface, vlan, counted)
}

func truncated(what string, have, want int) error {
	return fmt.Errorf("decode %s: %w: %d bytes, want %d", what, ErrTruncated, have, want)
}

// frame parses the Ethernet header and any 802.1Q/802.1ad tags (the
// innermost tag wins) and dispatches on the EtherType.
func (d *Decoder) frame(data []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(data) < 14 {
		return truncated("Ethernet header", len(data), 14)
	}
	d.src = data[6:12]
	et := binary.BigEndian.Uint16(data[12:14])
	rest := data[14:]
	for et == etherTypeDot1Q || et == etherTypeQinQ || et == etherTypeQinQOld {
		if len(rest) < 4 {
			return truncated("802.1Q tag", len(rest), 4)
		}
		vlan = binary.BigEndian.Uint16(rest[0:2]) & 0x0fff
		et = binary.BigEndian.Uint16(rest[2:4])
		rest = rest[4:]
	}
	switch et {
	case etherTypeIPv4:
		return d.ipv4(rest, at, iface, vlan, emit)
	case etherTypeIPv6:
		return d.ipv6(rest, at, iface, vlan, emit)
	case etherTypeARP:
		return d.arpObs(rest, at, iface, vlan, emit)
	}
	return nil
}

func (d *Decoder) ipv4(b []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(b) < 20 {
		return truncated("IPv4 header", len(b), 20)
	}
	if b[0]>>4 != 4 {
		return fmt.Errorf("decode IPv4: %w: version %d", ErrMalformed, b[0]>>4)
	}
	if b[9] != ipProtoUDP && (b[9] != ipProtoTCP || d.bp == nil) {
		return nil
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total == 0 {
		total = len(b) // TSO: a sending host's capture may show length 0
	}
	if ihl < 20 || total < ihl {
		return fmt.Errorf("decode IPv4: %w: header length %d, total length %d", ErrMalformed, ihl, total)
	}
	if len(b) < ihl {
		return truncated("IPv4 header", len(b), ihl)
	}
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return nil // a fragment (more-fragments set or non-zero offset): not reassembled
	}
	if len(b) > total {
		b = b[:total] // Ethernet padding
	}
	d.ipSrc, d.ipDst, d.ttl = b[12:16], b[16:20], b[8]
	if b[9] == ipProtoTCP {
		return d.tcp(b[ihl:], at, iface, vlan, emit)
	}
	return d.udp(b[ihl:], true, at, iface, vlan, emit)
}

func (d *Decoder) ipv6(b []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(b) < 40 {
		return truncated("IPv6 header", len(b), 40)
	}
	if b[0]>>4 != 6 {
		return fmt.Errorf("decode IPv6: %w: version %d", ErrMalformed, b[0]>>4)
	}
	next := b[6]
	if next != ipProtoUDP && next != ipProtoICMPv6 && (next != ipProtoTCP || d.bp == nil) {
		return nil // extension headers are not followed: DHCPv6, DNS and ND are sent without them
	}
	if plen := int(binary.BigEndian.Uint16(b[4:6])); plen != 0 && len(b) > 40+plen {
		b = b[:40+plen]
	}
	d.ipSrc, d.ipDst, d.ttl = b[8:24], b[24:40], b[7]
	if next == ipProtoTCP {
		return d.tcp(b[40:], at, iface, vlan, emit)
	}
	if next == ipProtoICMPv6 {
		d.ndObs(b[40:], at, iface, vlan, emit)
		return nil
	}
	return d.udp(b[40:], false, at, iface, vlan, emit)
}

// udp dispatches on the ports; b is the UDP header and payload.
func (d *Decoder) udp(b []byte, v4 bool, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(b) < 8 {
		return truncated("UDP header", len(b), 8)
	}
	src, dst := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	if !interesting(src, dst) {
		if d.bp != nil {
			return d.udpBypass(b, dst, at, iface, vlan, emit)
		}
		return nil
	}
	switch ulen := int(binary.BigEndian.Uint16(b[4:6])); {
	case ulen >= 8 && ulen <= len(b):
		d.payload = b[8:ulen]
	case ulen >= 8 || ulen == 0: // longer than captured, or a jumbogram
		d.payload = b[8:]
	default:
		return fmt.Errorf("decode UDP: %w: length %d", ErrMalformed, ulen)
	}
	switch {
	case v4 && (dst == portBOOTPServer || dst == portBOOTPClient) && (src == portBOOTPServer || src == portBOOTPClient):
		return d.dhcpObs(at, iface, vlan, src, dst, b, emit)
	case dst == portDNS && src != portDNS:
		return d.dnsObs(at, iface, vlan, v4, emit)
	case src == portMDNS:
		return d.mdnsObs(at, iface, vlan, v4, emit)
	case !v4 && dst == portDHCPv6Server && (src == portDHCPv6Client || src == portDHCPv6Server):
		return d.dhcpv6Obs(at, iface, vlan, emit)
	}
	return nil
}

// interesting is the port pre-check: every other UDP datagram is dropped here
// without touching its payload.
func interesting(src, dst uint16) bool {
	return dst == portDNS || src == portMDNS || src == portBOOTPServer || src == portBOOTPClient ||
		(dst == portDHCPv6Server && (src == portDHCPv6Client || src == portDHCPv6Server))
}

// arpObs reports the sender of an ARP request or reply.
func (d *Decoder) arpObs(b []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(b) < 8 {
		return truncated("ARP header", len(b), 8)
	}
	htype, ptype, hlen, plen := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), int(b[4]), int(b[5])
	if want := 8 + 2*hlen + 2*plen; len(b) < want {
		return truncated("ARP", len(b), want)
	}
	if htype != uint16(layers.LinkTypeEthernet) || ptype != etherTypeIPv4 || hlen != 6 || plen != 4 {
		return nil
	}
	sha, spa := b[8:14], b[14:18]
	if isZero(sha) {
		return nil
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsARP, MAC: d.mac(sha), Interface: iface, VLAN: vlan}
	if ip := netip.AddrFrom4([4]byte(spa)); !ip.IsUnspecified() {
		o.IP = ip // an ARP probe (RFC 5227) has sender IP 0.0.0.0: MAC only
	}
	emit(o)
	return nil
}

// srcAddr is the frame's IP source address.
func (d *Decoder) srcAddr() netip.Addr {
	if len(d.ipSrc) == 4 {
		return netip.AddrFrom4([4]byte(d.ipSrc))
	}
	return netip.AddrFrom16([16]byte(d.ipSrc))
}

// dnsObs reports the names in a DNS query sent by a device (QR=0, to port 53).
func (d *Decoder) dnsObs(at time.Time, iface string, vlan uint16, v4 bool, emit func(daemon.Observation)) error {
	p := d.payload
	if len(p) < dnsHeaderLen {
		return truncated("DNS header", len(p), dnsHeaderLen)
	}
	if p[2]&0x80 != 0 { // a response
		return nil
	}
	if err := d.dns.DecodeFromBytes(p, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("decode DNS query: %w: %w", ErrMalformed, err)
	}
	if len(d.src) != 6 {
		return nil
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsDNS, MAC: d.mac(d.src), Interface: iface, VLAN: vlan, IP: d.srcAddr(), TTL: d.ttl}
	for _, q := range d.dns.Questions {
		name := d.name(q.Name)
		if name == "" {
			continue
		}
		o.DNSName = name
		emit(o)
	}
	if d.bp != nil {
		d.dnsBypass(at, iface, vlan, emit)
	}
	return nil
}

// ndObs ties an IPv6 source address to the MAC of a router/neighbour
// solicitation or neighbour advertisement (ICMPv6 133, 135, 136). The hop
// limit is not reported: ND always uses 255 (RFC 4861), which says nothing
// about the device's stack.
func (d *Decoder) ndObs(icmp []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) {
	if len(icmp) < 4 {
		return
	}
	switch icmp[0] {
	case 133, 135, 136:
	default:
		return
	}
	ip := d.srcAddr()
	if ip.IsUnspecified() || isZero(d.src) {
		return
	}
	emit(daemon.Observation{At: at, Kind: daemon.ObsIPv6, MAC: d.mac(d.src), Interface: iface, VLAN: vlan, IP: ip})
}

// mac returns the interned string form of a 6-byte hardware address.
func (d *Decoder) mac(b []byte) string {
	if len(b) != 6 {
		return FormatMAC(b)
	}
	k := [6]byte(b)
	if s, ok := d.macs[k]; ok {
		return s
	}
	if len(d.macs) >= internCacheLimit {
		clear(d.macs)
	}
	s := FormatMAC(b)
	d.macs[k] = s
	return s
}

// name normalises a DNS name (lower case, no trailing dot) and interns it.
// Names with bytes outside printable ASCII take the slow path.
func (d *Decoder) name(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > maxNameBytes {
		return normalizeName(b)
	}
	buf := d.nameBuf[:len(b)]
	for i, c := range b {
		if c <= 0x20 || c >= 0x7f {
			return normalizeName(b)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if s, ok := d.names[string(buf)]; ok {
		return s
	}
	if len(d.names) >= internCacheLimit {
		clear(d.names)
	}
	s := string(buf)
	d.names[s] = s
	return s
}

var errNoClientMAC = fmt.Errorf("%w: DHCP message without a 6-byte client hardware address", ErrMalformed)

// dhcpObs reports a DHCPv4 client message (fingerprint) or server reply (lease).
// Client messages go to port 67 from 68 (or from 67 via a relay); replies come
// from 67 to 68 (or to 67 via a relay). udp is the UDP header and what follows.
func (d *Decoder) dhcpObs(at time.Time, iface string, vlan uint16, src, dst uint16, udp []byte, emit func(daemon.Observation)) error {
	payload := d.payload
	if len(payload) < dhcpv4MinLen {
		if ulen := int(binary.BigEndian.Uint16(udp[4:6])); ulen-8 >= dhcpv4MinLen {
			return truncated("DHCPv4", len(payload), dhcpv4MinLen) // the UDP length says the rest was not captured
		}
		return fmt.Errorf("decode DHCPv4: %w: %d bytes, want at least %d", ErrMalformed, len(payload), dhcpv4MinLen)
	}
	op := payload[0]
	client := op == 1 && dst == portBOOTPServer
	server := op == 2 && src == portBOOTPServer
	if !client && !server {
		return nil
	}
	if err := d.dhcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("decode DHCPv4: %w: %w", ErrMalformed, err)
	}
	m := &d.dhcp
	relayed := !m.RelayAgentIP.IsUnspecified()
	var mac []byte
	switch {
	case m.HardwareLen == 6 && !isZero(m.ClientHWAddr):
		mac = m.ClientHWAddr
	case !relayed && len(d.src) == 6 && client:
		mac = d.src // e.g. htype 0 clients: the frame's sender is the client
	default:
		return errNoClientMAC
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsDHCP, MAC: d.mac(mac), Interface: iface, VLAN: vlan}
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
		o.TTL = d.ttl // through a relay the TTL is the relay's, not the device's
		if d.bp != nil && (d.ttl == 64 || d.ttl == 128) && len(d.src) == 6 && [6]byte(d.src) == [6]byte(mac) {
			d.noteTTL(at, iface, vlan, emit) // the device's own stack's default
		}
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
