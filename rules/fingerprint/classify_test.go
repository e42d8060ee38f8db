package fingerprint

import (
	"slices"
	"strings"
	"testing"
)

// Fixtures per device archetype. DHCP shapes follow the sources cited in
// signatures.go; MACs use real OUIs from the IEEE registry (or the
// locally-administered bit for private addresses, as modern phones use).
var (
	iosPRL     = []uint8{1, 121, 3, 6, 15, 108, 114, 119, 252}
	macPRL     = []uint8{1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46}
	androidPRL = []uint8{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108}
	windowsPRL = []uint8{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252}
	chromePRL  = []uint8{1, 121, 33, 3, 6, 12, 15, 26, 28, 51, 54, 58, 59, 119, 252}
	udhcpPRL   = []uint8{1, 3, 6, 12, 15, 28, 42}
)

func apple(host string, prl []uint8) *DHCP {
	return &DHCP{MessageType: 1, Options: []uint8{53, 55, 57, 61, 51, 12}, ParamList: prl, Hostname: host, MaxMsgSize: 1500, IPv6OnlyPreferred: slices.Contains(prl, 108)}
}

func android(version, host string) *DHCP {
	return &DHCP{MessageType: 1, Options: []uint8{53, 61, 57, 60, 12, 55}, ParamList: androidPRL, VendorClass: "android-dhcp-" + version, Hostname: host, IPv6OnlyPreferred: true}
}

func TestClassifyArchetypes(t *testing.T) {
	tests := []struct {
		name       string
		s          Signals
		kind, os   string
		vendor     string
		randomized bool
	}{
		{"iPhone (private MAC)", Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL), DNSNames: []string{"captive.apple.com"}, TTL: 64},
			"phone", "ios", "Apple", true},
		{"iPad", Signals{MAC: "3c:22:fb:10:20:30", DHCP: apple("Year9-iPad", iosPRL), TTL: 64},
			"tablet", "ipados", "Apple", false},
		{"Apple Watch", Signals{MAC: "b2:44:0a:01:02:03", DHCP: apple("Bobs-Apple-Watch", iosPRL)},
			"smartwatch", "watchos", "Apple", true},
		{"Mac", Signals{MAC: "42:b4:44:b4:f0:ee", DHCP: apple("MacBookPro", macPRL), TTL: 64},
			"laptop", "macos", "Apple", true},
		{"Android phone", Signals{MAC: "da:a1:19:00:00:01", DHCP: android("14", "Galaxy-S23"), DNSNames: []string{"connectivitycheck.gstatic.com"}, TTL: 64},
			"phone", "android", "Samsung", true},
		{"Galaxy Watch", Signals{MAC: "0a:bb:cc:00:11:22", DHCP: android("11", "Galaxy-Watch5-7F3A")},
			"smartwatch", "wearos", "Samsung", true},
		{"Fitbit", Signals{MAC: "18:00:db:12:34:56", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 3, 6, 15}}},
			"fitness-tracker", "unknown", "Fitbit", false},
		{"Windows laptop", Signals{MAC: "a4:c3:f0:11:22:33", DHCP: &DHCP{MessageType: 3, Options: []uint8{53, 61, 50, 12, 81, 60, 55}, ParamList: windowsPRL, VendorClass: "MSFT 5.0", Hostname: "LAPTOP-7QK2M1"}, DNSNames: []string{"www.msftconnecttest.com"}, TTL: 128},
			"laptop", "windows", "Intel", false},
		{"Chromebook", Signals{MAC: "5e:01:02:03:04:05", DHCP: &DHCP{MessageType: 1, Options: []uint8{53, 61, 57, 60, 55}, ParamList: chromePRL}, DNSNames: []string{"clients3.google.com"}, TTL: 64},
			"laptop", "chromeos", "", true},
		{"Nintendo Switch", Signals{MAC: "98:b6:e9:01:02:03", DHCP: &DHCP{MessageType: 1, Options: []uint8{53, 57, 55}, ParamList: []uint8{1, 3, 6, 28}}, DNSNames: []string{"ctest.cdn.nintendo.net"}},
			"games-console", "nintendo", "Nintendo", false},
		{"PS5", Signals{MAC: "00:d9:d1:01:02:03", DHCP: &DHCP{MessageType: 3, ParamList: []uint8{1, 3, 15, 6}, VendorClass: "PS5", Hostname: "PS5-123"}},
			"games-console", "playstation", "Sony Interactive Entertainment", false},
		{"Kindle", Signals{MAC: "68:db:f5:01:02:03", DHCP: &DHCP{MessageType: 1, ParamList: udhcpPRL, VendorClass: "udhcp 1.28.3", Hostname: "kindle-8f2c1d"}, DNSNames: []string{"spectrum.s3.amazonaws.com"}},
			"e-reader", "kindle", "Amazon", false},
		{"BusyBox udhcpc is embedded Linux", Signals{MAC: "00:16:3e:01:02:03", DHCP: &DHCP{MessageType: 1, ParamList: udhcpPRL, VendorClass: "udhcp 1.36.1"}, TTL: 64},
			"iot", "linux", "", false},
		{"Kindle without its name: DNS outweighs udhcpc", Signals{MAC: "68:db:f5:01:02:04", DHCP: &DHCP{MessageType: 1, ParamList: udhcpPRL, VendorClass: "udhcp 1.28.3"},
			DNSNames: []string{"spectrum.s3.amazonaws.com", "kindle-time.amazon.com"}},
			"e-reader", "kindle", "Amazon", false},
		{"lwIP module (Lightify gateway)", Signals{MAC: "84:18:26:7b:5f:6b", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 3, 28, 6}}, TTL: 255},
			"iot", "unknown", "", false},
		{"Fitbit on lwIP stays a fitness tracker", Signals{MAC: "18:00:db:12:34:57", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 3, 28, 6}}, DNSNames: []string{"fsync.fitbit.com"}},
			"fitness-tracker", "unknown", "Fitbit", false},
		{"Xbox", Signals{MAC: "5e:11:22:33:44:55", DHCP: &DHCP{MessageType: 1, VendorClass: "MSFT 5.0 XBOX"}, TTL: 128},
			"games-console", "xbox", "Microsoft", true},
		{"Brother printer by its node name", Signals{MAC: "5e:11:22:33:44:56", DHCP: &DHCP{MessageType: 1, Hostname: "BRW1C1A2B3C4D5E"}},
			"printer", "unknown", "Brother", true},
		{"unknown IoT (ESP32 plug)", Signals{MAC: "24:6f:28:aa:bb:cc", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 3, 28, 6, 15, 44, 46, 47, 31, 33, 121, 43}}},
			"iot", "unknown", "Espressif", false},
		{"Android, no name: phone or tablet is open", Signals{MAC: "da:a1:19:00:00:02", DHCP: android("13", ""), DNSNames: []string{"connectivitycheck.gstatic.com"}},
			"unknown", "android", "", true},
		{"iPhone and Mac share the old list: kind undecided", Signals{MAC: "3c:22:fb:00:00:01", DHCP: apple("", []uint8{1, 121, 3, 6, 15, 119, 252})},
			"unknown", "unknown", "Apple", false},
		// No DHCP host name (iOS 16+ and some Android builds send none): the DNS
		// names of the adapters/simulate archetypes decide.
		{"iPhone, no name, iOS time server and phone apps", Signals{MAC: "4e:28:83:fb:a9:0d", DHCP: apple("", iosPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "time-ios.apple.com", "gateway.icloud.com", "1-courier.push.apple.com", "mesu.apple.com",
				"i.instagram.com", "app.snapchat.com", "www.tiktok.com", "g.whatsapp.net", "www.youtube.com", "api.spotify.com"}},
			"phone", "ios", "Apple", true},
		{"Android phone, no name, Android services and phone apps", Signals{MAC: "da:a1:19:00:00:03", DHCP: android("14", ""), TTL: 64,
			DNSNames: []string{"connectivitycheck.gstatic.com", "www.google.com", "time.android.com", "mtalk.google.com", "android.clients.google.com",
				"play.googleapis.com", "i.instagram.com", "www.tiktok.com", "g.whatsapp.net", "www.youtube.com"}},
			"phone", "android", "", true},
		{"Android, no name, OS services only: phone, tablet or watch is open", Signals{MAC: "da:a1:19:00:00:04", DHCP: android("13", ""), TTL: 64,
			DNSNames: []string{"connectivitycheck.gstatic.com", "time.android.com", "mtalk.google.com", "android.clients.google.com"}},
			"unknown", "android", "", true},
		{"iOS, no name, no app names: iPhone or iPad is open", Signals{MAC: "4e:28:83:fb:a9:0e", DHCP: apple("", iosPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "time-ios.apple.com", "gateway.icloud.com", "mesu.apple.com"}},
			"unknown", "ios", "Apple", true},
		{"iOS, no name, one phone app: not enough", Signals{MAC: "4e:28:83:fb:a9:0f", DHCP: apple("", iosPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "app.snapchat.com", "mesu.apple.com"}},
			"unknown", "ios", "Apple", true},
		{"one app name alone decides nothing", Signals{MAC: "4e:28:83:fb:a9:10", DNSNames: []string{"i.instagram.com"}},
			"unknown", "unknown", "", true},
		{"Apple Watch, no name: unknown (no reliable evidence)", Signals{MAC: "b2:44:0a:01:02:04", DHCP: apple("", iosPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "time.apple.com", "1-courier.push.apple.com", "gateway.icloud.com", "mesu.apple.com", "weather-data.apple.com"}},
			"unknown", "ios", "Apple", true},
		{"Mac with time.apple.com and phone-app names is no phone", Signals{MAC: "42:b4:44:b4:f0:ef", DHCP: apple("", macPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "time.apple.com", "gateway.icloud.com", "i.instagram.com", "g.whatsapp.net", "app.snapchat.com"}},
			"laptop", "macos", "Apple", true},
		{"Windows with msftconnecttest and phone-app names is no phone", Signals{MAC: "a4:c3:f0:11:22:34", TTL: 128,
			DHCP:     &DHCP{MessageType: 3, Options: []uint8{53, 61, 50, 60, 55}, ParamList: windowsPRL, VendorClass: "MSFT 5.0"},
			DNSNames: []string{"www.msftconnecttest.com", "dns.msftncsi.com", "i.instagram.com", "g.whatsapp.net", "app.snapchat.com"}},
			"laptop", "windows", "Intel", false},
		// Wi-Fi calling: an ePDG lookup (3GPP TS 23.003 19.4.2.9) marks a SIM
		// device that makes carrier calls.
		{"Android, no name, ePDG lookup: a phone", Signals{MAC: "da:a1:19:00:00:05", DHCP: android("14", ""), TTL: 64,
			DNSNames: []string{"connectivitycheck.gstatic.com", "epdg.epc.mnc030.mcc234.pub.3gppnetwork.org"}},
			"phone", "android", "", true},
		{"iOS, no name, tracking-area ePDG lookup: a phone", Signals{MAC: "4e:28:83:fb:a9:11", DHCP: apple("", iosPRL), TTL: 64,
			DNSNames: []string{"captive.apple.com", "tac-lb2f.tac-hb01.tac.epdg.epc.mnc260.mcc310.pub.3gppnetwork.org"}},
			"phone", "ios", "Apple", true},
		{"Apple Watch by name stays a watch with an ePDG lookup", Signals{MAC: "b2:44:0a:01:02:05", DHCP: apple("Bobs-Apple-Watch", iosPRL),
			DNSNames: []string{"epdg.epc.mnc015.mcc234.pub.3gppnetwork.org"}},
			"smartwatch", "watchos", "Apple", true},
		{"other 3GPP names (XCAP, SUPL) are not Wi-Fi calling", Signals{MAC: "da:a1:19:00:00:06", DHCP: android("14", ""), TTL: 64,
			DNSNames: []string{"xcap.ims.mnc030.mcc234.pub.3gppnetwork.org", "h-slp.mnc030.mcc234.pub.3gppnetwork.org"}},
			"unknown", "android", "", true},
		{"an ePDG lookup alone decides nothing", Signals{MAC: "4e:28:83:fb:a9:12", DNSNames: []string{"epdg.epc.mnc030.mcc234.pub.3gppnetwork.org"}},
			"unknown", "unknown", "", true},
		{"printer by DHCP option 69 (HP OUI, no name)", Signals{MAC: "a0:d3:c1:12:34:57", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 3, 6, 15, 44, 46, 47, 12, 69, 42}}, TTL: 64},
			"printer", "unknown", "HP", false},
		{"Clevo notebook, no name", Signals{MAC: "80:fa:5b:01:02:03", DHCP: &DHCP{MessageType: 3, ParamList: []uint8{1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42, 249, 33, 252}}},
			"laptop", "linux", "Clevo", false},
		{"Ubuntu installer's <user>-laptop name", Signals{MAC: "5e:11:22:33:44:57", DHCP: &DHCP{MessageType: 1, ParamList: []uint8{1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42}, Hostname: "sam-laptop"}},
			"laptop", "linux", "", true},
		{"eQ-3 home automation", Signals{MAC: "00:1a:22:03:cb:bf", DHCP: &DHCP{MessageType: 3, ParamList: []uint8{1, 3, 6, 12, 51, 58, 59}}},
			"iot", "unknown", "eQ-3", false},
		{"GainSpan module host name", Signals{MAC: "20:f8:5e:ca:91:53", DHCP: &DHCP{MessageType: 3, ParamList: []uint8{1, 3, 6, 15, 66, 67, 13, 44}, Hostname: "GainSpanca9153"}},
			"iot", "unknown", "", false},
		{"randomized MAC alone is not personal", Signals{MAC: "02:11:22:33:44:55"},
			"unknown", "unknown", "", true},
		{"nothing at all", Signals{}, "unknown", "unknown", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Classify(tt.s)
			if p.Kind != tt.kind || p.OS != tt.os || p.Vendor != tt.vendor || p.RandomizedMAC != tt.randomized {
				t.Errorf("got kind=%s os=%s vendor=%q randomized=%v, want kind=%s os=%s vendor=%q randomized=%v\nevidence: %+v",
					p.Kind, p.OS, p.Vendor, p.RandomizedMAC, tt.kind, tt.os, tt.vendor, tt.randomized, p.Evidence)
			}
			if p.Kind == "unknown" && p.Confidence != 0 {
				t.Errorf("unknown kind with confidence %v", p.Confidence)
			}
			if p.Kind != "unknown" && (p.Confidence < decideScore/2 || p.Confidence > 1) {
				t.Errorf("confidence %v out of range for a decided kind", p.Confidence)
			}
			if p.Kind != "unknown" && len(p.Evidence) == 0 {
				t.Error("a decision without evidence")
			}
			if tt.randomized && !slices.ContainsFunc(p.Evidence, func(e Evidence) bool { return e.Signal == "randomized_mac" }) {
				t.Error("randomized MAC not in evidence")
			}
			for _, e := range p.Evidence {
				if e.Signal == "oui" && tt.randomized {
					t.Errorf("OUI looked up for a randomized MAC: %+v", e)
				}
			}
		})
	}
}

// TestClassifyEvidenceOrder: the strongest evidence comes first (the CLI and
// dashboard show the top items).
func TestClassifyEvidenceOrder(t *testing.T) {
	p := Classify(Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL), TTL: 64})
	if !slices.IsSortedFunc(p.Evidence, func(a, b Evidence) int {
		if a.Weight > b.Weight {
			return -1
		} else if a.Weight < b.Weight {
			return 1
		}
		return 0
	}) {
		t.Errorf("evidence not sorted by weight: %+v", p.Evidence)
	}
	if e := p.Evidence[0]; e.Signal != "hostname" || !strings.HasPrefix(e.Suggests, "kind=phone") {
		t.Errorf("top evidence %+v, want the iPhone host name", e)
	}
}

// TestClassifyWindowsTTLConflict: a Windows vendor class with a TTL of 64
// (e.g. a spoofed or relayed client) is not confidently Windows.
func TestClassifyCounterEvidence(t *testing.T) {
	d := &DHCP{MessageType: 1, VendorClass: "MSFT 5.0"}
	if p := Classify(Signals{DHCP: d, TTL: 128}); p.OS != "windows" {
		t.Errorf("MSFT 5.0 with TTL 128: os=%s, want windows", p.OS)
	}
	if p := Classify(Signals{DHCP: d, TTL: 64}); p.OS != "unknown" {
		t.Errorf("MSFT 5.0 with TTL 64: os=%s, want unknown (conflict)", p.OS)
	}
}

func TestVendorOf(t *testing.T) {
	tests := []struct{ mac, want string }{
		{"3c:22:fb:00:00:01", "Apple"},
		{"3C-22-FB-00-00-01", "Apple"},
		{"00:17:88:24:76:ff", "Philips Lighting"},
		{"50:c7:bf:00:c7:03", "TP-Link"},
		{"00:90:f5:91:cd:1f", "Clevo"},
		{"00:1a:22:03:cb:be", "eQ-3"},
		{"00:16:3e:00:00:01", ""}, // Xensource: not a curated vendor
		{"3e:22:fb:00:00:01", ""}, // locally administered: never looked up
		{"not a mac", ""},
	}
	for _, tt := range tests {
		if got := VendorOf(tt.mac); got != tt.want {
			t.Errorf("VendorOf(%q) = %q, want %q", tt.mac, got, tt.want)
		}
	}
	if !slices.IsSortedFunc(ouiTable[:], func(a, b uint32) int { return int(a&0xffffff) - int(b&0xffffff) }) {
		t.Error("generated OUI table is not sorted")
	}
}

func FuzzClassify(f *testing.F) {
	f.Add("7a:1c:22:33:44:55", "Alices-iPhone", "android-dhcp-14", "captive.apple.com", []byte{1, 121, 3}, uint8(64))
	f.Fuzz(func(t *testing.T, mac, host, vc, dns string, prl []byte, ttl uint8) {
		p := Classify(Signals{MAC: mac, Hostname: host, DNSNames: []string{dns}, TTL: ttl, DHCP: &DHCP{ParamList: prl, VendorClass: vc}})
		if p.Kind == "" || p.OS == "" || p.Confidence < 0 || p.Confidence > 1 {
			t.Fatalf("bad profile %+v", p)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	s := Signals{MAC: "a4:c3:f0:11:22:33", DHCP: &DHCP{MessageType: 3, ParamList: windowsPRL, VendorClass: "MSFT 5.0", Hostname: "LAPTOP-7QK2M1"},
		DNSNames: []string{"www.msftconnecttest.com", "login.live.com", "outlook.office365.com"}, TTL: 128}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if Classify(s).Kind != "laptop" {
			b.Fatal("misclassified")
		}
	}
}
