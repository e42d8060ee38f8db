package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

func init() {
	register("classify", "classify the devices in a pcap/pcapng capture", runClassify)
}

// maxDNSNames bounds the query names kept per device (most recent last).
const maxDNSNames = 32

// classifiedDevice is one line of `classify --json`.
type classifiedDevice struct {
	MAC           string                 `json:"mac"`
	Kind          string                 `json:"kind"`
	OS            string                 `json:"os"`
	Vendor        string                 `json:"vendor"`
	Confidence    float64                `json:"confidence"`
	RandomizedMAC bool                   `json:"randomized_mac"`
	Evidence      []fingerprint.Evidence `json:"evidence"`
}

func runClassify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("classify", "--pcap FILE [--json]", stdout, stderr)
	pcap := fs.String("pcap", "", "capture file to read (pcap or pcapng, Ethernet)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of one line per device")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *pcap == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "hallmonitor classify: --pcap FILE is required (and takes no arguments)")
		fs.Usage()
		return 2
	}
	obs, err := capture.ReadFile(ctx, *pcap)
	if err != nil {
		fmt.Fprintf(stderr, "hallmonitor classify: %v\n", err)
		return 1
	}
	devices := classifyObservations(obs)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(devices); err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: write: %v\n", err)
			return 1
		}
		return 0
	}
	for _, d := range devices {
		fmt.Fprintf(stdout, "%s  %-15s %-11s %-12q %.2f  %s\n", d.MAC, d.Kind, d.OS, d.Vendor, d.Confidence, topEvidence(d.Evidence, 3))
	}
	return 0
}

// classifyObservations accumulates per-MAC Signals in observation order and
// classifies each device; the result is sorted by MAC.
func classifyObservations(obs []daemon.Observation) []classifiedDevice {
	signals := map[string]*fingerprint.Signals{}
	dnsTTL := map[string]bool{} // TTL already taken from an ordinary (DNS) packet
	for _, o := range obs {
		if o.MAC == "" {
			continue
		}
		s := signals[o.MAC]
		if s == nil {
			s = &fingerprint.Signals{MAC: o.MAC}
			signals[o.MAC] = s
		}
		switch o.Kind {
		case daemon.ObsDHCP:
			d := o.DHCP
			if d == nil || !isClientMessage(d.MessageType) {
				continue // server replies carry leases, not fingerprints
			}
			s.DHCP = d
			if d.Hostname != "" {
				s.Hostname = d.Hostname
			} else if d.FQDN != "" {
				s.Hostname = d.FQDN
			}
			if o.TTL != 0 && !dnsTTL[o.MAC] {
				s.TTL = o.TTL
			}
		case daemon.ObsDNS:
			s.DNSNames = slices.DeleteFunc(s.DNSNames, func(n string) bool { return n == o.DNSName })
			s.DNSNames = append(s.DNSNames, o.DNSName)
			if len(s.DNSNames) > maxDNSNames {
				s.DNSNames = s.DNSNames[len(s.DNSNames)-maxDNSNames:]
			}
			if o.TTL != 0 {
				s.TTL, dnsTTL[o.MAC] = o.TTL, true // the stack's default TTL, not a DHCP client's
			}
		}
		if o.Hostname != "" {
			s.Hostname = o.Hostname
		}
	}
	out := make([]classifiedDevice, 0, len(signals))
	for _, s := range signals {
		p := fingerprint.Classify(*s)
		out = append(out, classifiedDevice{MAC: s.MAC, Kind: p.Kind, OS: p.OS, Vendor: p.Vendor,
			Confidence: p.Confidence, RandomizedMAC: p.RandomizedMAC, Evidence: p.Evidence})
	}
	slices.SortFunc(out, func(a, b classifiedDevice) int { return strings.Compare(a.MAC, b.MAC) })
	return out
}

// isClientMessage: DISCOVER, REQUEST, DECLINE, RELEASE, INFORM (RFC 2132 9.6)
// are client messages; only those that carry a full request are fingerprints.
func isClientMessage(t uint8) bool {
	return t == 1 || t == 3 || t == 8
}

func topEvidence(ev []fingerprint.Evidence, n int) string {
	var parts []string
	for _, e := range ev {
		if len(parts) == n {
			break
		}
		if e.Suggests == "" {
			parts = append(parts, e.Signal)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %q→%s (%.2f)", e.Signal, e.Value, e.Suggests, e.Weight))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}
