package capture

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const refDir = "../../../shared/reference/pcaps"

// summarize renders observations one per line for golden comparison.
func summarize(obs []daemon.Observation) string {
	var b strings.Builder
	for _, o := range obs {
		fmt.Fprintf(&b, "%s %s mac=%s vlan=%d ip=%s ttl=%d", o.At.UTC().Format(time.RFC3339Nano), o.Kind, o.MAC, o.VLAN, o.IP, o.TTL)
		if o.DNSName != "" {
			fmt.Fprintf(&b, " name=%s", o.DNSName)
		}
		if o.Hostname != "" {
			fmt.Fprintf(&b, " hostname=%q", o.Hostname)
		}
		if d := o.DHCP; d != nil {
			fmt.Fprintf(&b, " dhcp=%d opts=%v", d.MessageType, d.Options)
			if d.ParamList != nil {
				fmt.Fprintf(&b, " prl=%v", d.ParamList)
			}
			for _, kv := range [][2]string{{"vc", d.VendorClass}, {"host", d.Hostname}, {"fqdn", d.FQDN}, {"uc", d.UserClass}, {"req", d.RequestedIP}} {
				if kv[1] != "" {
					fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
				}
			}
			if d.ClientID != nil {
				fmt.Fprintf(&b, " cid=%x", d.ClientID)
			}
			if d.MaxMsgSize != 0 {
				fmt.Fprintf(&b, " maxmsg=%d", d.MaxMsgSize)
			}
			if d.CircuitID != nil || d.RemoteID != nil {
				fmt.Fprintf(&b, " circuit=%x remote=%x", d.CircuitID, d.RemoteID)
			}
			if d.IPv6OnlyPreferred {
				b.WriteString(" v6only")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("observations differ from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestReplayReferenceGolden replays real captures (pcap and pcapng, relayed and
// direct DHCP, htype 0, option 82/108/114) and pins every observation.
func TestReplayReferenceGolden(t *testing.T) {
	files := []string{
		"zeek/dhcp_time_and_nameserver.pcap",
		"zeek/hw-type0.pcap",
		"tcpdump-tests/dhcp-option-108.pcapng",
		"tcpdump-tests/dhcp-mud.pcap",
		"tcpdump-tests/dhcp-rfc3004.pcap",
		"tcpdump-tests/eapon1.pcap",
		"iot-sentinel/HueBridge__Setup-A-1-STA.pcap",
		"iot-sentinel/TP-LinkPlugHS110__Setup-A-1-STA.pcap",
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			path := filepath.Join(refDir, f)
			if _, err := os.Stat(path); err != nil {
				lab.Missing(t, "reference capture "+path)
			}
			obs, err := ReadFile(context.Background(), path)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if len(obs) == 0 {
				t.Fatal("no observations from a capture that contains DHCP")
			}
			name := strings.NewReplacer("/", "_", ".pcapng", "", ".pcap", "").Replace(f)
			checkGolden(t, name, summarize(obs))
		})
	}
}

// TestReplayMacOS108 checks the facts a user relies on in the macOS capture:
// private MAC, option 108 requested, the server's OFFER reported without a lease.
func TestReplayMacOS108(t *testing.T) {
	path := filepath.Join(refDir, "tcpdump-tests/dhcp-option-108.pcapng")
	if _, err := os.Stat(path); err != nil {
		lab.Missing(t, "reference capture "+path)
	}
	obs, err := ReadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var client, offer *daemon.Observation
	for i := range obs {
		o := &obs[i]
		if o.Kind != daemon.ObsDHCP || o.MAC != "42:b4:44:b4:f0:ee" {
			continue
		}
		switch o.DHCP.MessageType {
		case 1, 3:
			client = o
		case 2:
			offer = o
		}
	}
	if client == nil || offer == nil {
		t.Fatalf("want a client message and an OFFER for 42:b4:44:b4:f0:ee, got %s", summarize(obs))
	}
	if !client.DHCP.IPv6OnlyPreferred || !slices.Contains(client.DHCP.ParamList, 114) {
		t.Errorf("client param list %v: want 108 (IPv6-only preferred) and 114", client.DHCP.ParamList)
	}
	if client.TTL == 0 {
		t.Error("client TTL not recorded")
	}
	if offer.IP.IsValid() {
		t.Errorf("OFFER reported IP %v: an offer is not a lease", offer.IP)
	}
	if client.DHCP.Hostname != "MacBookPro" {
		t.Errorf("hostname %q, want MacBookPro", client.DHCP.Hostname)
	}
}

func TestReplayRejectsNonCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("this is not a capture file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Replay{Path: path}.Run(context.Background(), make(chan daemon.Observation, 1))
	if err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng file") {
		t.Fatalf("err = %v, want a clear not-a-capture error", err)
	}
}

func decodeAll(t testing.TB, frame []byte) ([]daemon.Observation, error) {
	var obs []daemon.Observation
	err := NewDecoder().Decode(frame, time.Unix(1700000000, 0), "eth1", func(o daemon.Observation) { obs = append(obs, o) })
	return obs, err
}

func TestDecodeVLANTaggedDHCP(t *testing.T) {
	for _, vlan := range []uint16{0, 1, 42, 4094} {
		t.Run(fmt.Sprint(vlan), func(t *testing.T) {
			obs, err := decodeAll(t, iosDiscover(t, vlan))
			if err != nil {
				t.Fatal(err)
			}
			if len(obs) != 1 {
				t.Fatalf("got %d observations, want 1", len(obs))
			}
			o := obs[0]
			if o.VLAN != vlan || o.MAC != "3c:22:fb:01:02:03" || o.Kind != daemon.ObsDHCP || o.Interface != "eth1" || o.TTL != 64 {
				t.Errorf("got vlan=%d mac=%s kind=%s iface=%s ttl=%d", o.VLAN, o.MAC, o.Kind, o.Interface, o.TTL)
			}
			d := o.DHCP
			if d.MessageType != 1 || d.Hostname != "Alices-iPhone" || d.MaxMsgSize != 1500 || !d.IPv6OnlyPreferred {
				t.Errorf("dhcp = %+v", d)
			}
			if want := []uint8{1, 121, 3, 6, 15, 108, 114, 119, 252}; !slices.Equal(d.ParamList, want) {
				t.Errorf("param list %v, want %v", d.ParamList, want)
			}
			if want := []uint8{53, 55, 57, 61, 51, 12}; !slices.Equal(d.Options, want) {
				t.Errorf("options %v, want wire order %v", d.Options, want)
			}
		})
	}
}

// TestDecodeDispatch pins what each kind of frame yields: the ports decide,
// not gopacket's registry, and uninteresting frames yield nothing.
func TestDecodeDispatch(t *testing.T) {
	tests := []struct {
		name  string
		frame func(t testing.TB) []byte
		want  string // summarize() of the observations, "" for none
	}{
		{"dns query", func(t testing.TB) []byte { return dnsFrame(t, 51515, 53, false, "Captive.Apple.com.") },
			"2023-11-14T22:13:20Z dns mac=3c:22:fb:01:02:03 vlan=0 ip=10.0.0.23 ttl=64 name=captive.apple.com\n"},
		{"dns reply to ephemeral port", func(t testing.TB) []byte { return dnsFrame(t, 53, 51515, true, "captive.apple.com") }, ""},
		{"dns response sent to port 53", func(t testing.TB) []byte { return dnsFrame(t, 5300, 53, true, "x.example") }, ""},
		{"dhcp on wrong ports", func(t testing.TB) []byte { return dnsFrame(t, 68, 5353, false, "x.local") }, ""},
		{"server ack", func(t testing.TB) []byte { return serverAck(t, net.IPv4(10, 0, 0, 23)) },
			"2023-11-14T22:13:20Z dhcp mac=3c:22:fb:01:02:03 vlan=0 ip=10.0.0.23 ttl=0 dhcp=5 opts=[]\n"},
		{"arp", func(t testing.TB) []byte { return arpFrame(t, net.IPv4(10, 0, 0, 23)) },
			"2023-11-14T22:13:20Z arp mac=3c:22:fb:01:02:03 vlan=0 ip=10.0.0.23 ttl=0\n"},
		{"arp probe", func(t testing.TB) []byte { return arpFrame(t, net.IPv4zero) },
			"2023-11-14T22:13:20Z arp mac=3c:22:fb:01:02:03 vlan=0 ip=invalid IP ttl=0\n"},
		{"tcp", tcpFrame, ""},
		{"requested ip", func(t testing.TB) []byte {
			return dhcpFrame(t, 0, layers.DHCPMsgTypeRequest, layers.NewDHCPOption(layers.DHCPOptRequestIP, []byte{10, 0, 0, 99}),
				layers.NewDHCPOption(layers.DHCPOptClassID, []byte("android-dhcp-13")))
		}, "2023-11-14T22:13:20Z dhcp mac=3c:22:fb:01:02:03 vlan=0 ip=10.0.0.99 ttl=64 dhcp=3 opts=[53 50 60] vc=\"android-dhcp-13\" req=\"10.0.0.99\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := decodeAll(t, tt.frame(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(obs); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestDecodeTaggedOffload: a frame whose tag the kernel stripped keeps the VLAN
// reported beside it, and an in-frame tag wins.
func TestDecodeTaggedOffload(t *testing.T) {
	var got []uint16
	d := NewDecoder()
	emit := func(o daemon.Observation) { got = append(got, o.VLAN) }
	if err := d.DecodeTagged(iosDiscover(t, 0), time.Time{}, "trunk0", 30, emit); err != nil {
		t.Fatal(err)
	}
	if err := d.DecodeTagged(iosDiscover(t, 12), time.Time{}, "trunk0", 30, emit); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint16{30, 12}) {
		t.Errorf("VLANs %v, want [30 12]", got)
	}
}

func TestDecodeMalformedDHCPIsAnError(t *testing.T) {
	frame := iosDiscover(t, 0)
	obs, err := decodeAll(t, frame[:14+20+8+100]) // IPv4/UDP lengths now lie
	if len(obs) != 0 {
		t.Errorf("truncated DHCP produced %d observations", len(obs))
	}
	if err == nil {
		t.Error("truncated DHCP frame: want an error, got nil")
	}
}

func TestFormatMAC(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0xAA, 0xbb, 0x0c, 0, 1, 0xff}, "aa:bb:0c:00:01:ff"},
		{make([]byte, 20), strings.Repeat("00:", 19) + "00"},
		{make([]byte, 21), strings.Repeat("00:", 20) + "00"},
	}
	for _, tt := range tests {
		if got := FormatMAC(tt.in); got != tt.want {
			t.Errorf("FormatMAC(%x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// referenceFrames returns up to max frames from a reference capture (for fuzz seeds).
func referenceFrames(tb testing.TB, rel string, max int) [][]byte {
	f, err := os.Open(filepath.Join(refDir, rel))
	if err != nil {
		return nil
	}
	defer f.Close()
	src, err := openCapture(bufioReader(f))
	if err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	var out [][]byte
	for len(out) < max {
		data, _, err := src.ZeroCopyReadPacketData()
		if err != nil {
			break
		}
		out = append(out, append([]byte(nil), data...))
	}
	return out
}

func FuzzDecode(f *testing.F) {
	for _, rel := range []string{"zeek/dhcp_time_and_nameserver.pcap", "zeek/hw-type0.pcap", "tcpdump-tests/dhcp-option-108.pcapng",
		"tcpdump-tests/dhcp-mud.pcap", "tcpdump-tests/dhcp-rfc3004.pcap", "iot-sentinel/HueBridge__Setup-A-1-STA.pcap"} {
		for _, fr := range referenceFrames(f, rel, 40) {
			f.Add(fr)
		}
	}
	f.Add(iosDiscover(f, 7))
	f.Add(serverAck(f, net.IPv4(10, 0, 0, 5)))
	f.Add(dnsFrame(f, 4000, 53, false, "www.msftconnecttest.com"))
	f.Add(arpFrame(f, net.IPv4(10, 0, 0, 5)))
	f.Add(tcpFrame(f))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = d.Decode(data, time.Time{}, "fuzz", func(o daemon.Observation) {
			if o.Kind == 0 || (o.Kind != daemon.ObsARP && o.MAC == "") {
				t.Fatalf("observation without kind or MAC: %+v", o)
			}
		})
	})
}

func benchDecode(b *testing.B, frame []byte, wantObs bool) {
	d := NewDecoder()
	n := 0
	emit := func(daemon.Observation) { n++ }
	at := time.Unix(1700000000, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(frame, at, "eth0", emit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if (n > 0) != wantObs {
		b.Fatalf("observations = %d, want some: %v", n, wantObs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkDecode(b *testing.B) {
	b.Run("dhcp-discover", func(b *testing.B) { benchDecode(b, iosDiscover(b, 0), true) })
	b.Run("dhcp-discover-vlan", func(b *testing.B) { benchDecode(b, iosDiscover(b, 42), true) })
	b.Run("dns-query", func(b *testing.B) { benchDecode(b, dnsFrame(b, 51515, 53, false, "gsp64-ssl.ls.apple.com"), true) })
	b.Run("dns-reply", func(b *testing.B) { benchDecode(b, dnsFrame(b, 53, 51515, true, "gsp64-ssl.ls.apple.com"), false) })
	b.Run("tcp", func(b *testing.B) { benchDecode(b, tcpFrame(b), false) })
}

// TestDecodeNoAllocsWithoutObservation: frames that yield nothing must not allocate
// (a gateway sees millions of them).
func TestDecodeNoAllocsWithoutObservation(t *testing.T) {
	d := NewDecoder()
	emit := func(daemon.Observation) { t.Fatal("unexpected observation") }
	for name, frame := range map[string][]byte{"tcp": tcpFrame(t), "dns-reply": dnsFrame(t, 53, 40000, true, "example.com")} {
		allocs := testing.AllocsPerRun(200, func() { _ = d.Decode(frame, time.Time{}, "eth0", emit) })
		if allocs != 0 {
			t.Errorf("%s: %.1f allocs per frame, want 0", name, allocs)
		}
	}
}

// BenchmarkReplay measures file replay end to end (read, decode, channel send).
func BenchmarkReplay(b *testing.B) {
	path := filepath.Join(refDir, "iot-sentinel/EdimaxCam1__Setup-A-1-STA.pcap")
	frames := len(referenceFrames(b, "iot-sentinel/EdimaxCam1__Setup-A-1-STA.pcap", 1<<20))
	if frames == 0 {
		lab.Missing(b, "reference capture "+path)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ReadFile(context.Background(), path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "packets/s")
}
