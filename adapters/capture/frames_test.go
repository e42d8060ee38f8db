package capture

import (
	"bufio"
	"net"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test frames built with gopacket's serializer, so they are independent of the
// decoder under test.

var (
	testMAC   = net.HardwareAddr{0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03} // an Apple OUI
	serverMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// dhcpFrame builds a DHCP client message (op 1) from testMAC, tagged with vlan
// when vlan != 0.
func dhcpFrame(t testing.TB, vlan uint16, msgType layers.DHCPMsgType, opts ...layers.DHCPOption) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4zero.To4(), DstIP: net.IPv4bcast.To4()}
	udp := &layers.UDP{SrcPort: 68, DstPort: 67}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	dhcp := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: 0x1234, ClientHWAddr: testMAC,
		Options: append([]layers.DHCPOption{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(msgType)})}, opts...)}
	if vlan == 0 {
		return serialize(t, eth, ip, udp, dhcp)
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	tag := &layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4}
	return serialize(t, eth, tag, ip, udp, dhcp)
}

// iosDiscover is a DISCOVER shaped like an iPhone's (iOS 16+ option order).
func iosDiscover(t testing.TB, vlan uint16) []byte {
	return dhcpFrame(t, vlan, layers.DHCPMsgTypeDiscover,
		layers.NewDHCPOption(layers.DHCPOptParamsRequest, []byte{1, 121, 3, 6, 15, 108, 114, 119, 252}),
		layers.NewDHCPOption(layers.DHCPOptMaxMessageSize, []byte{0x05, 0xdc}),
		layers.NewDHCPOption(layers.DHCPOptClientID, append([]byte{1}, testMAC...)),
		layers.NewDHCPOption(layers.DHCPOptLeaseTime, []byte{0, 0x76, 0xa7, 0}),
		layers.NewDHCPOption(layers.DHCPOptHostname, []byte("Alices-iPhone")),
	)
}

// serverAck builds a DHCPACK from the server to testMAC leasing ip.
func serverAck(t testing.TB, ip net.IP) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: serverMAC, DstMAC: testMAC, EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 1).To4(), DstIP: ip.To4()}
	udp := &layers.UDP{SrcPort: 67, DstPort: 68}
	_ = udp.SetNetworkLayerForChecksum(ip4)
	dhcp := &layers.DHCPv4{Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		ClientHWAddr: testMAC, YourClientIP: ip.To4(),
		Options: []layers.DHCPOption{layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeAck)})}}
	return serialize(t, eth, ip4, udp, dhcp)
}

// dnsFrame builds a DNS message over IPv4/UDP between the given ports.
func dnsFrame(t testing.TB, srcPort, dstPort layers.UDPPort, response bool, name string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: serverMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 23).To4(), DstIP: net.IPv4(10, 0, 0, 1).To4()}
	udp := &layers.UDP{SrcPort: srcPort, DstPort: dstPort}
	_ = udp.SetNetworkLayerForChecksum(ip)
	dns := &layers.DNS{ID: 7, QR: response, RD: true,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	return serialize(t, eth, ip, udp, dns)
}

// tcpFrame builds a TCP segment (never an observation).
func tcpFrame(t testing.TB) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: serverMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 0, 0, 23).To4(), DstIP: net.IPv4(93, 184, 216, 34).To4()}
	tcp := &layers.TCP{SrcPort: 51000, DstPort: 443, ACK: true, Window: 1024}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, tcp, gopacket.Payload([]byte("hello, not a DHCP packet")))
}

// arpFrame builds an ARP request from testMAC with the given sender IP.
func arpFrame(t testing.TB, sender net.IP) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: testMAC, SourceProtAddress: sender.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IPv4(10, 0, 0, 1).To4()}
	return serialize(t, eth, arp)
}

func bufioReader(f *os.File) *bufio.Reader { return bufio.NewReader(f) }
