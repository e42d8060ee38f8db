package fingerprint

import (
	"slices"
	"testing"
)

// Readings a device can produce over a day, from the archetypes in
// classify_test.go.
var (
	readIPhoneNamed  = Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("Alices-iPhone", iosPRL), TTL: 64}
	readIOSNoName    = Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("", iosPRL), TTL: 64}
	readIOSPhoneApps = Signals{MAC: "7a:1c:22:33:44:55", DHCP: apple("", iosPRL), TTL: 64, DNSNames: []string{"time-ios.apple.com", "i.instagram.com", "app.snapchat.com", "g.whatsapp.net"}}
	readSwitchNamed  = Signals{MAC: "5e:01:02:03:04:99", DHCP: &DHCP{MessageType: 1, Hostname: "Nintendo-Switch"}}
	readNothing      = Signals{MAC: "5e:01:02:03:04:99"}
	// Two weak, contrary readings of one private MAC: only a host name each,
	// one a Windows OEM default (laptop 0.6), the other a Pixel's (phone 0.7),
	// as when two name sources (DHCP and mDNS) disagree. Neither is strong.
	readWeakA = Signals{MAC: "5e:aa:bb:cc:dd:01", DHCP: &DHCP{MessageType: 1, Hostname: "LAPTOP-7QK2M1"}}
	readWeakB = Signals{MAC: "5e:aa:bb:cc:dd:01", DHCP: &DHCP{MessageType: 1, Hostname: "Pixel-7a"}}
)

func TestRefineSequences(t *testing.T) {
	tests := []struct {
		name      string
		readings  []Signals
		wantKinds []string // kind after each reading
		wantOS    string   // OS at the end
	}{
		{"unknown then strong host name switches", []Signals{readNothing, readSwitchNamed},
			[]string{"unknown", "games-console"}, "nintendo"},
		{"a renewal without host name keeps what was known", []Signals{readIPhoneNamed, readIOSNoName, readIOSNoName},
			[]string{"phone", "phone", "phone"}, "ios"},
		{"weak readings alternating never flip", []Signals{readWeakA, readWeakB, readWeakA, readWeakB, readWeakA, readWeakB},
			[]string{"laptop", "laptop", "laptop", "laptop", "laptop", "laptop"}, "windows"},
		{"a weak guess, then strong contrary evidence switches", []Signals{readWeakA, readWeakB, readSwitchNamed, readWeakA},
			[]string{"laptop", "laptop", "games-console", "games-console"}, "nintendo"},
		{"no name, then phone apps, then the name: phone throughout once known", []Signals{readIOSNoName, readIOSPhoneApps, readIOSNoName, readIPhoneNamed},
			[]string{"unknown", "phone", "phone", "phone"}, "ios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Profile{Kind: "unknown", OS: "unknown"}
			var got []string
			for _, s := range tt.readings {
				p = Refine(p, s)
				got = append(got, p.Kind)
			}
			if !slices.Equal(got, tt.wantKinds) || p.OS != tt.wantOS {
				t.Errorf("kinds %v os %s, want %v os %s", got, p.OS, tt.wantKinds, tt.wantOS)
			}
		})
	}
}

// The weak pair really does disagree when classified alone: otherwise the
// alternation test above proves nothing.
func TestRefineWeakPairDisagrees(t *testing.T) {
	a, b := Classify(readWeakA), Classify(readWeakB)
	if a.Kind == b.Kind || a.Kind == "unknown" || b.Kind == "unknown" {
		t.Fatalf("want two different known kinds, got %s (%.2f) and %s (%.2f)", a.Kind, a.Confidence, b.Kind, b.Confidence)
	}
	if d := a.Confidence - b.Confidence; d >= RefineMargin || -d >= RefineMargin {
		t.Fatalf("confidences %.2f and %.2f differ by the margin: not a weak pair", a.Confidence, b.Confidence)
	}
	p := Refine(a, readWeakB)
	if !slices.ContainsFunc(p.Evidence, func(e Evidence) bool { return e.Signal == "hysteresis" && e.Suggests == "kind="+a.Kind }) {
		t.Errorf("kept kind without a hysteresis note: %+v", p.Evidence)
	}
}

func TestRefineRule(t *testing.T) {
	ph := func(kind, os string, c, oc float64) Profile {
		return Profile{Kind: kind, OS: os, Confidence: c, OSConfidence: oc}
	}
	tests := []struct {
		name       string
		prev, next Profile
		kind, os   string
		conf       float64
	}{
		{"prev unknown takes new", ph("unknown", "unknown", 0, 0), ph("phone", "ios", 0.6, 0.7), "phone", "ios", 0.6},
		{"new unknown keeps prev", ph("phone", "ios", 0.8, 0.8), ph("unknown", "unknown", 0, 0), "phone", "ios", 0.8},
		{"same label keeps the higher confidence", ph("phone", "ios", 0.8, 0.8), ph("phone", "ios", 0.6, 0.6), "phone", "ios", 0.8},
		{"contrary below the margin is held", ph("phone", "ios", 0.6, 0.6), ph("tablet", "ipados", 0.75, 0.75), "phone", "ios", 0.6},
		{"contrary by the margin switches, with its OS", ph("phone", "android", 0.55, 0.6), ph("games-console", "unknown", 0.9, 0), "games-console", "unknown", 0.9},
		{"OS alone switches only by the margin", ph("laptop", "linux", 0.6, 0.5), ph("laptop", "chromeos", 0.6, 0.65), "laptop", "linux", 0.6},
		{"OS known, kind newly known: OS kept", ph("unknown", "ios", 0, 0.6), ph("phone", "unknown", 0.7, 0), "phone", "ios", 0.7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := refine(tt.prev, tt.next)
			if p.Kind != tt.kind || p.OS != tt.os || p.Confidence != tt.conf {
				t.Errorf("got %s/%s %.2f, want %s/%s %.2f", p.Kind, p.OS, p.Confidence, tt.kind, tt.os, tt.conf)
			}
		})
	}
}

// FuzzRefineBoundsFlips: whatever the readings, the kind changes at most
// 1/RefineMargin times after it is first known.
func FuzzRefineBoundsFlips(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0, 1, 2, 3, 2, 3})
	readings := []Signals{readIPhoneNamed, readIOSNoName, readIOSPhoneApps, readSwitchNamed, readNothing, readWeakA, readWeakB,
		{MAC: "68:db:f5:01:02:03", DHCP: &DHCP{MessageType: 1, ParamList: udhcpPRL, VendorClass: "udhcp 1.28.3", Hostname: "kindle-8f2c1d"}},
		{MAC: "a4:c3:f0:11:22:33", DHCP: &DHCP{MessageType: 3, ParamList: windowsPRL, VendorClass: "MSFT 5.0", Hostname: "LAPTOP-7QK2M1"}, TTL: 128}}
	f.Fuzz(func(t *testing.T, seq []byte) {
		p := Profile{Kind: "unknown", OS: "unknown"}
		flips := 0
		for _, b := range seq {
			n := Refine(p, readings[int(b)%len(readings)])
			if known(p.Kind) && n.Kind != p.Kind {
				flips++
			}
			if known(p.Kind) && !known(n.Kind) {
				t.Fatalf("a known kind %s became %s", p.Kind, n.Kind)
			}
			p = n
		}
		if flips > int(1/RefineMargin) {
			t.Fatalf("%d flips over %d readings", flips, len(seq))
		}
	})
}
