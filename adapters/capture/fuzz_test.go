package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// udpPayloads returns the payloads of UDP datagrams from port in a reference capture.
func udpPayloads(tb testing.TB, rel string, port layers.UDPPort, max int) [][]byte {
	var out [][]byte
	for _, fr := range referenceFrames(tb, rel, 1<<16) {
		p := gopacket.NewPacket(fr, layers.LayerTypeEthernet, gopacket.NoCopy)
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && u.SrcPort == port && len(out) < max {
			out = append(out, append([]byte(nil), u.Payload...))
		}
	}
	return out
}

func FuzzMDNSHostnames(f *testing.F) {
	for _, rel := range []string{"iot-sentinel/HueBridge__Setup-A-1-STA.pcap", "iot-sentinel/D-LinkCam__Setup-A-1-STA.pcap", "iot-sentinel/Lightify__Setup-C-1-STA.pcap"} {
		for _, p := range udpPayloads(f, rel, 5353, 30) {
			f.Add(p, []byte{10, 10, 10, 6})
		}
	}
	g := synth.New(1, 10)
	for dev := range 3 {
		fr, err := g.Frame(synth.MDNSReply, dev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fr[14+4+20+8:], []byte(synth.DeviceIP(dev)))
	}
	f.Fuzz(func(t *testing.T, msg, src []byte) {
		a, ok := netip.AddrFromSlice(src)
		if !ok {
			a = netip.IPv4Unspecified()
		}
		names, err := MDNSHostnames(msg, a)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		if len(names) > maxMDNSHostnames {
			t.Fatalf("%d host names, limit %d", len(names), maxMDNSHostnames)
		}
		for _, n := range names {
			if n == "" || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("host name %q empty or with control characters", n)
			}
		}
	})
}

func FuzzParseDHCPv6(f *testing.F) {
	mac := []byte{0x3c, 0x22, 0xfb, 1, 2, 3}
	solicit := synth.DHCPv6Solicit(7, mac, "seed-host")
	f.Add(solicit)
	f.Add(relayForw(solicit, synth.LinkLocal(mac), mac))
	f.Add(relayForw(relayForw(solicit, synth.LinkLocal(mac), nil), synth.LinkLocal(mac), nil))
	f.Add([]byte{11, 0, 0, 1, 0, 39, 0, 1, 0})
	ll := netip.MustParseAddr("fe80::1")
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, ok, err := ParseDHCPv6(msg, mac, ll)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("error %v wraps neither ErrMalformed nor ErrTruncated", err)
		}
		if ok && (err != nil || m.MAC == nil || !m.Addr.IsValid()) {
			t.Fatalf("ok with err %v, MAC %x, addr %v", err, m.MAC, m.Addr)
		}
	})
}

// FuzzReplay feeds arbitrary bytes as a capture file: Replay must never
// panic, and every error it returns must name the file.
func FuzzReplay(f *testing.F) {
	for _, rel := range []string{"zeek/hw-type0.pcap", "tcpdump-tests/dhcp-option-108.pcapng", "tcpdump-tests/dhcp-rfc3004.pcap", "iot-sentinel/HueBridge__Setup-A-1-STA.pcap"} {
		b, err := os.ReadFile(filepath.Join(refDir, rel))
		if err != nil {
			continue
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("not a capture"))
	// pcapng whose lengths pcapgo's NgReader used to allocate (TestReplayBoundsPcapngLengths)
	frame := iosDiscover(f, 0)
	le := func() *ngFile { return &ngFile{order: binary.LittleEndian} }
	f.Add(le().shb().idb(1, 0xffffffff).epb(0, 1, uint32(len(frame)), frame).b)
	f.Add(le().shb().idb(1, 0).spb(0xfffffff0, frame).b)
	f.Add(le().shb().idb(1, 65535).epb(0, 1, 0xffffffff, frame).b)
	g := &ngFile{order: binary.BigEndian}
	f.Add(g.shb().idb(1, 96, g.opt(9, []byte{0x80 | 20}), g.opt(14, g.order.AppendUint64(nil, 100))).pb(0, 9<<20, frame).spb(uint32(len(frame)), frame).b)
	path := filepath.Join(f.TempDir(), "fuzz.pcap")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Replay{Path: path}.ForEach(context.Background(), func(o daemon.Observation) error {
			if o.Kind == 0 || o.MAC == "" {
				t.Fatalf("observation without kind or MAC: %+v", o)
			}
			return nil
		})
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
