package register

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden is what a register import shows an admin: the entries and the
// per-row problems.
type golden struct {
	Format  Format                 `json:"format"`
	Entries []policy.RegisterEntry `json:"entries"`
	Lines   []int                  `json:"lines"`
	Errors  []string               `json:"errors"`
}

// TestParseCSVGolden parses the sample exports (written after each system's
// documented export columns, see the Format constants) and pins the result.
func TestParseCSVGolden(t *testing.T) {
	tests := []struct {
		file   string
		format Format
	}{
		{"intune-devices.csv", FormatIntune},
		{"jamf-mobile-devices.csv", FormatJamf},
		{"jamf-computers.csv", FormatJamf},
		{"google-chromeos.csv", FormatGoogle},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			entries, format, err := ParseCSV(tt.file, data)
			if format != tt.format {
				t.Fatalf("format %q, want %q", format, tt.format)
			}
			g := golden{Format: format, Entries: entries}
			for _, e := range entries {
				g.Lines = append(g.Lines, e.Pos.Line)
				if !e.Managed {
					t.Errorf("%s: not managed", e.MAC)
				}
				if n, ok := NormalizeMAC(e.MAC); !ok || n != e.MAC {
					t.Errorf("MAC %q not normalised", e.MAC)
				}
			}
			if err != nil {
				for _, l := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(l, tt.file+":") {
						t.Errorf("error without FILE:LINE: %q", l)
					}
					g.Errors = append(g.Errors, l)
				}
			}
			got, _ := json.MarshalIndent(g, "", "  ")
			path := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".csv")+".golden.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
				t.Errorf("%s differs from the golden file:\n%s", tt.file, got)
			}
		})
	}
}

// TestParseCSVFacts states the facts the golden files pin, so a wrong golden
// file cannot hide them.
func TestParseCSVFacts(t *testing.T) {
	read := func(f string) ([]policy.RegisterEntry, error) {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := ParseCSV(f, data)
		return e, err
	}
	byMAC := func(es []policy.RegisterEntry) map[string]policy.RegisterEntry {
		m := map[string]policy.RegisterEntry{}
		for _, e := range es {
			m[e.MAC] = e
		}
		return m
	}
	intune, err := read("intune-devices.csv")
	m := byMAC(intune)
	if e := m["a4:c3:f0:11:22:33"]; e.Kind != "laptop" || e.Role != "staff-direct" || e.Owner != "j.smith@school.example.org" || e.AssetTag != "5CD3141ABC" || e.Pos.Line != 2 {
		t.Errorf("Intune laptop: %+v", e)
	}
	if e := m["3c:22:fb:10:20:30"]; e.Kind != "tablet" || e.Role != "pupil" {
		t.Errorf("Intune iPad: %+v", e)
	}
	if e := m["f0:18:98:aa:bb:cc"]; e.Kind != "phone" || e.Role != "slt" {
		t.Errorf("Intune iPhone: %+v", e)
	}
	if e, ok := m["00:23:24:ab:cd:ef"]; !ok || e.Kind != "desktop" {
		t.Errorf("Intune desktop by its Ethernet MAC: %+v", e)
	}
	if err == nil || !strings.Contains(err.Error(), `intune-devices.csv:5: device "SCH-LT-0199": Wi-Fi MAC "A4C3F01122ZZ" is not a MAC address`) ||
		!strings.Contains(err.Error(), `intune-devices.csv:7: device "SCH-VM-TEST" has no MAC address`) {
		t.Errorf("Intune errors: %v", err)
	}
	jamf, err := read("jamf-mobile-devices.csv")
	if len(jamf) != 3 {
		t.Errorf("Jamf: %d entries, want 3 good rows", len(jamf))
	}
	if e := byMAC(jamf)["60:8b:0e:11:22:33"]; e.Kind != "phone" || e.Owner != "ppatel" || e.AssetTag != "SCH-01022" || e.Role != "" {
		t.Errorf("Jamf iPhone: %+v", e)
	}
	if err == nil || !strings.Contains(err.Error(), "jamf-mobile-devices.csv:4:") || !strings.Contains(err.Error(), "jamf-mobile-devices.csv:6: device \"Y7-iPad-004\": MAC a8:51:ab:01:02:03 already listed on line 2") {
		t.Errorf("Jamf errors: %v", err)
	}
	google, err := read("google-chromeos.csv")
	g := byMAC(google)
	if e := g["d8:f3:bc:10:20:30"]; e.Kind != "laptop" || e.AssetTag != "CB-0201" || e.Owner != "y8.pupil01@school.example.org" {
		t.Errorf("Google Chromebook: %+v", e)
	}
	if g["d8:f3:bc:10:20:31"].AssetTag != "CB-0202" || g["0c:37:96:0a:0b:0c"].AssetTag != "CB-0202" {
		t.Error("a Chromebook with Wi-Fi and Ethernet MACs should give both")
	}
	if e := g["00:e0:4c:11:22:33"]; e.Kind != "desktop" {
		t.Errorf("Chromebox: %+v", e)
	}
	if err == nil || !strings.Contains(err.Error(), "google-chromeos.csv:5:") {
		t.Errorf("Google errors: %v", err)
	}
}

func TestParseCSVRejects(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"empty", "", "x.csv: empty file"},
		{"other CSV", "name,price\napple,1\n", "x.csv:1: header is not an Intune"},
		{"an unterminated quote is reported with its line", "serialNumber,macAddress,model\n\"abc,d8f3bc102030,x\nS2,d8f3bc102032,HP Chromebook\n", "x.csv:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseCSV("x.csv", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNormalizeMAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A4C3F0112233", "a4:c3:f0:11:22:33"},
		{"a4:c3:f0:11:22:33", "a4:c3:f0:11:22:33"},
		{"A4-C3-F0-11-22-33", "a4:c3:f0:11:22:33"},
		{"a4c3.f011.2233", "a4:c3:f0:11:22:33"},
		{"a4c3f01122", ""},
		{"a4c3f0112233aa", ""},
		{"g4c3f0112233", ""},
		{"000000000000", ""},
		{"FF:FF:FF:FF:FF:FF", ""},
	}
	for _, tt := range tests {
		got, ok := NormalizeMAC(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestKindFromModel(t *testing.T) {
	tests := []struct {
		texts []string
		want  string
	}{
		{[]string{"iPad (9th generation)", "iPadOS"}, "tablet"},
		{[]string{"iPhone 13", "iOS"}, "phone"},
		{[]string{"", "iOS/iPadOS"}, ""},
		{[]string{"HP Chromebook 11 G9 EE"}, "laptop"},
		{[]string{"Lenovo ThinkCentre M70q Chromebox"}, "desktop"},
		{[]string{"MacBook Air (M2, 2022)"}, "laptop"},
		{[]string{"Apple Watch SE"}, "smartwatch"},
		{[]string{"VMware20,1", "Windows"}, "laptop"},
		{[]string{"Galaxy Tab A8", "Android"}, "tablet"},
		{[]string{"Pixel 8", "Android"}, ""},
	}
	for _, tt := range tests {
		if got := KindFromModel(tt.texts...); got != tt.want {
			t.Errorf("KindFromModel(%q) = %q, want %q", tt.texts, got, tt.want)
		}
	}
}

func TestContradicts(t *testing.T) {
	iphone := fingerprint.Classify(fingerprint.Signals{MAC: "7a:1c:22:33:44:55", DHCP: &fingerprint.DHCP{MessageType: 1,
		ParamList: []uint8{1, 121, 3, 6, 15, 108, 114, 119, 252}, Hostname: "Alices-iPhone"}})
	console := fingerprint.Classify(fingerprint.Signals{MAC: "98:b6:e9:01:02:03", DHCP: &fingerprint.DHCP{MessageType: 1,
		ParamList: []uint8{1, 3, 6, 28}}, DNSNames: []string{"ctest.cdn.nintendo.net"}})
	windowsDesktop := fingerprint.Profile{Kind: "desktop", OS: "windows", Confidence: 0.7}
	unsure := fingerprint.Profile{Kind: "phone", Confidence: 0.4}
	tests := []struct {
		name       string
		registered string
		p          fingerprint.Profile
		want       bool
		reason     string
	}{
		{"school laptop that looks like an iPhone", "laptop", iphone, true, `registered as a laptop, but looks like a phone`},
		{"school laptop that looks like a games console", "laptop", console, true, "looks like a games-console"},
		{"school iPhone that is one", "phone", iphone, false, ""},
		{"laptop vs desktop is no mismatch", "laptop", windowsDesktop, false, ""},
		{"an unsure profile never contradicts", "laptop", unsure, false, ""},
		{"no register kind never contradicts", "", iphone, false, ""},
		{"unknown profile never contradicts", "tablet", fingerprint.Profile{Kind: "unknown"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Contradicts(tt.registered, tt.p)
			if got != tt.want || !strings.Contains(why, tt.reason) || (!got && why != "") {
				t.Errorf("Contradicts(%q, %s %.2f) = %v %q, want %v %q", tt.registered, tt.p.Kind, tt.p.Confidence, got, why, tt.want, tt.reason)
			}
		})
	}
	if _, why := Contradicts("laptop", iphone); !strings.Contains(why, `hostname "Alices-iPhone"`) {
		t.Errorf("reason %q does not name the evidence", why)
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, name := range []string{"intune-devices.csv", "jamf-mobile-devices.csv", "google-chromeos.csv"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("Wi-Fi MAC Address,Serial Number\n\"a\"\"b,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, format, err := ParseCSV("f.csv", data)
		if format == FormatUnknown && len(entries) > 0 {
			t.Fatal("entries from an unknown format")
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if n, ok := NormalizeMAC(e.MAC); !ok || n != e.MAC || seen[e.MAC] || !e.Managed || e.Pos.Line < 2 {
				t.Fatalf("bad entry %+v", e)
			}
			seen[e.MAC] = true
		}
		if err != nil {
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, "f.csv:") && !strings.HasPrefix(l, "f.csv ") {
					t.Fatalf("error line without the file name: %q", l)
				}
			}
		}
	})
}
