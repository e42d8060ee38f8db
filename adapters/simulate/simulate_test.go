package simulate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatalf("load Europe/London: %v", err)
	}
	return loc
}

// testDay is a Tuesday in the autumn term (BST).
func testDay(t testing.TB) time.Time { return time.Date(2026, 9, 8, 0, 0, 0, 0, london(t)) }

func newSchool(t testing.TB, seed int64, day time.Time) *School {
	t.Helper()
	s, err := New(Options{Seed: seed, Day: day})
	if err != nil {
		t.Fatalf("New(seed %d, %s): %v", seed, day.Format(time.DateOnly), err)
	}
	return s
}

func allFrames(t testing.TB, s *School) []Frame {
	t.Helper()
	var out []Frame
	for f, err := range s.Frames() {
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
	return out
}

func TestNewValidatesOptions(t *testing.T) {
	loc := london(t)
	tests := []struct {
		name    string
		opts    Options
		wantErr string // "" for success
	}{
		{"default size on a school day", Options{Day: time.Date(2026, 9, 8, 0, 0, 0, 0, loc)}, ""},
		{"minimum size", Options{Devices: MinDevices, Day: time.Date(2026, 9, 8, 0, 0, 0, 0, loc)}, ""},
		{"maximum size", Options{Devices: MaxDevices, Day: time.Date(2026, 9, 8, 0, 0, 0, 0, loc)}, ""},
		{"GMT school day", Options{Day: time.Date(2027, 1, 12, 9, 0, 0, 0, loc)}, ""},
		{"too few devices", Options{Devices: MinDevices - 1, Day: time.Date(2026, 9, 8, 0, 0, 0, 0, loc)}, "devices"},
		{"too many devices", Options{Devices: MaxDevices + 1, Day: time.Date(2026, 9, 8, 0, 0, 0, 0, loc)}, "devices"},
		{"no day", Options{}, "Day is required"},
		{"saturday", Options{Day: time.Date(2026, 9, 12, 0, 0, 0, 0, loc)}, "weekend"},
		{"half term", Options{Day: time.Date(2026, 10, 27, 0, 0, 0, 0, loc)}, "holiday"},
		{"INSET day", Options{Day: time.Date(2027, 1, 4, 0, 0, 0, 0, loc)}, "INSET"},
		{"summer holidays", Options{Day: time.Date(2026, 8, 20, 0, 0, 0, 0, loc)}, "outside every term"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				want := tc.opts.Devices
				if want == 0 {
					want = DefaultDevices
				}
				if got := len(s.Devices()); got != want {
					t.Errorf("got %d devices, want %d", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestSchoolDay(t *testing.T) {
	loc := london(t)
	tests := []struct {
		from, want string
	}{
		{"2026-09-08", "2026-09-08"}, // a Tuesday in term
		{"2026-09-12", "2026-09-14"}, // Saturday → Monday
		{"2026-10-24", "2026-11-02"}, // weekend, half term, weekend
		{"2026-09-01", "2026-09-03"}, // before term, then the INSET day
		{"2026-12-19", "2027-01-05"}, // Christmas, then the INSET day on the 4th
	}
	for _, tc := range tests {
		from, err := time.ParseInLocation(time.DateOnly, tc.from, loc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := SchoolDay(from)
		if err != nil {
			t.Fatalf("SchoolDay(%s): %v", tc.from, err)
		}
		if got.Format(time.DateOnly) != tc.want || got.Location().String() != "Europe/London" {
			t.Errorf("SchoolDay(%s) = %s, want %s in Europe/London", tc.from, got, tc.want)
		}
	}
}

func TestSameSeedSameFrames(t *testing.T) {
	day := testDay(t)
	a, err := New(Options{Seed: 7, Day: day})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Seed: 7, Day: day})
	if err != nil {
		t.Fatal(err)
	}
	fa, fb := allFrames(t, a), allFrames(t, b)
	if len(fa) != len(fb) {
		t.Fatalf("same seed: %d frames vs %d", len(fa), len(fb))
	}
	for i := range fa {
		if !fa[i].At.Equal(fb[i].At) || !bytes.Equal(fa[i].Data, fb[i].Data) {
			t.Fatalf("same seed: frame %d differs", i)
		}
	}
	if !slices.EqualFunc(a.Devices(), b.Devices(), func(x, y DeviceSpec) bool { return x.MAC == y.MAC && x.Hostname == y.Hostname }) {
		t.Error("same seed: different devices")
	}
	c, err := New(Options{Seed: 8, Day: day})
	if err != nil {
		t.Fatal(err)
	}
	if c.Devices()[0].MAC == a.Devices()[0].MAC {
		t.Error("different seeds gave the same first device")
	}
}

// ones is the ones'-complement sum of b (RFC 1071).
func ones(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// decoded is one frame taken apart the way the capture decoder will see it.
type decoded struct {
	eth  *layers.Ethernet
	tag  *layers.Dot1Q
	ip   *layers.IPv4
	udp  *layers.UDP
	dhcp *layers.DHCPv4
	dns  *layers.DNS
	arp  *layers.ARP
}

// decode parses f and checks its structure and checksums.
func decode(t *testing.T, i int, f Frame) decoded {
	t.Helper()
	p := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("frame %d: decode error: %v", i, el.Error())
	}
	var d decoded
	var ok bool
	if d.eth, ok = p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !ok || d.eth.EthernetType != layers.EthernetTypeDot1Q {
		t.Fatalf("frame %d: not Ethernet II with an 802.1Q tag", i)
	}
	if d.tag, ok = p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); !ok {
		t.Fatalf("frame %d: no 802.1Q tag", i)
	}
	if len(f.Data) < ethMinBytes {
		t.Fatalf("frame %d: %d bytes, below the Ethernet minimum", i, len(f.Data))
	}
	if d.arp, ok = p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		return d
	}
	if d.ip, ok = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); !ok {
		t.Fatalf("frame %d: neither ARP nor IPv4", i)
	}
	if d.udp, ok = p.Layer(layers.LayerTypeUDP).(*layers.UDP); !ok {
		t.Fatalf("frame %d: not UDP", i)
	}
	if got := fold(ones(0, d.ip.Contents)); got != 0xffff {
		t.Fatalf("frame %d: bad IPv4 header checksum", i)
	}
	seg := append(append([]byte(nil), d.udp.Contents...), d.udp.Payload...)
	pseudo := append(append(append([]byte(nil), d.ip.SrcIP.To4()...), d.ip.DstIP.To4()...), 0, byte(layers.IPProtocolUDP), byte(len(seg)>>8), byte(len(seg)))
	if d.udp.Checksum == 0 || fold(ones(ones(0, pseudo), seg)) != 0xffff {
		t.Fatalf("frame %d: bad UDP checksum", i)
	}
	d.dhcp, _ = p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
	d.dns, _ = p.Layer(layers.LayerTypeDNS).(*layers.DNS)
	if d.dhcp == nil && d.dns == nil {
		t.Fatalf("frame %d: UDP %d→%d is neither DHCP nor DNS", i, d.udp.SrcPort, d.udp.DstPort)
	}
	return d
}

// yamlZones reads school.yaml's zones: name → subnets.
func yamlZones(t *testing.T) map[string][]netip.Prefix {
	t.Helper()
	var cfg struct {
		Zones []struct {
			Name    string   `yaml:"name"`
			Subnets []string `yaml:"subnets"`
		} `yaml:"zones"`
	}
	if err := yaml.Unmarshal(Embedded(), &cfg); err != nil {
		t.Fatalf("parse embedded school.yaml: %v", err)
	}
	out := map[string][]netip.Prefix{}
	for _, z := range cfg.Zones {
		for _, s := range z.Subnets {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				t.Fatalf("zone %s subnet %q: %v", z.Name, s, err)
			}
			out[z.Name] = append(out[z.Name], p)
		}
	}
	return out
}

// visitAt is the device's planned stay at time at.
func visitAt(d DeviceSpec, at time.Time) (Visit, bool) {
	var v Visit
	found := false
	for _, x := range d.Visits {
		if x.At.After(at) {
			break
		}
		v, found = x, true
	}
	return v, found && at.Before(d.Leave)
}

func dhcpOpt(m *layers.DHCPv4, c layers.DHCPOpt) ([]byte, bool) {
	for _, o := range m.Options {
		if o.Type == c {
			return o.Data, true
		}
	}
	return nil, false
}

// TestFramesFollowNetworkPlan decodes every frame of the day and checks it against the
// ground truth and school.yaml: a valid 802.1Q frame with good checksums, the device's
// population VLAN, an address in the subnet of the zone the device is planned to be
// in, the gateway at x.y.z.1, the OS's IP TTL, frames in time order.
func TestFramesFollowNetworkPlan(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	zones := yamlZones(t)
	byMAC := map[string]DeviceSpec{}
	for _, d := range s.Devices() {
		byMAC[d.MAC] = d
	}
	wantVLAN := map[string]uint16{"pupil": 30, "visitor": 40}
	frames := allFrames(t, s)
	if n := len(frames); n < 5000 || n > 60000 {
		t.Errorf("%d frames in the day; want a few thousand to tens of thousands", n)
	}
	var prev time.Time
	for i, f := range frames {
		if f.At.Before(prev) {
			t.Fatalf("frame %d at %s is before frame %d at %s", i, f.At, i-1, prev)
		}
		prev = f.At
		d := decode(t, i, f)
		client := d.eth.SrcMAC.String()
		if d.dhcp != nil && d.dhcp.Operation == layers.DHCPOpReply {
			client = d.eth.DstMAC.String()
		}
		dev, ok := byMAC[client]
		if !ok {
			t.Fatalf("frame %d: MAC %s is no planned device", i, client)
		}
		v, ok := visitAt(dev, f.At)
		if !ok {
			t.Fatalf("frame %d: %s sends at %s outside its planned stay", i, client, f.At)
		}
		if d.tag.VLANIdentifier != dev.VLAN {
			t.Fatalf("frame %d: VLAN %d, device %s is on %d", i, d.tag.VLANIdentifier, client, dev.VLAN)
		}
		if want, ok := wantVLAN[dev.Role]; ok && !dev.Managed && dev.VLAN != want {
			t.Fatalf("device %s (%s) on VLAN %d, want %d", client, dev.Role, dev.VLAN, want)
		}
		if dev.Managed && dev.VLAN != 50 {
			t.Fatalf("school device %s on VLAN %d, want 50", client, dev.VLAN)
		}
		inZone := slices.ContainsFunc(zones[v.Zone], func(p netip.Prefix) bool { return p.Contains(v.IP) })
		if !inZone || v.IP.As4()[1] != byte(dev.VLAN) {
			t.Fatalf("device %s planned at %s in %s, which is not in school.yaml zone %s / VLAN %d", client, v.IP, v.Zone, v.Zone, dev.VLAN)
		}
		gw := gateway(v.IP)
		var src netip.Addr
		switch {
		case d.arp != nil:
			src, _ = netip.AddrFromSlice(d.arp.SourceProtAddress)
			if dst, _ := netip.AddrFromSlice(d.arp.DstProtAddress); dst != gw {
				t.Fatalf("frame %d: ARP for %s, want the gateway %s", i, dst, gw)
			}
		case d.dns != nil:
			src, _ = netip.AddrFromSlice(d.ip.SrcIP.To4())
			if dst, _ := netip.AddrFromSlice(d.ip.DstIP.To4()); dst != gw || d.udp.DstPort != 53 || d.dns.QR || len(d.dns.Questions) != 1 {
				t.Fatalf("frame %d: DNS to %s:%d, want one query to %s:53", i, dst, d.udp.DstPort, gw)
			}
		case d.dhcp.Operation == layers.DHCPOpReply:
			if from, _ := netip.AddrFromSlice(d.ip.SrcIP.To4()); from != gw || d.udp.SrcPort != 67 || d.udp.DstPort != 68 {
				t.Fatalf("frame %d: DHCP reply from %s:%d, want %s:67 → 68", i, from, d.udp.SrcPort, gw)
			}
			src, _ = netip.AddrFromSlice(d.dhcp.YourClientIP.To4())
		default:
			if !d.ip.SrcIP.Equal(net.IPv4zero) || !d.ip.DstIP.Equal(net.IPv4bcast) || d.udp.SrcPort != 68 || d.udp.DstPort != 67 {
				t.Fatalf("frame %d: DHCP client message %s:%d → %s:%d, want 0.0.0.0:68 → 255.255.255.255:67", i, d.ip.SrcIP, d.udp.SrcPort, d.ip.DstIP, d.udp.DstPort)
			}
			src = v.IP
			if req, ok := dhcpOpt(d.dhcp, layers.DHCPOptRequestIP); ok {
				src, _ = netip.AddrFromSlice(req)
			}
		}
		if src != v.IP {
			t.Fatalf("frame %d: %s uses %s at %s, planned %s in %s", i, client, src, f.At.Format(time.TimeOnly), v.IP, v.Zone)
		}
		if d.ip != nil && !d.ip.SrcIP.Equal(net.IP(gw.AsSlice())) {
			want := uint8(64)
			if dev.OS == "windows" {
				want = 128
			}
			if d.ip.TTL != want {
				t.Fatalf("frame %d: %s (%s) sends with TTL %d, want %d", i, client, dev.OS, d.ip.TTL, want)
			}
		}
	}
}

// TestEveryDeviceSeenEarly: the demo (speed 120) must show 300+ devices within 40 real
// seconds, i.e. 80 simulated minutes; we want a full DHCP exchange and a DNS query
// from every device within the first 70.
func TestEveryDeviceSeenEarly(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	limit := s.Start().Add(70 * time.Minute)
	type seen struct{ msgs, dns int }
	got := map[string]*seen{}
	for i, f := range allFrames(t, s) {
		if !f.At.Before(limit) {
			break
		}
		d := decode(t, i, f)
		mac := d.eth.SrcMAC.String()
		if d.dhcp != nil && d.dhcp.Operation == layers.DHCPOpReply {
			mac = d.eth.DstMAC.String()
		}
		if got[mac] == nil {
			got[mac] = &seen{}
		}
		switch {
		case d.dhcp != nil:
			got[mac].msgs++
		case d.dns != nil:
			got[mac].dns++
		}
	}
	full := 0
	for _, g := range got {
		if g.msgs >= 4 && g.dns >= 1 {
			full++
		}
	}
	if full < 300 || full != len(s.Devices()) {
		t.Errorf("%d of %d devices did DHCP and DNS before %s; want all, and at least 300", full, len(s.Devices()), limit.Format(time.TimeOnly))
	}
}

func TestDeviceMix(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	devs := s.Devices()
	kinds := map[string]int{}
	count := func(f func(DeviceSpec) bool) int {
		n := 0
		for _, d := range devs {
			if f(d) {
				n++
			}
		}
		return n
	}
	for _, d := range devs {
		kinds[d.Kind]++
		locallyAdministered := mustMAC(t, d.MAC)[0]&0x02 != 0
		if locallyAdministered != d.RandomizedMAC {
			t.Errorf("%s: RandomizedMAC %v but the address says %v", d.MAC, d.RandomizedMAC, locallyAdministered)
		}
		if personal := !d.Managed && (d.Kind == "phone" || d.OS == "watchos" || d.OS == "wearos"); personal && !d.RandomizedMAC {
			t.Errorf("personal %s %s uses its IEEE address; iOS 14+/Android 10+ randomize per network", d.OS, d.Kind)
		}
		if d.Managed && d.RandomizedMAC {
			t.Errorf("school device %s uses a random address", d.AssetTag)
		}
	}
	// Every kind the policy names (OSS-1) is present.
	for _, k := range []string{"phone", "smartwatch", "fitness-tracker", "tablet", "laptop", "games-console", "e-reader"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the mix %v", k, kinds)
		}
	}
	tests := []struct {
		name     string
		match    func(DeviceSpec) bool
		min, max int
	}{
		{"pupil phones", func(d DeviceSpec) bool { return d.VLAN == 30 && d.Kind == "phone" }, 150, 180},
		{"pupil iPhones", func(d DeviceSpec) bool { return d.VLAN == 30 && d.OS == "ios" }, 80, 98},
		{"pupil watches and trackers", func(d DeviceSpec) bool {
			return d.VLAN == 30 && (d.Kind == "smartwatch" || d.Kind == "fitness-tracker")
		}, 20, 30},
		{"pupil games consoles", func(d DeviceSpec) bool { return d.VLAN == 30 && d.Kind == "games-console" }, 1, 1},
		{"pupil e-readers", func(d DeviceSpec) bool { return d.VLAN == 30 && d.Kind == "e-reader" }, 1, 1},
		{"staff phones", func(d DeviceSpec) bool { return d.VLAN == 20 && d.Kind == "phone" }, 35, 45},
		{"school Windows laptops", func(d DeviceSpec) bool { return d.Managed && d.OS == "windows" }, 40, 50},
		{"Chromebooks", func(d DeviceSpec) bool { return d.Managed && d.OS == "chromeos" }, 25, 35},
		{"school iPads", func(d DeviceSpec) bool { return d.Managed && d.OS == "ipados" && d.Kind == "tablet" }, 10, 14},
		{"visitor phones", func(d DeviceSpec) bool { return d.VLAN == 40 && d.Kind == "phone" }, 5, 8},
		{"office staff phones", func(d DeviceSpec) bool { return d.Role == "staff-office" }, 6, 6},
		{"SLT phones", func(d DeviceSpec) bool { return d.Role == "slt" }, 3, 3},
	}
	for _, tc := range tests {
		if n := count(tc.match); n < tc.min || n > tc.max {
			t.Errorf("%s: %d, want %d..%d", tc.name, n, tc.min, tc.max)
		}
	}
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil {
		t.Fatalf("parse MAC %q: %v", s, err)
	}
	return hw
}

func TestRegister(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	reg := s.Register()
	byMAC := map[string]DeviceSpec{}
	managed := 0
	for _, d := range s.Devices() {
		byMAC[d.MAC] = d
		if d.Managed {
			managed++
		}
	}
	seen := map[string]bool{}
	tags := map[string]bool{}
	roles := map[string]int{}
	for _, e := range reg {
		d, ok := byMAC[e.MAC]
		if !ok {
			t.Fatalf("register entry %s is no device", e.MAC)
		}
		if seen[e.MAC] {
			t.Fatalf("register names %s twice", e.MAC)
		}
		seen[e.MAC] = true
		roles[e.Role]++
		if e.Managed != d.Managed || e.Role != d.Role || e.Owner == "" {
			t.Errorf("register entry %+v disagrees with device %+v", e, d)
		}
		if e.AssetTag != "" && tags[e.AssetTag] {
			t.Errorf("asset tag %s used twice", e.AssetTag)
		}
		tags[e.AssetTag] = true
		if e.Managed && (e.AssetTag == "" || !strings.HasPrefix(e.Owner, "ICT-") || (e.Kind != "laptop" && e.Kind != "tablet")) {
			t.Errorf("school device entry %+v: want an asset tag, an ICT-nnnn owner, kind laptop or tablet", e)
		}
	}
	if got := len(reg) - roles["staff-office"] - roles["slt"]; got != managed {
		t.Errorf("register has %d school devices, the school has %d", got, managed)
	}
	if roles["staff-office"] != 6 || roles["slt"] != 3 {
		t.Errorf("register roles %v: want 6 staff-office and 3 slt", roles)
	}
}

// TestDHCPFingerprints checks the first DISCOVER and REQUEST of one device of each OS
// against what that OS sends (see archetypes.go for the sources).
func TestDHCPFingerprints(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	tests := []struct {
		os                 string
		discover, request  []layers.DHCPOpt // with option 12 when the device sends a host name
		params             []byte
		vendorClass        string // prefix
		maxMsg             uint16 // 0 when option 57 is not sent
		wantHostnamePrefix string // "" when no device of this OS sends one
	}{
		{"ios", []layers.DHCPOpt{53, 55, 57, 61, 51, 12}, []layers.DHCPOpt{53, 55, 57, 61, 50, 54, 51, 12}, []byte{1, 121, 3, 6, 15, 108, 114, 119, 252}, "", 1500, ""},
		{"ipados", []layers.DHCPOpt{53, 55, 57, 61, 51, 12}, []layers.DHCPOpt{53, 55, 57, 61, 50, 54, 51, 12}, []byte{1, 121, 3, 6, 15, 108, 114, 119, 252}, "", 1500, "HMA-iPad-"},
		{"watchos", []layers.DHCPOpt{53, 55, 57, 61, 51, 12}, []layers.DHCPOpt{53, 55, 57, 61, 50, 54, 51, 12}, []byte{1, 121, 3, 6, 15, 108, 114, 119, 252}, "", 1500, "Apple-Watch"},
		{"android", []layers.DHCPOpt{53, 61, 57, 60, 12, 55}, []layers.DHCPOpt{53, 61, 50, 54, 57, 60, 12, 55}, []byte{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108}, "android-dhcp-1", 1500, ""},
		{"wearos", []layers.DHCPOpt{53, 61, 57, 60, 12, 55}, []layers.DHCPOpt{53, 61, 50, 54, 57, 60, 12, 55}, []byte{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108}, "android-dhcp-13", 1500, "Galaxy-Watch5"},
		{"windows", []layers.DHCPOpt{53, 61, 12, 60, 55}, []layers.DHCPOpt{53, 61, 50, 54, 12, 81, 60, 55}, []byte{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252}, "MSFT 5.0", 0, ""},
		{"chromeos", []layers.DHCPOpt{53, 61, 57, 60, 12, 55}, []layers.DHCPOpt{53, 61, 50, 54, 57, 60, 12, 55}, []byte{1, 121, 33, 3, 6, 12, 15, 26, 28, 51, 54, 58, 59, 119, 252}, "chromeos", 1500, "HMA-CB-"},
		{"nintendo", []layers.DHCPOpt{53, 57, 55}, []layers.DHCPOpt{53, 50, 54, 57, 55}, []byte{1, 3, 6, 28}, "", 1500, ""},
		{"kindle", []layers.DHCPOpt{53, 61, 57, 55, 60}, []layers.DHCPOpt{53, 61, 50, 54, 57, 55, 60}, []byte{1, 3, 6, 12, 15, 28, 42}, "udhcp 1.28.3", 576, ""},
		{"fitbit", []layers.DHCPOpt{53, 57, 55}, []layers.DHCPOpt{53, 57, 50, 54, 55}, []byte{1, 3, 28, 6}, "", 1500, ""},
	}
	osOf := map[string]DeviceSpec{}
	for _, d := range s.Devices() {
		osOf[d.MAC] = d
	}
	type firstMsgs struct{ discover, request *layers.DHCPv4 }
	first := map[string]*firstMsgs{}
	for i, f := range allFrames(t, s) {
		d := decode(t, i, f)
		if d.dhcp == nil || d.dhcp.Operation != layers.DHCPOpRequest {
			continue
		}
		mac := d.eth.SrcMAC.String()
		if first[mac] == nil {
			first[mac] = &firstMsgs{}
		}
		mt, _ := dhcpOpt(d.dhcp, layers.DHCPOptMessageType)
		switch layers.DHCPMsgType(mt[0]) {
		case layers.DHCPMsgTypeDiscover:
			if first[mac].discover == nil {
				first[mac].discover = d.dhcp
			}
		case layers.DHCPMsgTypeRequest:
			if first[mac].request == nil {
				first[mac].request = d.dhcp
			}
		}
	}
	without12 := func(codes []layers.DHCPOpt) []layers.DHCPOpt {
		return slices.DeleteFunc(slices.Clone(codes), func(c layers.DHCPOpt) bool { return c == 12 || c == 81 })
	}
	for _, tc := range tests {
		t.Run(tc.os, func(t *testing.T) {
			n, named := 0, 0
			for mac, m := range first {
				dev := osOf[mac]
				if dev.OS != tc.os {
					continue
				}
				n++
				if m.discover == nil || m.request == nil {
					t.Fatalf("%s: no DISCOVER/REQUEST", mac)
				}
				wantD, wantR := tc.discover, tc.request
				if dev.Hostname == "" {
					wantD, wantR = without12(wantD), without12(wantR)
				} else {
					named++
				}
				for _, c := range []struct {
					msg  *layers.DHCPv4
					want []layers.DHCPOpt
				}{{m.discover, wantD}, {m.request, wantR}} {
					var got []layers.DHCPOpt
					for _, o := range c.msg.Options {
						got = append(got, o.Type)
					}
					if !slices.Equal(got, c.want) {
						t.Fatalf("%s (%s): options %v, want %v", mac, dev.Hostname, got, c.want)
					}
					if p, _ := dhcpOpt(c.msg, 55); !bytes.Equal(p, tc.params) {
						t.Fatalf("%s: option 55 %v, want %v", mac, p, tc.params)
					}
					if v, _ := dhcpOpt(c.msg, 60); !strings.HasPrefix(string(v), tc.vendorClass) {
						t.Fatalf("%s: vendor class %q, want %q…", mac, v, tc.vendorClass)
					}
					if v, ok := dhcpOpt(c.msg, 57); ok != (tc.maxMsg != 0) || (ok && binary.BigEndian.Uint16(v) != tc.maxMsg) {
						t.Fatalf("%s: option 57 %v, want %d", mac, v, tc.maxMsg)
					}
					if v, ok := dhcpOpt(c.msg, 12); ok && (string(v) != dev.Hostname || !strings.HasPrefix(dev.Hostname, tc.wantHostnamePrefix)) {
						t.Fatalf("%s: host name %q, planned %q", mac, v, dev.Hostname)
					}
					if v, ok := dhcpOpt(c.msg, 61); ok && !bytes.Equal(v, append([]byte{1}, mustMAC(t, mac)...)) {
						t.Fatalf("%s: client id %x, want 01+MAC", mac, v)
					}
					if !bytes.Equal(c.msg.ClientHWAddr, mustMAC(t, mac)) || c.msg.HardwareLen != 6 {
						t.Fatalf("%s: chaddr %s", mac, c.msg.ClientHWAddr)
					}
				}
			}
			if n == 0 {
				t.Fatalf("no %s device in the day", tc.os)
			}
			if slices.Contains(tc.discover, 12) && tc.os != "windows" && tc.os != "chromeos" && tc.os != "ipados" && tc.os != "wearos" && named == n {
				t.Errorf("every %s device sends a host name; many send none", tc.os)
			}
		})
	}
}

// TestExpectedBreaches checks the ground truth the demo and the daemon's tests rely on:
// breaches of every alerting rule, including a critical exam-room one around 09:30,
// all inside pupil hours, each backed by the device's own traffic from that zone, and
// rule names, severities and clauses that agree with school.yaml.
func TestExpectedBreaches(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	loc := london(t)
	br := s.ExpectedBreaches()
	if len(br) == 0 {
		t.Fatal("no planned breaches")
	}
	day := testDay(t)
	from := time.Date(day.Year(), day.Month(), day.Day(), 8, 30, 0, 0, loc)
	until := time.Date(day.Year(), day.Month(), day.Day(), 15, 30, 0, 0, loc)

	var rules struct {
		Rules []struct {
			Name string `yaml:"name"`
			Then struct {
				Action   string   `yaml:"action"`
				Severity string   `yaml:"severity"`
				Clauses  []string `yaml:"clauses"`
			} `yaml:"then"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(Embedded(), &rules); err != nil {
		t.Fatal(err)
	}
	type want struct {
		severity string
		clauses  []string
	}
	yamlRules := map[string]want{}
	for _, r := range rules.Rules {
		if r.Then.Action == "alert" {
			yamlRules[r.Name] = want{r.Then.Severity, r.Then.Clauses}
		}
	}

	perRule := map[string]int{}
	exam := false
	var prev time.Time
	for _, b := range br {
		if b.From.Before(prev) {
			t.Errorf("breaches not in time order at %s", b.From)
		}
		prev = b.From
		perRule[b.Rule]++
		w, ok := yamlRules[b.Rule]
		if !ok || w.severity != b.Severity || !slices.Equal(w.clauses, b.Clauses) {
			t.Errorf("breach %+v: school.yaml says rule %q is %+v", b, b.Rule, w)
		}
		if b.From.Before(from) || b.Until.After(until) || !b.From.Before(b.Until) {
			t.Errorf("breach %s %s %s–%s is not inside pupil hours", b.MAC, b.Zone, b.From.Format(time.TimeOnly), b.Until.Format(time.TimeOnly))
		}
		if b.Zone == "exam-room" && b.Severity == "critical" && slices.Contains(b.Clauses, "OSS-5") {
			at := b.From.In(loc)
			exam = exam || (at.Hour() == 9 && at.Minute() >= 25 && at.Minute() <= 35)
		}
	}
	if !exam {
		t.Error("no critical exam-room breach (OSS-5) at about 09:30")
	}
	for r := range yamlRules {
		if perRule[r] == 0 {
			t.Errorf("no planned breach of rule %s", r)
		}
	}
	if n := perRule["pupil-device-beyond-reception"]; n < 15 || n > 35 {
		t.Errorf("%d pupil devices beyond reception; want ~10 %% of pupils' phones plus a few", n)
	}

	// Each breach is visible on the wire: the device sends a DHCPREQUEST for an address
	// in the breach zone no later than a second after From, and then stays there.
	zones := yamlZones(t)
	frames := allFrames(t, s)
	for _, b := range br {
		found := false
		for i, f := range frames {
			if f.At.After(b.From.Add(time.Second)) {
				break
			}
			d := decode(t, i, f)
			if d.dhcp == nil || d.eth.SrcMAC.String() != b.MAC {
				continue
			}
			if req, ok := dhcpOpt(d.dhcp, layers.DHCPOptRequestIP); ok {
				ip, _ := netip.AddrFromSlice(req)
				found = slices.ContainsFunc(zones[b.Zone], func(p netip.Prefix) bool { return p.Contains(ip) })
			}
		}
		if !found {
			t.Errorf("breach %s in %s from %s: no DHCPREQUEST in that zone by then", b.MAC, b.Zone, b.From.Format(time.TimeOnly))
		}
	}
}

// TestRunPacesAndFinishes runs the whole day on a fast scaled clock: every frame is
// emitted, in time order, never before the clock reaches its time, and Run returns
// nil at the end of the day.
func TestRunPacesAndFinishes(t *testing.T) {
	day := testDay(t)
	plan := newSchool(t, 1, day)
	clock := daemon.NewScaledClock(plan.Start(), 200000)
	s, err := New(Options{Seed: 1, Day: day, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var prev time.Time
	n, early := 0, 0
	err = s.Run(ctx, func(f Frame) error {
		if f.At.Before(prev) {
			t.Errorf("frame %d at %s before %s", n, f.At, prev)
		}
		if clock.Now().Before(f.At) {
			early++
		}
		prev = f.At
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n != s.Len() {
		t.Errorf("Run emitted %d frames, the day has %d", n, s.Len())
	}
	if early > 0 {
		t.Errorf("%d frames emitted before the clock reached their time", early)
	}
	if clock.Now().Before(s.End()) {
		t.Errorf("Run returned at %s, before the day's end %s", clock.Now(), s.End())
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	day := testDay(t)
	plan := newSchool(t, 1, day)
	s, err := New(Options{Seed: 1, Day: day, Clock: daemon.NewScaledClock(plan.Start(), 1000)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	done := make(chan error, 1)
	go func() { // owned by this test: ends when Run returns
		done <- s.Run(ctx, func(Frame) error {
			n++
			if n == 20 {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if n != 20 {
		t.Errorf("Run emitted %d frames, want 20 (none after cancel)", n)
	}
}

func TestRunEmitError(t *testing.T) {
	day := testDay(t)
	plan := newSchool(t, 1, day)
	s, err := New(Options{Seed: 1, Day: day, Clock: daemon.NewScaledClock(plan.Start(), 100000)})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("capture queue closed")
	err = s.Run(context.Background(), func(Frame) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the emit error wrapped", err)
	}
	noClock := newSchool(t, 1, day)
	if err := noClock.Run(context.Background(), func(Frame) error { return nil }); err == nil {
		t.Error("Run without a clock succeeded")
	}
}

// TestWritePcapReplays: the pcap holds every frame with its simulated time.
func TestWritePcapReplays(t *testing.T) {
	s := newSchool(t, 1, testDay(t))
	var buf bytes.Buffer
	if err := s.WritePcap(&buf); err != nil {
		t.Fatalf("WritePcap: %v", err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatalf("read pcap: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", r.LinkType())
	}
	frames := allFrames(t, s)
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			if i != len(frames) {
				t.Fatalf("pcap has %d packets (%v), the day %d", i, err, len(frames))
			}
			break
		}
		if !bytes.Equal(data, frames[i].Data) || !ci.Timestamp.Equal(frames[i].At.Truncate(time.Microsecond)) {
			t.Fatalf("pcap packet %d differs from frame %d", i, i)
		}
	}
}

func BenchmarkFrames(b *testing.B) {
	s := newSchool(b, 1, testDay(b))
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		for _, err := range s.Frames() {
			if err != nil {
				b.Fatal(err)
			}
			frames++
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkNew(b *testing.B) {
	day := testDay(b)
	for b.Loop() {
		if _, err := New(Options{Seed: 1, Day: day}); err != nil {
			b.Fatal(err)
		}
	}
}
