package capture

import (
	"net"
	"testing"

	"golang.org/x/net/bpf"
)

// TestFilterAcceptsWhatTheDecoderNeeds runs the kernel filter in x/net/bpf's
// VM: frames the decoder turns into observations pass, bulk traffic does not.
func TestFilterAcceptsWhatTheDecoderNeeds(t *testing.T) {
	raw, err := Filter()
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
	tests := []struct {
		name   string
		frame  []byte
		accept bool
	}{
		{"dhcp discover", iosDiscover(t, 0), true},
		{"dhcp discover, 802.1Q tagged", iosDiscover(t, 42), true},
		{"dhcp ack", serverAck(t, net.IPv4(10, 0, 0, 9)), true},
		{"dns query", dnsFrame(t, 40000, 53, false, "example.com"), true},
		{"dns reply", dnsFrame(t, 53, 40000, true, "example.com"), true},
		{"mdns", dnsFrame(t, 5353, 5353, false, "x.local"), true},
		{"arp", arpFrame(t, net.IPv4(10, 0, 0, 9)), true},
		{"other udp", dnsFrame(t, 40000, 443, false, "quic.example"), false},
		{"tcp", tcpFrame(t), false},
	}
	for _, tt := range tests {
		n, err := vm.Run(tt.frame)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (n > 0) != tt.accept {
			t.Errorf("%s: filter returned %d, want accept=%v", tt.name, n, tt.accept)
		}
	}
}
