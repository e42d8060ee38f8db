package fingerprint

import (
	"slices"
	"testing"
	"time"
)

func TestLinkScore(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	macID := func(mac string) []byte { // iOS/Android/Windows: option 61 = 01 + MAC
		var b [6]byte
		oui, _ := parseMAC(mac)
		copy(b[:], oui[:])
		for i := 3; i < 6; i++ {
			hi, _ := unhex(mac[3*i])
			lo, _ := unhex(mac[3*i+1])
			b[i] = hi<<4 | lo
		}
		return append([]byte{1}, b[:]...)
	}
	iphone := func(mac, host string, first, last time.Time) LinkCandidate {
		return LinkCandidate{MAC: mac, ClientID: macID(mac), Hostname: host, ParamList: iosPRL, Options: []uint8{53, 55, 57, 61, 51, 12},
			Kind: "phone", OS: "ios", FirstSeen: first, LastSeen: last, VLAN: 20}
	}
	alice := iphone("7a:1c:22:33:44:55", "Alices-iPhone", t0, t0.Add(40*time.Minute))
	// The same phone under its next private address, 30 s after the old one
	// went silent, sending a REQUEST (50, 54 instead of 51).
	aliceRotated := iphone("4e:28:83:fb:a9:0d", "Alices-iPhone", t0.Add(40*time.Minute+30*time.Second), t0.Add(2*time.Hour))
	aliceRotated.Options = []uint8{53, 55, 57, 61, 50, 54, 12}
	chromebook := LinkCandidate{MAC: "5e:01:02:03:04:05", ClientID: []byte{0xff, 0, 0, 0, 1, 0, 1, 0, 1, 0x2a}, Hostname: "", ParamList: chromePRL,
		VendorClass: "chromeos", Kind: "laptop", OS: "chromeos", FirstSeen: t0, LastSeen: t0.Add(time.Hour), VLAN: 30}
	chromebookNext := chromebook
	chromebookNext.MAC, chromebookNext.FirstSeen, chromebookNext.LastSeen, chromebookNext.VLAN = "6a:01:02:03:04:06", t0.Add(26*time.Hour), t0.Add(27*time.Hour), 31

	with := func(c LinkCandidate, f func(*LinkCandidate)) LinkCandidate { f(&c); return c }
	tests := []struct {
		name        string
		known       LinkCandidate
		fresh       LinkCandidate
		link        bool
		wantSignal  string // an evidence signal that must be present
		wantZeroVal bool   // a veto: score exactly 0
	}{
		{"iPhone rotating its private MAC with the same host name links", alice, aliceRotated, true, "link_hostname", false},
		{"two identical iPhones present together never link",
			alice, with(aliceRotated, func(c *LinkCandidate) { c.FirstSeen = t0.Add(10 * time.Minute) }), false, "link_overlap", true},
		{"a fresh MAC seen at the very instant the known one was is present together",
			alice, with(aliceRotated, func(c *LinkCandidate) { c.FirstSeen = alice.LastSeen }), false, "link_overlap", true},
		{"a different OS never links",
			alice, with(aliceRotated, func(c *LinkCandidate) { c.OS, c.Kind = "android", "phone" }), false, "link_os", true},
		{"a different kind never links",
			alice, with(aliceRotated, func(c *LinkCandidate) { c.Kind = "tablet" }), false, "link_kind", true},
		{"the classifier knowing only the parent OS is no conflict",
			alice, with(aliceRotated, func(c *LinkCandidate) { c.OS = "unknown"; c.Kind = "unknown" }), true, "link_param_list", false},
		{"another host name never links", alice, with(aliceRotated, func(c *LinkCandidate) { c.Hostname = "Bobs-iPhone" }), false, "link_hostname", true},
		{"the generic name iPhone is not enough",
			with(alice, func(c *LinkCandidate) { c.Hostname = "iPhone" }), with(aliceRotated, func(c *LinkCandidate) { c.Hostname = "iPhone" }), false, "link_missing", false},
		{"another VLAN is not enough", alice, with(aliceRotated, func(c *LinkCandidate) { c.VLAN = 21 }), false, "link_missing", false},
		{"a day later is not enough", alice, with(aliceRotated, func(c *LinkCandidate) { c.FirstSeen = t0.Add(26 * time.Hour) }), false, "link_missing", false},
		{"a burned-in fresh MAC does not rotate", alice, with(aliceRotated, func(c *LinkCandidate) { c.MAC = "3c:22:fb:10:20:30"; c.ClientID = macID(c.MAC) }), false, "link_missing", false},
		{"another param list (another iOS) never links", alice, with(aliceRotated, func(c *LinkCandidate) { c.ParamList = []uint8{1, 121, 3, 6, 15, 119, 252} }), false, "link_param_list", true},
		{"a stable client-id links across a day and a VLAN", chromebook, chromebookNext, true, "link_client_id", false},
		{"different stable client-ids never link", chromebook, with(chromebookNext, func(c *LinkCandidate) { c.ClientID = []byte{0xff, 9, 9, 9, 9} }), false, "link_client_id", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			score, ev := LinkScore(tt.known, tt.fresh)
			if got := score >= LinkThreshold; got != tt.link {
				t.Errorf("score %.2f (threshold %.2f): link=%v, want %v; evidence %+v", score, LinkThreshold, got, tt.link, ev)
			}
			if tt.wantZeroVal && score != 0 {
				t.Errorf("score %.2f, want 0 (veto)", score)
			}
			if score < 0 || score > 1 {
				t.Errorf("score %.2f outside 0..1", score)
			}
			if !slices.ContainsFunc(ev, func(e Evidence) bool { return e.Signal == tt.wantSignal }) {
				t.Errorf("no %s evidence in %+v", tt.wantSignal, ev)
			}
		})
	}
}

// A link must not depend on argument order except through time: swapping
// known and fresh for two phones present together stays a veto.
func TestLinkScoreNeverMergesConcurrentDevices(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a := LinkCandidate{MAC: "7a:00:00:00:00:01", Hostname: "iPhone", ParamList: iosPRL, FirstSeen: t0, LastSeen: t0.Add(time.Hour), VLAN: 20}
	b := a
	b.MAC, b.FirstSeen, b.LastSeen = "7a:00:00:00:00:02", t0.Add(30*time.Minute), t0.Add(2*time.Hour)
	for _, pair := range [][2]LinkCandidate{{a, b}, {b, a}} {
		if s, ev := LinkScore(pair[0], pair[1]); s != 0 {
			t.Errorf("%s/%s: score %.2f, want 0; %+v", pair[0].MAC, pair[1].MAC, s, ev)
		}
	}
}
