package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

var updateClassify = flag.Bool("update-classify", false, "rewrite testdata/classify-*.golden")

const refPcaps = "../../../shared/reference/pcaps"

func requireRef(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(refPcaps, rel)
	if _, err := os.Stat(p); err != nil {
		lab.Missing(t, "reference capture "+p)
	}
	return p
}

// TestClassifyGolden pins the command's text and JSON output on real captures.
func TestClassifyGolden(t *testing.T) {
	for _, rel := range []string{"zeek/dhcp_time_and_nameserver.pcap", "zeek/hw-type0.pcap", "tcpdump-tests/dhcp-option-108.pcapng"} {
		for _, asJSON := range []bool{false, true} {
			name := "classify-" + strings.NewReplacer("/", "_", ".pcapng", "", ".pcap", "").Replace(rel)
			args := []string{"--pcap", requireRef(t, rel), "--text"}
			if asJSON {
				name += ".json"
				args = []string{"--pcap", requireRef(t, rel), "--json"}
			}
			t.Run(name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := runClassify(context.Background(), args, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d, stderr: %s", code, stderr.String())
				}
				path := filepath.Join("testdata", name+".golden")
				if *updateClassify {
					if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden (run with -update-classify): %v", err)
				}
				if stdout.String() != string(want) {
					t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, stdout.String(), want)
				}
			})
		}
	}
}

// TestClassifyMacOSCapture: the recent macOS capture (private MAC, option 108)
// is a Mac laptop by Apple, not a phone.
func TestClassifyMacOSCapture(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runClassify(context.Background(), []string{"--json", "--pcap", requireRef(t, "tcpdump-tests/dhcp-option-108.pcapng")}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got []classifiedDevice
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].MAC != "42:b4:44:b4:f0:ee" || got[0].Kind != "laptop" || got[0].OS != "macos" || got[0].Vendor != "Apple" || !got[0].RandomizedMAC {
		t.Errorf("got %+v, want one randomized Apple macOS laptop", got)
	}
}

// TestClassifyIoTNeverPersonal: none of the IoT Sentinel devices (cameras,
// plugs, scales, bridges; Miettinen et al., ICDCS 2017) may be classified as a
// phone, tablet or smartwatch: that would raise a false "personal phone" alert.
func TestClassifyIoTNeverPersonal(t *testing.T) {
	dir := filepath.Join(refPcaps, "iot-sentinel")
	macFiles, _ := filepath.Glob(filepath.Join(dir, "*__iotdevice-mac.txt"))
	if len(macFiles) == 0 {
		lab.Missing(t, "IoT Sentinel captures in "+dir)
	}
	checked := 0
	for _, mf := range macFiles {
		device := strings.TrimSuffix(filepath.Base(mf), "__iotdevice-mac.txt")
		raw, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		mac := strings.ToLower(strings.TrimSpace(string(raw)))
		pcaps, _ := filepath.Glob(filepath.Join(dir, device+"__*.pcap"))
		for _, p := range pcaps {
			var stdout, stderr bytes.Buffer
			if code := runClassify(context.Background(), []string{"--json", "--pcap", p}, &stdout, &stderr); code != 0 {
				t.Fatalf("%s: exit %d: %s", p, code, stderr.String())
			}
			var got []classifiedDevice
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range got {
				switch d.Kind {
				case "phone", "tablet", "smartwatch":
					if d.MAC == mac {
						t.Errorf("%s (%s) classified as %s: %+v", device, mac, d.Kind, d.Evidence)
					}
				}
				found = found || d.MAC == mac
			}
			if !found {
				t.Errorf("%s: device %s not among the classified devices", p, mac)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d captures", checked)
	}
}

func TestClassifyUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{"help", []string{"--help"}, 0, "Usage: hallmonitor classify --pcap FILE [--register CSV]... [--fingerprints XML]..."},
		{"missing pcap", nil, 2, "--pcap FILE is required"},
		{"not a capture", []string{"--pcap", "classify_test.go"}, 1, "not a pcap or pcapng file"},
		{"missing file", []string{"--pcap", "no-such.pcap"}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runClassify(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, stdout.String()+stderr.String(), tt.code, tt.out)
			}
		})
	}
}

// The default output is one JSON object per device per line with the contract's
// names; a register export marks school devices managed.
func TestClassifyJSONLinesWithRegister(t *testing.T) {
	pcap := requireRef(t, "tcpdump-tests/dhcp-option-108.pcapng")
	dir := t.TempDir()
	csv := filepath.Join(dir, "intune.csv")
	data, err := os.ReadFile("../../rules/register/testdata/intune-devices.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Add the capture's Mac to the export as a school laptop.
	lines := strings.SplitN(string(data), "\n", 2)
	if err := os.WriteFile(csv, []byte(lines[0]+"\n"+macRow(lines[0], "42:b4:44:b4:f0:ee")+"\n"+lines[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runClassify(context.Background(), []string{"--pcap", pcap, "--register", csv}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if out == "" {
		t.Fatal("no output")
	}
	for _, line := range strings.Split(out, "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", line, err)
		}
		for _, k := range []string{"mac", "ip", "hostname", "kind", "os", "vendor", "managed", "randomized_mac", "confidence", "linked_macs", "evidence"} {
			if _, ok := d[k]; !ok {
				t.Errorf("line lacks %q: %s", k, line)
			}
		}
		if d["mac"] == "42:b4:44:b4:f0:ee" && d["managed"] != true {
			t.Errorf("the registered Mac is not managed: %s", line)
		}
	}
}

// macRow builds an Intune row for mac from the header's columns.
func macRow(header, mac string) string {
	cols := strings.Split(header, ",")
	row := make([]string, len(cols))
	for i, c := range cols {
		switch strings.Trim(c, `"`) {
		case "Wi-Fi MAC":
			row[i] = strings.ToUpper(strings.ReplaceAll(mac, ":", ""))
		case "Device name":
			row[i] = "HMA-MB-0001"
		case "Serial number":
			row[i] = "C02TEST0001"
		case "OS":
			row[i] = "macOS"
		}
	}
	return strings.Join(row, ",")
}
