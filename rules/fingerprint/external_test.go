package fingerprint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// satoriPath is xnih/satori's fingerprints/dhcp.xml in the shared reference
// data (never copied into this repository: GPL-2.0).
var satoriPath = filepath.Join("..", "..", "..", "shared", "reference", "fingerprints", "satori", "dhcp.xml")

func loadSatori(t testing.TB) *External {
	t.Helper()
	data, err := os.ReadFile(satoriPath)
	if err != nil {
		lab.Missing(t, "the satori reference file "+satoriPath)
	}
	ext, err := ParseSatori(data, "satori")
	if err != nil {
		t.Fatalf("ParseSatori(%s): %v", satoriPath, err)
	}
	return ext
}

// TestParseSatoriReference: the real file parses, and its labels map to our
// kinds and OSes the way a user expects (a Cisco switch's "IOS" is not Apple's,
// Android rows do not claim every Android device is a phone).
func TestParseSatoriReference(t *testing.T) {
	ext := loadSatori(t)
	if n := len(ext.Entries); n < 450 {
		t.Errorf("%d entries, want the ~480 of satori's dhcp.xml", n)
	}
	byName := map[string]ExternalEntry{}
	for _, e := range ext.Entries {
		byName[e.Name] = e
		if e.Line <= 0 || len(e.Tests) == 0 {
			t.Errorf("entry %q: line %d, %d tests", e.Name, e.Line, len(e.Tests))
		}
	}
	tests := []struct{ name, kind, os, vendor string }{
		{"Android 14.x", "", "android", ""},
		{"iPad 13.5", "", "ios", "Apple"},
		{"Nintendo Switch", "games-console", "nintendo", "Nintendo"},
		{"PlayStation 5", "games-console", "playstation", "Sony Interactive Entertainment"},
		{"Xbox", "games-console", "xbox", "Microsoft"},
		{"Kindle Firmware 5.12.x", "e-reader", "kindle", "Amazon"},
		{"Windows 11 - 22000", "", "windows", ""},
		{"Chromebook", "", "chromeos", ""},
		{"Cisco Catalyst 29xx", "network", "", ""},
		{"Brother Printer", "printer", "", ""},
		{"3Com IP Phone", "iot", "", ""}, // a desk phone is fixed equipment, not a mobile phone
		{"Windows Phone 7.5", "", "windows", "Microsoft"},
	}
	for _, tt := range tests {
		e, ok := byName[tt.name]
		if !ok {
			t.Errorf("no entry %q", tt.name)
			continue
		}
		if e.Kind != tt.kind || e.OS != tt.os || e.Vendor != tt.vendor {
			t.Errorf("%q → kind %q os %q vendor %q, want %q %q %q", tt.name, e.Kind, e.OS, e.Vendor, tt.kind, tt.os, tt.vendor)
		}
	}
	w11 := byName["Windows 11 - 22000"]
	for _, tt := range w11.Tests {
		if tt.Field == "options" && slices.Contains(tt.List, 255) {
			t.Errorf("option order keeps 255 (end): %v", tt.List)
		}
	}
}

func TestEngineWithSatori(t *testing.T) {
	e := NewEngine(loadSatori(t))
	hasExternal := func(p Profile, suggests string) bool {
		return slices.ContainsFunc(p.Evidence, func(ev Evidence) bool { return ev.Signal == "external:satori" && ev.Suggests == suggests })
	}
	t.Run("a printer the built-in table does not know", func(t *testing.T) {
		s := Signals{MAC: "5e:00:00:00:00:01", DHCP: &DHCP{MessageType: 1, Options: []uint8{53, 57, 55, 12}, ParamList: []uint8{1, 3, 6, 12, 15, 28, 42, 40, 44, 46}}}
		if p := Classify(s); p.Kind != "unknown" {
			t.Fatalf("built-in alone says %s: pick another example", p.Kind)
		}
		p := e.Classify(s)
		if p.Kind != "printer" || !hasExternal(p, "kind=printer") {
			t.Errorf("kind %s, want printer from external:satori; evidence %+v", p.Kind, p.Evidence)
		}
	})
	t.Run("Android stays phone-or-tablet open", func(t *testing.T) {
		s := Signals{MAC: "da:a1:19:00:00:02", DHCP: android("14", "")}
		p := e.Classify(s)
		if p.Kind != "unknown" || p.OS != "android" || !hasExternal(p, "os=android") {
			t.Errorf("got %s/%s, want unknown/android with satori's OS evidence; %+v", p.Kind, p.OS, p.Evidence)
		}
	})
	t.Run("external evidence weighs less than built-in", func(t *testing.T) {
		// A Brother printer's DHCP from a device that calls itself an iPhone:
		// the built-in host-name signature wins.
		s := Signals{MAC: "5e:00:00:00:00:02", DHCP: &DHCP{MessageType: 1, Options: []uint8{53, 57, 55, 12}, ParamList: []uint8{1, 3, 6, 12, 15, 28, 42, 40, 44, 46}, Hostname: "Bobs-iPhone"}}
		p := e.Classify(s)
		if p.Kind != "phone" {
			t.Errorf("kind %s, want phone", p.Kind)
		}
		for _, ev := range p.Evidence {
			if strings.HasPrefix(ev.Signal, "external:") && ev.Weight > 0.5 {
				t.Errorf("external evidence weighs %.2f > 0.5: %+v", ev.Weight, ev)
			}
		}
	})
	t.Run("nil engine and no databases classify like Classify", func(t *testing.T) {
		s := Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL)}
		var nilEngine *Engine
		for _, got := range []Profile{nilEngine.Classify(s), NewEngine().Classify(s), NewEngine(nil).Classify(s)} {
			if want := Classify(s); got.Kind != want.Kind || got.OS != want.OS || len(got.Evidence) != len(want.Evidence) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		}
	})
	t.Run("Refine through the engine holds a known kind", func(t *testing.T) {
		prev := e.Classify(Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL)})
		p := e.Refine(prev, Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("", iosPRL)})
		if p.Kind != "phone" {
			t.Errorf("kind %s after a nameless renewal, want phone", p.Kind)
		}
	})
}

func TestParseSatoriErrors(t *testing.T) {
	const head = "<?xml version=\"1.0\"?>\n<DHCP>\n<fingerprints>\n"
	tests := []struct{ name, xml, want string }{
		{"not satori", "<DHCPv6></DHCPv6>", "src:1: root element <DHCPv6>, want <DHCP> or <DNS>"},
		{"empty", "", "no <DHCP> or <DNS> element"},
		{"dns: empty name", "<DNS>\n<fingerprint name=\"X\"><dns_tests><test weight=\"5\" matchtype=\"exact\" dns=\" \"/>", `src:2: fingerprint "X": empty dns`},
		{"dns: bad matchtype", "<DNS><fingerprint name=\"X\"><dns_tests><test weight=\"5\" matchtype=\"glob\" dns=\"a.b\"/>", `matchtype="glob"`},
		{"dns: bad weight", "<DNS><fingerprint name=\"X\"><dns_tests><test weight=\"-1\" matchtype=\"exact\" dns=\"a.b\"/>", `weight="-1"`},
		{"bad option", head + `<fingerprint name="X"><dhcp_tests>` + "\n" + `<test weight="5" matchtype="exact" dhcptype="Any" dhcpoption55="1,300"/>`, `src:5: fingerprint "X": dhcpoption55="1,300": option "300" is not 0..255`},
		{"bad weight", head + `<fingerprint name="X"><dhcp_tests><test weight="heavy" matchtype="exact" dhcptype="Any" ipttl="64"/>`, `src:4: fingerprint "X": weight="heavy"`},
		{"bad matchtype", head + `<fingerprint name="X"><dhcp_tests><test weight="5" matchtype="fuzzy" dhcptype="Any" ipttl="64"/>`, `matchtype="fuzzy"`},
		{"bad dhcptype", head + `<fingerprint name="X"><dhcp_tests><test weight="5" matchtype="exact" dhcptype="Hello" ipttl="64"/>`, `dhcptype="hello"`},
		{"test outside", head + `<test weight="5" matchtype="exact" dhcptype="Any" ipttl="64"/>`, "src:4: <test> outside a <fingerprint>"},
		{"no name", head + `<fingerprint><dhcp_tests><test weight="5" matchtype="exact" dhcptype="Any" ipttl="64"/></dhcp_tests></fingerprint>`, "src:4: fingerprint without a name"},
		{"broken xml", head + `<fingerprint name="X">`, "src: XML syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSatori([]byte(tt.xml), "src")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseSatori(f *testing.F) {
	f.Add([]byte("\xef\xbb\xbf<DHCP><fingerprints><fingerprint name=\"Nintendo Switch\" device_type=\"Game Console\" device_vendor=\"Nintendo\"><dhcp_tests>" +
		"<test weight=\"5\" matchtype=\"exact\" dhcptype=\"Discover\" dhcpoption55=\"1,3,6,28\"/>" +
		"<test weight=\"5\" matchtype=\"partial\" dhcptype=\"Any\" dhcpvendorcode=\"nintendo\"/>" +
		"<test weight=\"1\" matchtype=\"exact\" dhcptype=\"Request\" ipttl=\"64\"/></dhcp_tests></fingerprint></fingerprints></DHCP>"))
	f.Add([]byte("<DHCP><fingerprint name=\"a\" os_class=\"Android\"><test weight=\"7\" matchtype=\"partial\" dhcptype=\"Request\" dhcpoptions=\"53,61,255\"/></fingerprint></DHCP>"))
	f.Add([]byte("<DNS/>"))
	f.Add([]byte(satoriDNSSample))
	f.Add([]byte("\xef\xbb\xbf<DNS><fingerprints><fingerprint name=\"Amazon Kindle\"><dns_tests><test weight=\"5\" matchtype=\"exact\" dns=\"dns.kindle.com.\" dhcpoption55=\"1,3\"/></dns_tests></fingerprint></fingerprints></DNS>"))
	for _, path := range []string{satoriPath, satoriDNSPath} {
		if data, err := os.ReadFile(path); err == nil && len(data) > 4000 {
			f.Add(data[:4000])
		}
	}
	s := Signals{MAC: "5e:00:00:00:00:01", TTL: 64, DHCP: &DHCP{MessageType: 1, Options: []uint8{53, 57, 55}, ParamList: []uint8{1, 3, 6, 28}, VendorClass: "Nintendo Switch"},
		DNSNames: []string{"dns.kindle.com", "0.android.pool.ntp.org", "time.apple.com."}}
	f.Fuzz(func(t *testing.T, data []byte) {
		ext, err := ParseSatori(data, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error does not name the source: %v", err)
			}
			return
		}
		for _, e := range ext.Entries {
			if e.Name == "" || len(e.Tests) == 0 {
				t.Fatalf("entry without name or tests: %+v", e)
			}
			for _, tt := range e.Tests {
				switch tt.Field {
				case "param_list", "options":
					if len(tt.List) == 0 && tt.Field == "param_list" {
						t.Fatalf("empty list kept: %+v", tt)
					}
				case "vendor_class":
					if tt.Text == "" {
						t.Fatalf("empty vendor class kept: %+v", tt)
					}
				case "ttl":
				case "dns":
					if tt.Text == "" || ext.Format != "dns" {
						t.Fatalf("dns test kept in a %q file or empty: %+v", ext.Format, tt)
					}
				default:
					t.Fatalf("unknown field %q", tt.Field)
				}
			}
		}
		if ext.Format != "dhcp" && ext.Format != "dns" {
			t.Fatalf("format %q", ext.Format)
		}
		p := NewEngine(ext).Classify(s)
		if p.Kind == "" || p.OS == "" || p.Confidence < 0 || p.Confidence > 1 {
			t.Fatalf("bad profile %+v", p)
		}
		for _, ev := range p.Evidence {
			if ext.Format == "dns" && strings.HasPrefix(ev.Signal, "external:") && (ev.Weight > 0.4 || strings.HasPrefix(ev.Suggests, "kind=")) {
				t.Fatalf("dns.xml evidence too strong or names a kind: %+v", ev)
			}
		}
	})
}

// satoriDNSPath is xnih/satori's fingerprints/dns.xml in the shared reference
// data (never copied into this repository: GPL-2.0).
var satoriDNSPath = filepath.Join("..", "..", "..", "shared", "reference", "fingerprints", "satori", "dns.xml")

// satoriDNSSample is a small satori dns.xml written for the tests, in the
// file's format (names and hosts as in satori's file).
const satoriDNSSample = `\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>
<DNS created="2023-07-01">
    <fingerprints>
        <fingerprint name="Amazon Kindle" os_name="" os_class="" os_vendor="" device_type="" device_vendor="">
            <dns_tests>
                <test weight="5" matchtype="exact" dns="dns.kindle.com"/>
            </dns_tests>
        </fingerprint>
        <fingerprint name="Android Device" os_name="" os_class="" os_vendor="" device_type="" device_vendor="">
            <dns_tests>
                <test weight="5" matchtype="partial" dns="android.pool.ntp.org"/>
            </dns_tests>
        </fingerprint>
        <fingerprint name="Ubuntu Device" os_name="" os_class="" os_vendor="" device_type="" device_vendor="">
            <dns_tests>
                <test weight="5" matchtype="exact" dns="connectivity-check.ubuntu.com"/>
                <test weight="5" matchtype="partial" dns="ubuntu.pool.ntp.org"/>
            </dns_tests>
        </fingerprint>
        <fingerprint name="Roku Device" os_name="" os_class="" os_vendor="" device_type="" device_vendor="">
            <dns_tests>
                <test weight="5" matchtype="exact" dns="roku.pool.ntp.org"/>
            </dns_tests>
        </fingerprint>
        <fingerprint name="Labelled Player" os_name="" os_class="" os_vendor="" device_type="Digital Media Player" device_vendor="Amazon">
            <dns_tests>
                <test weight="5" matchtype="exact" dns="player.example.com"/>
            </dns_tests>
        </fingerprint>
    </fingerprints>
</DNS>
`

// TestSatoriDNS: a satori dns.xml is told by its root, its names map to OS
// and vendor (never a guessed kind), and its matches against the device's
// query names join the evidence naming the file and the fingerprint.
func TestSatoriDNS(t *testing.T) {
	ext, err := ParseSatori([]byte(satoriDNSSample), "dns.xml")
	if err != nil {
		t.Fatal(err)
	}
	if ext.Format != "dns" || len(ext.Entries) != 5 {
		t.Fatalf("format %q, %d entries", ext.Format, len(ext.Entries))
	}
	e := NewEngine(ext)
	tests := []struct {
		name     string
		dns      []string
		value    string   // the evidence value, "" for no external evidence
		suggests []string // what the external evidence suggests
	}{
		{"exact", []string{"www.google.com", "dns.kindle.com"}, "satori dns.xml: Amazon Kindle (dns.kindle.com)", []string{"vendor=Amazon"}},
		{"exact ignores case and the root dot", []string{"DNS.Kindle.COM."}, "satori dns.xml: Amazon Kindle (dns.kindle.com)", []string{"vendor=Amazon"}},
		{"exact is not a suffix", []string{"x.dns.kindle.com"}, "", nil},
		{"partial, whole labels", []string{"2.android.pool.ntp.org"}, "satori dns.xml: Android Device (2.android.pool.ntp.org)", []string{"os=android"}},
		{"partial is not a substring", []string{"myandroid.pool.ntp.org"}, "", nil},
		{"two names score more", []string{"connectivity-check.ubuntu.com", "0.ubuntu.pool.ntp.org", "0.android.pool.ntp.org"}, "satori dns.xml: Ubuntu Device (connectivity-check.ubuntu.com, 0.ubuntu.pool.ntp.org)", []string{"os=linux"}},
		{"tie without agreement", []string{"0.android.pool.ntp.org", "dns.kindle.com"}, "satori dns.xml: Amazon Kindle | Android Device (dns.kindle.com, 0.android.pool.ntp.org)", []string{""}},
		{"unknown name: no kind, vendor only if known", []string{"roku.pool.ntp.org"}, "satori dns.xml: Roku Device (roku.pool.ntp.org)", []string{""}},
		{"a labelled device type maps as in dhcp.xml", []string{"player.example.com"}, "satori dns.xml: Labelled Player (player.example.com)", []string{"kind=tv-media", "vendor=Amazon"}},
		{"no match", []string{"www.example.org"}, "", nil},
		{"no names", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.Classify(Signals{MAC: "5e:00:00:00:00:09", DNSNames: tt.dns})
			var value string
			var suggests []string
			for _, ev := range p.Evidence {
				if ev.Signal != "external:dns.xml" {
					continue
				}
				value = ev.Value
				suggests = append(suggests, ev.Suggests)
				want := 0.3
				if strings.Contains(tt.name, "two names") {
					want = 0.4
				}
				if ev.Suggests != "" && ev.Weight != want {
					t.Errorf("weight %.2f, want %.2f: %+v", ev.Weight, want, ev)
				}
			}
			slices.Sort(suggests)
			if value != tt.value || !slices.Equal(suggests, tt.suggests) {
				t.Errorf("evidence %q %q, want %q %q; all %+v", value, suggests, tt.value, tt.suggests, p.Evidence)
			}
			if p.Kind != "unknown" {
				t.Errorf("kind %s from dns.xml evidence alone, want unknown", p.Kind)
			}
		})
	}
}

// TestSatoriDNSReference: satori's real dns.xml parses as a DNS file, and a
// device querying dns.kindle.com gets evidence naming "Amazon Kindle" without
// overriding the built-in table.
func TestSatoriDNSReference(t *testing.T) {
	data, err := os.ReadFile(satoriDNSPath)
	if err != nil {
		lab.Missing(t, "the satori reference file "+satoriDNSPath)
	}
	ext, err := ParseSatori(data, "satori-dns")
	if err != nil {
		t.Fatalf("ParseSatori(%s): %v", satoriDNSPath, err)
	}
	if ext.Format != "dns" || len(ext.Entries) < 40 {
		t.Fatalf("format %q, %d entries, want dns and the ~48 of satori's dns.xml", ext.Format, len(ext.Entries))
	}
	for _, x := range ext.Entries {
		if x.Kind != "" {
			t.Errorf("%q maps to kind %q: dns.xml names carry no device type", x.Name, x.Kind)
		}
	}
	e := NewEngine(ext)
	has := func(p Profile, value, suggests string) bool {
		return slices.ContainsFunc(p.Evidence, func(ev Evidence) bool {
			return ev.Signal == "external:satori-dns" && strings.Contains(ev.Value, value) && ev.Suggests == suggests
		})
	}
	p := e.Classify(Signals{MAC: "5e:00:00:00:00:0a", DNSNames: []string{"dns.kindle.com"}})
	if !has(p, "satori dns.xml: Amazon Kindle", "vendor=Amazon") {
		t.Errorf("no Amazon Kindle evidence: %+v", p.Evidence)
	}
	p = e.Classify(Signals{MAC: "5e:00:00:00:00:0b", DNSNames: []string{"3.android.pool.ntp.org"}})
	if !has(p, "Android Device", "os=android") {
		t.Errorf("no Android evidence: %+v", p.Evidence)
	}
	p = e.Classify(Signals{MAC: "5e:00:00:00:00:0c", DNSNames: []string{"time.windows.com", "v10.events.data.microsoft.com"}})
	if !has(p, "Windows", "os=windows") {
		t.Errorf("no Windows evidence: %+v", p.Evidence)
	}
	// A Kindle by its host name and its own DNS stays a Kindle; an iPhone
	// that also resolves an Android NTP pool stays an iPhone.
	kindle := Signals{MAC: "5e:00:00:00:00:0d", DNSNames: []string{"dns.kindle.com", "kindle-time.amazon.com"}, Hostname: "kindle-1a2b3c"}
	if got, want := e.Classify(kindle), Classify(kindle); got.Kind != want.Kind || got.OS != want.OS {
		t.Errorf("kindle: %s/%s with dns.xml, %s/%s without", got.Kind, got.OS, want.Kind, want.OS)
	}
	iphone := Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL), DNSNames: []string{"0.android.pool.ntp.org"}}
	if got := e.Classify(iphone); got.Kind != "phone" || got.OS != "ios" {
		t.Errorf("iphone: %s/%s, want phone/ios; %+v", got.Kind, got.OS, got.Evidence)
	}
}
