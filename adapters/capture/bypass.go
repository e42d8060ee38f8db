package capture

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Filter-bypass detection (docs/bypass.md): traffic that reaches the internet
// around the school's web filter. Each finding is an Observation of kind
// daemon.ObsBypass whose Bypass field says what was seen.

// DecoderOptions configure NewDecoderWith.
type DecoderOptions struct {
	// SchoolResolvers are the DNS resolvers the school's DHCP hands out (the
	// filter's resolvers). A DNS query to any other public address is reported
	// as "dns-other-resolver <ip>". Empty: DNS destinations are not judged.
	SchoolResolvers []netip.Addr
	// Allowed are destinations never reported: the school's cloud filter's own
	// DoH/DoT endpoints, the trust's VPN concentrator, a carrier's Wi-Fi
	// calling gateways. SchoolResolvers are always allowed.
	Allowed []netip.Prefix
	// Window is how long one finding (device, kind, destination) is reported
	// only once; default DefaultBypassWindow.
	Window time.Duration
}

// DefaultBypassWindow is how long the decoder stays quiet about a finding it
// has reported (same device, kind and destination).
const DefaultBypassWindow = 5 * time.Minute

// ownTTLWindow is how long a device's own default TTL (64 or 128) counts as
// seen, for the tethering hint.
const ownTTLWindow = 10 * time.Minute

// epdgWindow: IKE from a device that looked up a carrier's Wi-Fi calling
// gateway (*.pub.3gppnetwork.org) this recently is Wi-Fi calling, not a VPN.
const epdgWindow = 10 * time.Minute

// Sizes of the decoder's bounded bypass caches (direct-mapped: a collision
// evicts, so a finding may be reported again early, never lost for good).
const (
	seenSlots   = 4096
	deviceSlots = 4096
)

// Ports and protocol numbers of the bypass checks.
const (
	ipProtoTCP      = 6
	portHTTPS       = 443
	portDoT         = 853
	portIKE         = 500
	portIKENATT     = 4500
	portOpenVPN     = 1194
	portPPTP        = 1723
	wgInitiationLen = 148 // WireGuard handshake initiation (type 1)
	tcpFlagSYN      = 0x02
	tcpFlagACK      = 0x10
)

// Bypass kinds (the cache key; the first word of Observation.Bypass).
const (
	bkDNS uint8 = iota + 1
	bkDoT
	bkDoQ
	bkDoH
	bkVPN
	bkTether
	bkRelay
)

// PublicResolvers is the embedded list of public DNS resolvers that also
// answer DNS over HTTPS (443) and DNS over TLS/QUIC (853). TCP SYNs and QUIC
// handshakes to port 443 at these addresses are reported as "doh". Sources
// (anycast service addresses as each operator publishes them, checked
// 2026-05):
//
//   - Google Public DNS: https://developers.google.com/speed/public-dns/docs/using
//   - Cloudflare 1.1.1.1 (and 1.1.1.1 for Families):
//     https://developers.cloudflare.com/1.1.1.1/ip-addresses/
//   - Quad9: https://www.quad9.net/service/service-addresses-and-features
//   - OpenDNS / Cisco Umbrella (and FamilyShield):
//     https://support.opendns.com/hc/en-us/articles/227986667
//   - AdGuard DNS: https://adguard-dns.io/kb/general/dns-providers/
//   - NextDNS anycast: https://help.nextdns.io (setup page: 45.90.28.0, 45.90.30.0)
//   - CleanBrowsing: https://cleanbrowsing.org/filters/
//   - Control D: https://controld.com/free-dns
//   - Mullvad DNS: https://mullvad.net/en/help/dns-over-https-and-dns-over-tls
//   - DNS.SB: https://dns.sb/
//   - curl's list of public DoH servers: https://github.com/curl/curl/wiki/DNS-over-HTTPS
//
// A school whose filter is one of these (OpenDNS, CleanBrowsing) lists its
// addresses in DecoderOptions.SchoolResolvers; they are then not reported.
var PublicResolvers = []netip.Prefix{
	// Google
	mp("8.8.8.8/32"), mp("8.8.4.4/32"), mp("2001:4860:4860::8888/128"), mp("2001:4860:4860::8844/128"),
	mp("2001:4860:4860::64/128"), mp("2001:4860:4860::6464/128"),
	// Cloudflare (1.1.1.1, malware 1.1.1.2, families 1.1.1.3)
	mp("1.1.1.1/32"), mp("1.0.0.1/32"), mp("1.1.1.2/32"), mp("1.0.0.2/32"), mp("1.1.1.3/32"), mp("1.0.0.3/32"),
	mp("2606:4700:4700::1111/128"), mp("2606:4700:4700::1001/128"), mp("2606:4700:4700::1112/128"),
	mp("2606:4700:4700::1002/128"), mp("2606:4700:4700::1113/128"), mp("2606:4700:4700::1003/128"),
	mp("2606:4700:4700::64/128"), mp("2606:4700:4700::6400/128"),
	// Quad9
	mp("9.9.9.9/32"), mp("149.112.112.112/32"), mp("9.9.9.10/32"), mp("149.112.112.10/32"),
	mp("9.9.9.11/32"), mp("149.112.112.11/32"), mp("2620:fe::fe/128"), mp("2620:fe::9/128"),
	mp("2620:fe::10/128"), mp("2620:fe::fe:10/128"), mp("2620:fe::11/128"), mp("2620:fe::fe:11/128"),
	// OpenDNS / Umbrella, FamilyShield
	mp("208.67.222.222/32"), mp("208.67.220.220/32"), mp("208.67.222.123/32"), mp("208.67.220.123/32"),
	mp("2620:119:35::35/128"), mp("2620:119:53::53/128"), mp("2620:119:35::123/128"), mp("2620:119:53::123/128"),
	// AdGuard DNS (default, family, unfiltered)
	mp("94.140.14.14/32"), mp("94.140.15.15/32"), mp("94.140.14.15/32"), mp("94.140.15.16/32"),
	mp("94.140.14.140/32"), mp("94.140.14.141/32"),
	mp("2a10:50c0::ad1:ff/128"), mp("2a10:50c0::ad2:ff/128"), mp("2a10:50c0::bad1:ff/128"),
	mp("2a10:50c0::bad2:ff/128"), mp("2a10:50c0::1:ff/128"), mp("2a10:50c0::2:ff/128"),
	// NextDNS anycast (per-configuration addresses are in these /24s and /32s)
	mp("45.90.28.0/24"), mp("45.90.30.0/24"), mp("2a07:a8c0::/32"), mp("2a07:a8c1::/32"),
	// CleanBrowsing (security, adult, family)
	mp("185.228.168.9/32"), mp("185.228.169.9/32"), mp("185.228.168.10/32"), mp("185.228.169.11/32"),
	mp("185.228.168.168/32"), mp("185.228.169.168/32"),
	mp("2a0d:2a00:1::2/128"), mp("2a0d:2a00:2::2/128"), mp("2a0d:2a00:1::1/128"),
	mp("2a0d:2a00:2::1/128"), mp("2a0d:2a00:1::/128"), mp("2a0d:2a00:2::/128"),
	// Control D free resolvers
	mp("76.76.2.0/24"), mp("76.76.10.0/24"), mp("2606:1a40::/48"), mp("2606:1a40:1::/48"),
	// Mullvad DNS
	mp("194.242.2.2/32"), mp("194.242.2.3/32"), mp("194.242.2.4/32"), mp("194.242.2.5/32"),
	mp("194.242.2.6/32"), mp("194.242.2.9/32"), mp("2a07:e340::2/128"), mp("2a07:e340::3/128"),
	mp("2a07:e340::4/128"), mp("2a07:e340::5/128"), mp("2a07:e340::6/128"), mp("2a07:e340::9/128"),
	// DNS.SB
	mp("185.222.222.222/32"), mp("45.11.45.11/32"), mp("2a09::/128"), mp("2a11::/128"),
}

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// v4Range is an inclusive range of IPv4 addresses as integers.
type v4Range struct{ lo, hi uint32 }

// addrSet is a set of prefixes searchable without allocating: IPv4 as sorted
// integer ranges, IPv6 as a short prefix list.
type addrSet struct {
	v4 []v4Range
	v6 []netip.Prefix
}

func newAddrSet(ps ...[]netip.Prefix) addrSet {
	var s addrSet
	for _, list := range ps {
		for _, p := range list {
			p = p.Masked()
			if !p.IsValid() {
				continue
			}
			if a := p.Addr(); a.Is4() || a.Is4In6() && p.Bits() >= 96 {
				bits := p.Bits()
				if !a.Is4() {
					a, bits = a.Unmap(), bits-96
				}
				lo := binary.BigEndian.Uint32(a.AsSlice())
				hi := lo | uint32(uint64(1)<<(32-bits)-1)
				s.v4 = append(s.v4, v4Range{lo, hi})
				continue
			}
			s.v6 = append(s.v6, p)
		}
	}
	slices.SortFunc(s.v4, func(a, b v4Range) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	merged := s.v4[:0]
	for _, r := range s.v4 { // disjoint ranges: a lookup checks one
		if n := len(merged); n > 0 && (r.lo <= merged[n-1].hi || merged[n-1].hi != ^uint32(0) && r.lo == merged[n-1].hi+1) {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	s.v4 = merged
	return s
}

// has4 reports whether the IPv4 address a (4 bytes) is in the set.
func (s *addrSet) has4(a []byte) bool {
	x := binary.BigEndian.Uint32(a)
	i, j := 0, len(s.v4) // find the first range starting above x
	for i < j {
		h := int(uint(i+j) >> 1)
		if s.v4[h].lo <= x {
			i = h + 1
		} else {
			j = h
		}
	}
	return i > 0 && s.v4[i-1].hi >= x
}

// has16 reports whether the IPv6 address a (16 bytes) is in the set.
func (s *addrSet) has16(a []byte) bool {
	if len(s.v6) == 0 {
		return false
	}
	addr := netip.AddrFrom16([16]byte(a))
	for _, p := range s.v6 {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (s *addrSet) has(a []byte) bool {
	if len(a) == 4 {
		return s.has4(a)
	}
	return len(a) == 16 && s.has16(a)
}

// publicSet is PublicResolvers, built once.
var publicSet = newAddrSet(PublicResolvers)

// bypassState is a Decoder's bypass configuration and bounded caches.
type bypassState struct {
	resolvers addrSet // SchoolResolvers
	judgeDNS  bool    // SchoolResolvers given
	allowed   addrSet // Allowed and SchoolResolvers
	window    int64   // nanoseconds

	seen    [seenSlots]seenEntry
	devices [deviceSlots]deviceEntry
}

type seenKey struct {
	mac  [6]byte
	kind uint8
	_    uint8
	port uint16
	addr [16]byte
}

type seenEntry struct {
	key seenKey
	at  int64 // unix nanoseconds of the last report; 0 = empty
}

// deviceEntry is what the decoder remembers about one MAC for the tethering
// hint and the Wi-Fi calling exception.
type deviceEntry struct {
	mac       [6]byte
	used      bool
	own64At   int64 // last packet with TTL/hop limit 64 (the device's own stack)
	own128At  int64 // last packet with 128
	epdgAt    int64 // last DNS query for a Wi-Fi calling gateway
	tetherTTL uint8
}

func newBypassState(o DecoderOptions) *bypassState {
	b := &bypassState{window: int64(o.Window)}
	if b.window <= 0 {
		b.window = int64(DefaultBypassWindow)
	}
	res := make([]netip.Prefix, 0, len(o.SchoolResolvers))
	for _, a := range o.SchoolResolvers {
		if a.IsValid() {
			a = a.Unmap()
			res = append(res, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	b.resolvers = newAddrSet(res)
	b.judgeDNS = len(res) > 0
	b.allowed = newAddrSet(o.Allowed, res)
	return b
}

// NewDecoderWith returns a Decoder that also reports filter bypass
// (daemon.ObsBypass, see docs/bypass.md). NewDecoder() reports none.
func NewDecoderWith(o DecoderOptions) *Decoder {
	d := NewDecoder()
	d.bp = newBypassState(o)
	return d
}

func hashBytes(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// first reports whether a finding should be reported now (not reported within
// the window), and records it.
func (b *bypassState) first(mac []byte, kind uint8, dst []byte, port uint16, at int64) bool {
	var k seenKey
	copy(k.mac[:], mac)
	k.kind, k.port = kind, port
	copy(k.addr[:], dst)
	h := hashBytes(2166136261, k.mac[:])
	h = hashBytes(h, k.addr[:len(dst)])
	h ^= uint32(kind)<<16 | uint32(port)
	h *= 16777619
	e := &b.seen[h%seenSlots]
	if e.at != 0 && e.key == k && at-e.at < b.window && at >= e.at {
		return false
	}
	e.key, e.at = k, at
	if e.at == 0 {
		e.at = 1
	}
	return true
}

func (b *bypassState) device(mac []byte) *deviceEntry {
	h := hashBytes(2166136261, mac)
	e := &b.devices[h%deviceSlots]
	if !e.used || [6]byte(mac) != e.mac {
		*e = deviceEntry{mac: [6]byte(mac), used: true}
	}
	return e
}

// bypassSource reports whether the current frame's sender can be judged: a
// unicast Ethernet source, a frame not sent by the capturing host itself.
func (d *Decoder) bypassSource() bool {
	return d.bp != nil && !d.outgoing && len(d.src) == 6 && d.src[0]&1 == 0 && !isZero(d.src)
}

// publicDst reports whether the IP destination is a global unicast address not
// in the private ranges (a DNS query there leaves the school).
func (d *Decoder) publicDst() bool {
	a, ok := netip.AddrFromSlice(d.ipDst)
	if !ok {
		return false
	}
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func (d *Decoder) dstAddr() netip.Addr {
	a, _ := netip.AddrFromSlice(d.ipDst)
	return a
}

// report emits one bypass finding unless it was reported within the window.
// what is the label's first words ("doh", "vpn wireguard"); withPort adds
// ":port" to the destination.
func (d *Decoder) report(at time.Time, iface string, vlan uint16, kind uint8, port uint16, what string, withPort bool, emit func(daemon.Observation)) {
	if !d.bp.first(d.src, kind, d.ipDst, port, at.UnixNano()) {
		return
	}
	var sb strings.Builder
	sb.WriteString(what)
	if kind != bkTether && kind != bkRelay {
		sb.WriteByte(' ')
		if withPort {
			sb.WriteString(netip.AddrPortFrom(d.dstAddr(), port).String())
		} else {
			sb.WriteString(d.dstAddr().String())
		}
	}
	emit(daemon.Observation{At: at, Kind: daemon.ObsBypass, MAC: d.mac(d.src), Interface: iface, VLAN: vlan,
		IP: d.srcAddr(), TTL: d.ttl, Bypass: sb.String()})
}

// noteTTL records the device's own default TTL and reports a TTL one below a
// default (63, 127) from a device also seen sending at a default: packets it
// forwards for others (tethering, a hotspot, a NAT router).
func (d *Decoder) noteTTL(at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) {
	switch d.ttl {
	case 64, 128, 63, 127:
	default:
		return
	}
	now := at.UnixNano()
	e := d.bp.device(d.src)
	switch d.ttl {
	case 64:
		e.own64At = now
		return
	case 128:
		e.own128At = now
		return
	}
	recent := func(t int64) bool { return t != 0 && now >= t && now-t < int64(ownTTLWindow) }
	if !recent(e.own64At) && !recent(e.own128At) {
		return // never seen its own stack's TTL: a routed hop, not tethering
	}
	if !d.bp.first(d.src, bkTether, nil, uint16(d.ttl), now) {
		return
	}
	label := "tethering ttl 63"
	if d.ttl == 127 {
		label = "tethering ttl 127"
	}
	emit(daemon.Observation{At: at, Kind: daemon.ObsBypass, MAC: d.mac(d.src), Interface: iface, VLAN: vlan,
		IP: d.srcAddr(), TTL: d.ttl, Bypass: label})
}

// tcp looks at a TCP segment (b is the TCP header and what follows) for filter
// bypass: connection attempts (SYN without ACK) to DoT (853), to DoH at a
// public resolver (443), to PPTP (1723), and an OpenVPN client hard reset on
// port 1194.
func (d *Decoder) tcp(b []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(b) < 20 {
		return nil
	}
	dst := binary.BigEndian.Uint16(b[2:4])
	if b[13]&(tcpFlagSYN|tcpFlagACK) != tcpFlagSYN {
		if dst == portOpenVPN && d.bypassSource() {
			d.openVPNTCP(b, at, iface, vlan, emit)
		}
		return nil
	}
	if !d.bypassSource() {
		return nil
	}
	d.noteTTL(at, iface, vlan, emit)
	if d.bp.allowed.has(d.ipDst) {
		return nil
	}
	switch {
	case dst == portDoT:
		d.report(at, iface, vlan, bkDoT, dst, "dot", true, emit)
	case dst == portHTTPS && publicSet.has(d.ipDst):
		d.report(at, iface, vlan, bkDoH, dst, "doh", true, emit)
	case dst == portPPTP && d.publicDst():
		d.report(at, iface, vlan, bkVPN, dst, "vpn pptp", true, emit)
	}
	return nil
}

// openVPNTCP checks the first data of an OpenVPN-over-TCP session: a 2-byte
// length, then a P_CONTROL_HARD_RESET_CLIENT opcode (V1 1, V2 7, V3 10) in the
// top 5 bits and an 8-byte session ID.
func (d *Decoder) openVPNTCP(b []byte, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) {
	off := int(b[12]>>4) * 4
	if off < 20 || len(b) < off+2+9 {
		return
	}
	p := b[off:]
	n := int(binary.BigEndian.Uint16(p[0:2]))
	if n < 9 || n > 1500 || !openVPNReset(p[2]) || d.bp.allowed.has(d.ipDst) {
		return
	}
	d.report(at, iface, vlan, bkVPN, portOpenVPN, "vpn openvpn", true, emit)
}

func openVPNReset(b byte) bool {
	switch b >> 3 {
	case 1, 7, 10: // P_CONTROL_HARD_RESET_CLIENT_V1, _V2, _V3
		return true
	}
	return false
}

// udpBypassPort is the UDP pre-check of the bypass detector: the destination
// ports it looks at, and WireGuard's fixed-size handshake on any port.
func udpBypassPort(dst uint16, b []byte) bool {
	switch dst {
	case portHTTPS, portDoT, portIKE, portIKENATT, portOpenVPN:
		return true
	}
	return len(b) == 8+wgInitiationLen || binary.BigEndian.Uint16(b[4:6]) == 8+wgInitiationLen
}

// udpBypass looks at a UDP datagram the DHCP/DNS decoders do not want: QUIC
// handshakes to DoH resolvers, DNS over QUIC, WireGuard, OpenVPN and IKE.
// b is the UDP header and payload.
func (d *Decoder) udpBypass(b []byte, dst uint16, at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if !udpBypassPort(dst, b) || !d.bypassSource() {
		return nil
	}
	p := b[8:]
	if ulen := int(binary.BigEndian.Uint16(b[4:6])); ulen >= 8 && ulen <= len(b) {
		p = b[8:ulen]
	}
	if len(p) == 0 {
		return nil
	}
	var kind uint8
	var what string
	switch {
	case len(p) == wgInitiationLen && p[0] == 1 && p[1] == 0 && p[2] == 0 && p[3] == 0:
		kind, what = bkVPN, "vpn wireguard"
	case dst == portHTTPS:
		if p[0]&0x80 == 0 || !publicSet.has(d.ipDst) { // QUIC long header: a handshake packet
			return nil
		}
		kind, what = bkDoH, "doh"
	case dst == portDoT:
		if p[0]&0x80 == 0 {
			return nil
		}
		kind, what = bkDoQ, "doq"
	case dst == portOpenVPN:
		if len(p) < 9 || !openVPNReset(p[0]) {
			return nil
		}
		kind, what = bkVPN, "vpn openvpn"
	case dst == portIKE:
		if !ikeInit(p) {
			return nil
		}
		kind, what = bkVPN, "vpn ipsec"
	case dst == portIKENATT:
		if len(p) < 4 || binary.BigEndian.Uint32(p[0:4]) != 0 || !ikeNATT(p[4:]) {
			return nil
		}
		kind, what = bkVPN, "vpn ipsec"
	default:
		return nil
	}
	d.noteTTL(at, iface, vlan, emit)
	if d.bp.allowed.has(d.ipDst) || !d.publicDst() {
		return nil
	}
	if kind == bkVPN && what == "vpn ipsec" {
		e := d.bp.device(d.src)
		if now := at.UnixNano(); e.epdgAt != 0 && now >= e.epdgAt && now-e.epdgAt < int64(epdgWindow) {
			return nil // Wi-Fi calling: IKEv2 to the carrier's ePDG, looked up just before
		}
	}
	d.report(at, iface, vlan, kind, dst, what, true, emit)
	return nil
}

// ikeHeader checks an ISAKMP/IKE header (RFC 7296 3.1, RFC 2408 3.1): the
// version byte (IKEv2 0x20, IKEv1 0x10), the exchange type, and a length that
// covers at least the header.
func ikeHeader(p []byte, exchanges ...uint8) bool {
	if len(p) < 28 {
		return false
	}
	if v := p[17]; v != 0x20 && v != 0x10 {
		return false
	}
	if n := binary.BigEndian.Uint32(p[24:28]); n < 28 || n > 65535 {
		return false
	}
	return slices.Contains(exchanges, p[18])
}

// ikeInit: the first message of an IKE negotiation on port 500: the
// responder's SPI still zero; IKE_SA_INIT (34), or IKEv1 main (2) or
// aggressive (4) mode.
func ikeInit(p []byte) bool {
	return ikeHeader(p, 34, 2, 4) && len(p) >= 16 && binary.BigEndian.Uint64(p[8:16]) == 0 && binary.BigEndian.Uint64(p[0:8]) != 0
}

// ikeNATT: IKE on 4500 after the non-ESP marker: IKE_SA_INIT or IKE_AUTH
// (35), or IKEv1 main mode / quick mode (32). Keep-alives, DPD and rekeys are
// not reported.
func ikeNATT(p []byte) bool { return ikeHeader(p, 34, 35, 2, 4, 32) }

// dnsBypass judges a DNS query the decoder has parsed: its destination (when
// the school's resolvers are known), and names that reveal a relay service or
// Wi-Fi calling.
func (d *Decoder) dnsBypass(at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) {
	if !d.bypassSource() {
		return
	}
	d.noteTTL(at, iface, vlan, emit)
	for _, q := range d.dns.Questions {
		n := q.Name
		switch {
		case hasSuffixFold(n, ".pub.3gppnetwork.org"):
			d.bp.device(d.src).epdgAt = at.UnixNano()
		case equalFold(n, "mask.icloud.com") || equalFold(n, "mask-h2.icloud.com"):
			if d.bp.first(d.src, bkRelay, nil, 0, at.UnixNano()) {
				emit(daemon.Observation{At: at, Kind: daemon.ObsBypass, MAC: d.mac(d.src), Interface: iface, VLAN: vlan,
					IP: d.srcAddr(), TTL: d.ttl, Bypass: "relay icloud-private-relay"})
			}
		}
	}
	if d.bp.judgeDNS && !d.bp.allowed.has(d.ipDst) && d.publicDst() {
		d.report(at, iface, vlan, bkDNS, portDNS, "dns-other-resolver", false, emit)
	}
}

func equalFold(b []byte, s string) bool {
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, s string) bool {
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}
