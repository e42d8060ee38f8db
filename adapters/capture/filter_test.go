package capture

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"

	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
)

// filterVM assembles a filter into x/net/bpf's VM.
func filterVM(t *testing.T, f func() ([]bpf.RawInstruction, error)) *bpf.VM {
	t.Helper()
	raw, err := f()
	if err != nil {
		t.Fatal(err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("filter rejected by the BPF verifier model: %v", err)
	}
	return vm
}

// retag returns frame with its VLAN tags (if any) replaced by one tag per
// TPID in tpids, outermost first (VLAN ids 100, 101, ...).
func retag(frame []byte, tpids ...uint16) []byte {
	et, rest := binary.BigEndian.Uint16(frame[12:14]), frame[14:]
	for et == etherTypeDot1Q || et == etherTypeQinQ || et == etherTypeQinQOld {
		et, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
	}
	out := slices.Clone(frame[:12])
	for i, tpid := range tpids {
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = binary.BigEndian.AppendUint16(out, uint16(100+i))
	}
	out = binary.BigEndian.AppendUint16(out, et)
	return append(out, rest...)
}

// tagVariants are the encapsulations every filter test frame is tried in:
// the tags the filter looks inside, and one it does not (three tags).
var tagVariants = []struct {
	name  string
	tpids []uint16
	deep  bool // more tags than the filter looks inside: always dropped
}{
	{"untagged", nil, false},
	{"802.1Q", []uint16{etherTypeDot1Q}, false},
	{"802.1ad", []uint16{etherTypeQinQ}, false},
	{"0x9100", []uint16{etherTypeQinQOld}, false},
	{"QinQ 802.1ad+802.1Q", []uint16{etherTypeQinQ, etherTypeDot1Q}, false},
	{"three tags", []uint16{etherTypeQinQ, etherTypeDot1Q, etherTypeDot1Q}, true},
}

// ndFrame builds an ICMPv6 neighbour solicitation from testMAC.
func ndFrame(t testing.TB) []byte {
	t.Helper()
	src := synth.LinkLocal(testMAC)
	eth := &layers.Ethernet{SrcMAC: testMAC, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: net.ParseIP("ff02::1:ff00:1")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	_ = icmp.SetNetworkLayerForChecksum(ip)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::1")}
	return serialize(t, eth, ip, icmp, ns)
}

// TestFilterAcceptsWhatTheDecoderNeeds runs the kernel filter in x/net/bpf's
// VM: frames the decoder turns into observations pass, bulk traffic does not,
// untagged and inside one or two VLAN tags alike; frames with three tags are
// dropped. A tagged frame is judged by what it carries, not passed for its tag.
func TestFilterAcceptsWhatTheDecoderNeeds(t *testing.T) {
	vm := filterVM(t, Filter)
	mac := []byte(testMAC)
	tests := []struct {
		name   string
		frame  []byte
		accept bool
	}{
		{"dhcp discover", iosDiscover(t, 0), true},
		{"dhcp ack", serverAck(t, net.IPv4(10, 0, 0, 9)), true},
		{"dns query", dnsFrame(t, 40000, 53, false, "example.com"), true},
		{"dns reply", dnsFrame(t, 53, 40000, true, "example.com"), true},
		{"mdns", dnsFrame(t, 5353, 5353, false, "x.local"), true},
		{"arp", arpFrame(t, net.IPv4(10, 0, 0, 9)), true},
		{"dhcpv6 solicit", dhcpv6Frame(t, testMAC, 546, 547, synth.DHCPv6Solicit(7, mac, "h")), true},
		{"neighbour solicitation", ndFrame(t), true},
		{"dns over ipv6", udpTo(t, "2001:db8::53", 53, []byte("x")), true},
		{"other udp", dnsFrame(t, 40000, 443, false, "quic.example"), false},
		{"other udp over ipv6", udpTo(t, "2001:db8::9", 443, quic(0xc3)), false},
		{"tcp", tcpFrame(t), false},
		{"tcp syn", syn(t, "1.1.1.1", 853, 64), false},
	}
	for _, tt := range tests {
		for _, v := range tagVariants {
			f := retag(tt.frame, v.tpids...)
			n, err := vm.Run(f)
			if err != nil {
				t.Fatalf("%s, %s: %v", tt.name, v.name, err)
			}
			if want := tt.accept && !v.deep; (n > 0) != want {
				t.Errorf("%s, %s: filter returned %d, want accept=%v", tt.name, v.name, n, want)
			}
		}
	}
	// A tagged frame shorter than its headers is dropped, not accepted.
	for _, v := range tagVariants[1:] {
		f := retag(iosDiscover(t, 0), v.tpids...)
		if n, _ := vm.Run(f[:14+4*len(v.tpids)+10]); n != 0 {
			t.Errorf("%s: truncated frame accepted", v.name)
		}
	}
}

// TestFilterLength: the programs stay well inside the kernel's 4096
// instructions (and resolve proves every jump fits in 255).
func TestFilterLength(t *testing.T) {
	for name, f := range map[string]func() ([]bpf.RawInstruction, error){"Filter": Filter, "BypassFilter": BypassFilter} {
		raw, err := f()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d instructions", name, len(raw))
		if len(raw) > 1024 {
			t.Errorf("%s: %d instructions", name, len(raw))
		}
	}
}
