package simulate

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Server-side constants of the simulated network.
const (
	serverTTL     = 64       // the gateway is Linux
	leaseSeconds  = 8 * 3600 // a school-day lease
	domainName    = "hma.internal"
	bootpMinBytes = 300 // RFC 1542 §2.1: BOOTP messages are padded to at least 300 octets
	ethMinBytes   = 60  // minimum Ethernet frame without FCS
)

// gatewayMAC is the router's address on a VLAN: the VRRP virtual MAC
// 00:00:5e:00:01:<VRID> (RFC 5798 §7.3), with the VLAN ID as VRID.
func gatewayMAC(vlan uint16) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, byte(vlan)}
}

// serializeOpts fills in lengths and checksums.
func serializeOpts() gopacket.SerializeOptions {
	return gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
}

// frame builds event e's bytes. Each frame gets a fresh buffer: gopacket's DHCPv4
// writes only the first hlen bytes of chaddr, so a reused buffer would leak old bytes.
func (s *School) frame(e *event) (Frame, error) {
	d := s.devices[e.dev]
	buf := gopacket.NewSerializeBuffer()
	var err error
	switch e.kind {
	case evDiscover, evRequest:
		err = clientDHCP(buf, d, e)
	case evOffer, evAck:
		err = serverDHCP(buf, d, e)
	case evDNS:
		err = dnsQuery(buf, d, e)
	case evARP:
		err = arpRequest(buf, d, e)
	default:
		err = fmt.Errorf("unknown event kind %d", e.kind)
	}
	if err != nil {
		return Frame{}, fmt.Errorf("simulate: build %s from %s at %s: %w", e.kind, d.spec.MAC, e.at.Format(time.TimeOnly), err)
	}
	return Frame{At: e.at, Data: buf.Bytes()}, nil
}

func ip4(a netip.Addr) net.IP {
	b := a.As4()
	return net.IP(b[:])
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// udpLayers are the Ethernet, 802.1Q, IPv4 and UDP headers of a frame.
func udpLayers(src, dst net.HardwareAddr, vlan uint16, sip, dip net.IP, ttl uint8, id, sport, dport uint16) []gopacket.SerializableLayer {
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: id, Protocol: layers.IPProtocolUDP, SrcIP: sip, DstIP: dip}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = udp.SetNetworkLayerForChecksum(ip) // only fails for a non-IP layer
	return []gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4},
		ip, udp,
	}
}

// bootp is a DHCP message with every fixed field set (sname and file zeroed).
func bootp(op layers.DHCPOp, xid uint32, hw net.HardwareAddr, yiaddr net.IP, opts layers.DHCPOptions) *layers.DHCPv4 {
	return &layers.DHCPv4{
		Operation: op, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6, Xid: xid,
		ClientIP: net.IPv4zero.To4(), YourClientIP: yiaddr, NextServerIP: net.IPv4zero.To4(),
		RelayAgentIP: net.IPv4zero.To4(), ClientHWAddr: hw,
		ServerName: make([]byte, 64), File: make([]byte, 128), Options: opts,
	}
}

// withPadding appends the zero padding that brings a DHCP message to 300 octets.
func withPadding(ls []gopacket.SerializableLayer, m *layers.DHCPv4) []gopacket.SerializableLayer {
	ls = append(ls, m)
	if n := int(m.Len()); n < bootpMinBytes {
		ls = append(ls, gopacket.Payload(make([]byte, bootpMinBytes-n)))
	}
	return ls
}

// clientDHCP is a DISCOVER or REQUEST (selecting state) broadcast from the device, with
// its OS's options in its OS's order.
func clientDHCP(buf gopacket.SerializeBuffer, d *device, e *event) error {
	codes, mt := d.arch.discover, layers.DHCPMsgTypeDiscover
	if e.kind == evRequest {
		codes, mt = d.arch.request, layers.DHCPMsgTypeRequest
	}
	host := d.spec.Hostname
	opts := make(layers.DHCPOptions, 0, len(codes))
	for _, c := range codes {
		var v []byte
		switch c {
		case oMsgType:
			v = []byte{byte(mt)}
		case oParams:
			v = d.arch.params
		case oMaxSize:
			v = be16(d.arch.maxMsg)
		case oClientID:
			v = append([]byte{1}, d.hw...) // type 1 (Ethernet) + MAC
		case oLease:
			v = be32(d.arch.lease)
		case oHostname:
			v = []byte(host)
		case oVendor:
			v = []byte(d.vendorClass)
		case oRequestIP:
			v = ip4(e.ip)
		case oServerID:
			v = ip4(gateway(e.ip))
		case oFQDN: // RFC 4702: flags, RCODE1, RCODE2, name (ASCII, as Windows sends it)
			v = append([]byte{0, 0, 0}, host...)
		default:
			return fmt.Errorf("no value for DHCP option %d", c)
		}
		if len(v) == 0 { // no host name or vendor class: the option is not sent
			continue
		}
		if len(v) > 255 {
			return fmt.Errorf("DHCP option %d is %d bytes", c, len(v))
		}
		opts = append(opts, layers.NewDHCPOption(c, v))
	}
	ls := udpLayers(d.hw, layers.EthernetBroadcast, d.spec.VLAN, net.IPv4zero.To4(), net.IPv4bcast.To4(), d.arch.ttl, e.ipid, 68, 67)
	ls = withPadding(ls, bootp(layers.DHCPOpRequest, e.xid, d.hw, net.IPv4zero.To4(), opts))
	if err := gopacket.SerializeLayers(buf, serializeOpts(), ls...); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	return nil
}

// serverDHCP is the gateway's OFFER or ACK, unicast to the client (its broadcast flag
// is clear, RFC 2131 §4.1), leasing e.ip.
func serverDHCP(buf gopacket.SerializeBuffer, d *device, e *event) error {
	mt := layers.DHCPMsgTypeOffer
	if e.kind == evAck {
		mt = layers.DHCPMsgTypeAck
	}
	gw := ip4(gateway(e.ip))
	opts := layers.DHCPOptions{
		layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(mt)}),
		layers.NewDHCPOption(layers.DHCPOptServerID, gw),
		layers.NewDHCPOption(layers.DHCPOptLeaseTime, be32(leaseSeconds)),
		layers.NewDHCPOption(layers.DHCPOptT1, be32(leaseSeconds/2)),
		layers.NewDHCPOption(layers.DHCPOptT2, be32(leaseSeconds*7/8)),
		layers.NewDHCPOption(layers.DHCPOptSubnetMask, []byte{255, 255, 255, 0}),
		layers.NewDHCPOption(layers.DHCPOptRouter, gw),
		layers.NewDHCPOption(layers.DHCPOptDNS, gw),
		layers.NewDHCPOption(layers.DHCPOptDomainName, []byte(domainName)),
	}
	ls := udpLayers(gatewayMAC(d.spec.VLAN), d.hw, d.spec.VLAN, gw, ip4(e.ip), serverTTL, e.ipid, 67, 68)
	ls = withPadding(ls, bootp(layers.DHCPOpReply, e.xid, d.hw, ip4(e.ip), opts))
	if err := gopacket.SerializeLayers(buf, serializeOpts(), ls...); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	return nil
}

// dnsQuery is an A query from the device to the gateway's resolver.
func dnsQuery(buf gopacket.SerializeBuffer, d *device, e *event) error {
	q := &layers.DNS{
		ID: uint16(e.xid), RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(e.name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
	}
	ls := udpLayers(d.hw, gatewayMAC(d.spec.VLAN), d.spec.VLAN, ip4(e.ip), ip4(gateway(e.ip)), d.arch.ttl, e.ipid, e.port, 53)
	if err := gopacket.SerializeLayers(buf, serializeOpts(), append(ls, q)...); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	return nil
}

// arpRequest is "who has the gateway? tell <device>", broadcast and padded to the
// Ethernet minimum as a NIC would.
func arpRequest(buf gopacket.SerializeBuffer, d *device, e *event) error {
	ls := []gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: d.hw, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: d.spec.VLAN, Type: layers.EthernetTypeARP},
		&layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: d.hw, SourceProtAddress: ip4(e.ip),
			DstHwAddress: make([]byte, 6), DstProtAddress: ip4(gateway(e.ip)),
		},
		gopacket.Payload(make([]byte, ethMinBytes-14-4-28)),
	}
	if err := gopacket.SerializeLayers(buf, serializeOpts(), ls...); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	return nil
}
