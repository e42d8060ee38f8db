// Package corpus is HallMonitor's labelled accuracy corpus: devices with what
// the gateway would see of them (MAC, DHCP, DNS, TTL, host name) and what they
// really are. It is built from public reference captures, from fixtures
// written from documented device behaviour (testdata/*.yaml, each with its
// source), and from real DHCP clients run in the lab; Evaluate scores a
// classifier on it per kind.
package corpus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// Device is one labelled corpus entry.
type Device struct {
	Name    string              // e.g. "iPhone 15, iOS 18, named"
	Source  string              // where its facts come from
	Origin  string              // "fixture", "capture" or "lab"
	Kind    string              // the truth
	OS      string              // the truth ("" when not asserted)
	Signals fingerprint.Signals // what the gateway sees
}

// fixture is the YAML form of a Device.
type fixture struct {
	Name   string     `yaml:"name"`
	Source string     `yaml:"source"`
	Kind   string     `yaml:"kind"`
	OS     string     `yaml:"os"`
	MAC    string     `yaml:"mac"`
	TTL    uint8      `yaml:"ttl"`
	DNS    []string   `yaml:"dns"`
	MDNS   string     `yaml:"mdns_name"` // host name from mDNS, not DHCP
	DHCP   *dhcpFixed `yaml:"dhcp"`
}

type dhcpFixed struct {
	Type        uint8   `yaml:"type"`
	Options     []uint8 `yaml:"options"`
	ParamList   []uint8 `yaml:"param_list"`
	VendorClass string  `yaml:"vendor_class"`
	Hostname    string  `yaml:"hostname"`
	FQDN        string  `yaml:"fqdn"`
	MaxMsgSize  uint16  `yaml:"max_msg_size"`
}

// Kinds the corpus may label (fingerprint.Profile.Kind values).
var Kinds = []string{"phone", "tablet", "laptop", "desktop", "smartwatch", "fitness-tracker", "games-console",
	"e-reader", "tv-media", "printer", "iot", "network"}

// LoadFixtures reads every *.yaml file in dir (a list of devices each) with
// strict field checking. Each device needs a name, a source, a known kind and
// a MAC.
func LoadFixtures(dir string) ([]Device, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	sort.Strings(files)
	var out []Device
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var fx []fixture
		if err := dec.Decode(&fx); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", f, err)
		}
		for i, x := range fx {
			where := fmt.Sprintf("%s: device %d (%q)", filepath.Base(f), i+1, x.Name)
			switch {
			case x.Name == "" || x.Source == "":
				return nil, fmt.Errorf("corpus: %s: needs a name and a source", where)
			case !slices.Contains(Kinds, x.Kind):
				return nil, fmt.Errorf("corpus: %s: kind %q is not one of %v", where, x.Kind, Kinds)
			case x.MAC == "":
				return nil, fmt.Errorf("corpus: %s: needs a MAC", where)
			}
			d := Device{Name: x.Name, Source: x.Source, Origin: "fixture", Kind: x.Kind, OS: x.OS,
				Signals: fingerprint.Signals{MAC: strings.ToLower(x.MAC), TTL: x.TTL, DNSNames: x.DNS, Hostname: x.MDNS}}
			if strings.HasPrefix(filepath.Base(f), "lab") {
				d.Origin = "lab"
			}
			if x.DHCP != nil {
				d.Signals.DHCP = &fingerprint.DHCP{MessageType: x.DHCP.Type, Options: x.DHCP.Options, ParamList: x.DHCP.ParamList,
					VendorClass: x.DHCP.VendorClass, Hostname: x.DHCP.Hostname, FQDN: x.DHCP.FQDN, MaxMsgSize: x.DHCP.MaxMsgSize,
					IPv6OnlyPreferred: slices.Contains(x.DHCP.ParamList, 108)}
				if d.Signals.Hostname == "" {
					d.Signals.Hostname = x.DHCP.Hostname
				}
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus: no fixtures in %s", dir)
	}
	return out, nil
}

// Accumulate folds one device's observations into Signals the way the
// daemon's engine does (daemon/engine.go): the latest client DHCP message
// (DISCOVER, REQUEST, DECLINE, RELEASE, INFORM), its host name, distinct DNS
// names (most recent last, at most 32), the latest non-zero TTL.
func Accumulate(mac string, obs []daemon.Observation) (fingerprint.Signals, bool) {
	s := fingerprint.Signals{MAC: mac}
	seen := false
	for _, o := range obs {
		if o.MAC != mac {
			continue
		}
		switch o.Kind {
		case daemon.ObsDHCP:
			if o.DHCP == nil {
				continue
			}
			switch o.DHCP.MessageType {
			case 1, 3, 4, 7, 8:
			default:
				continue
			}
			seen = true
			s.DHCP = o.DHCP
			if o.DHCP.Hostname != "" {
				s.Hostname = o.DHCP.Hostname
			}
		case daemon.ObsDNS:
			seen = true
			if o.DNSName != "" && !slices.Contains(s.DNSNames, o.DNSName) {
				s.DNSNames = append(s.DNSNames, o.DNSName)
				if len(s.DNSNames) > 32 {
					s.DNSNames = s.DNSNames[1:]
				}
			}
		default:
			seen = true
		}
		if o.TTL != 0 {
			s.TTL = o.TTL
		}
		if o.Hostname != "" && s.Hostname == "" {
			s.Hostname = o.Hostname
		}
	}
	return s, seen
}

// FromCapture reads a pcap/pcapng file and returns the device with the given
// MAC as the gateway would have seen it, labelled with kind and os.
func FromCapture(ctx context.Context, path, mac, name, source, kind, os string) (Device, error) {
	obs, err := capture.ReadFile(ctx, path)
	if err != nil {
		return Device{}, fmt.Errorf("corpus: %w", err)
	}
	mac = strings.ToLower(strings.TrimSpace(mac))
	s, ok := Accumulate(mac, obs)
	if !ok {
		return Device{}, fmt.Errorf("corpus: %s: %s: %w", path, mac, ErrNoDevice)
	}
	return Device{Name: name, Source: source, Origin: "capture", Kind: kind, OS: os, Signals: s}, nil
}

// StripNames returns s without any host name: the DHCP host name (12) and
// FQDN (81) removed from the message and its option order, mDNS name
// cleared. It models devices that send none (iOS 16+ with a default name,
// privacy settings) and tells what the rest of the evidence is worth.
func StripNames(s fingerprint.Signals) fingerprint.Signals {
	s.Hostname = ""
	if s.DHCP != nil {
		d := *s.DHCP
		d.Hostname, d.FQDN = "", ""
		d.Options = slices.DeleteFunc(slices.Clone(d.Options), func(o uint8) bool { return o == 12 || o == 81 })
		s.DHCP = &d
	}
	return s
}

// Row is one kind's line of a report.
type Row struct {
	Kind      string
	N         int     // devices of this kind
	Correct   int     // classified as this kind
	Unknown   int     // classified "unknown"
	Predicted int     // devices of any kind classified as this kind
	Precision float64 // Correct / Predicted (1 when nothing was predicted)
	Recall    float64 // Correct / N
}

// Report is a classifier's score on a corpus.
type Report struct {
	N, Correct, Unknown, WrongKnown int
	Rows                            []Row
	Mistakes                        []string // "name: got K (want W)" for every wrong known kind
	Unknowns                        []string // names classified unknown
}

// Accuracy is Correct/N: "unknown" counts as wrong.
func (r Report) Accuracy() float64 { return ratio(r.Correct, r.N) }

// WrongKnownRate is the share of devices given a known but wrong kind: the
// mistakes that raise false alerts.
func (r Report) WrongKnownRate() float64 { return ratio(r.WrongKnown, r.N) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Evaluate classifies every device (with names stripped when strip is set)
// and scores the kinds.
func Evaluate(devs []Device, classify func(fingerprint.Signals) fingerprint.Profile, strip bool) Report {
	rows := map[string]*Row{}
	row := func(k string) *Row {
		if rows[k] == nil {
			rows[k] = &Row{Kind: k}
		}
		return rows[k]
	}
	var r Report
	for _, d := range devs {
		s := d.Signals
		if strip {
			s = StripNames(s)
		}
		p := classify(s)
		r.N++
		row(d.Kind).N++
		switch {
		case p.Kind == d.Kind:
			r.Correct++
			row(d.Kind).Correct++
			row(d.Kind).Predicted++
		case p.Kind == "unknown" || p.Kind == "":
			r.Unknown++
			row(d.Kind).Unknown++
			r.Unknowns = append(r.Unknowns, d.Name)
		default:
			r.WrongKnown++
			row(p.Kind).Predicted++
			r.Mistakes = append(r.Mistakes, fmt.Sprintf("%s: got %s (want %s)", d.Name, p.Kind, d.Kind))
		}
	}
	for _, k := range Kinds {
		if x := rows[k]; x != nil {
			x.Precision, x.Recall = ratio(x.Correct, x.Predicted), ratio(x.Correct, x.N)
			r.Rows = append(r.Rows, *x)
		}
	}
	return r
}

// Markdown renders the report as a table.
func (r Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| kind | devices | correct | unknown | predicted as this kind | precision | recall |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %.0f %% | %.0f %% |\n", x.Kind, x.N, x.Correct, x.Unknown, x.Predicted, 100*x.Precision, 100*x.Recall)
	}
	fmt.Fprintf(&b, "| **all** | %d | %d | %d | | | |\n\n", r.N, r.Correct, r.Unknown)
	fmt.Fprintf(&b, "Kind accuracy **%.1f %%** (unknown counts as wrong); unknown %.1f %%; **wrong known kind %.1f %%** (%d).\n",
		100*r.Accuracy(), 100*ratio(r.Unknown, r.N), 100*r.WrongKnownRate(), r.WrongKnown)
	if len(r.Mistakes) > 0 {
		b.WriteString("\nWrong known kinds:\n\n")
		for _, m := range r.Mistakes {
			fmt.Fprintf(&b, "- %s\n", m)
		}
	}
	if len(r.Unknowns) > 0 {
		b.WriteString("\nUnknown: " + strings.Join(r.Unknowns, "; ") + ".\n")
	}
	return b.String()
}

// ErrNoDevice is returned (wrapped) when a capture has nothing from the MAC.
var ErrNoDevice = errors.New("no observation from the device")
