package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	registerexport "github.com/hallmonitor/hallmonitor/rules/register"
)

// maxDNSNames bounds the DNS names kept per device, as the daemon does.
const maxDNSNames = 32

func init() {
	register("classify", "what each device in a capture is, with the evidence (JSON lines)", runClassify)
}

// classifiedDevice is one line of `classify`.
type classifiedDevice struct {
	MAC           string                 `json:"mac"`
	IP            string                 `json:"ip"`
	Hostname      string                 `json:"hostname"`
	Kind          string                 `json:"kind"`
	OS            string                 `json:"os"`
	Vendor        string                 `json:"vendor"`
	Managed       bool                   `json:"managed"`
	RandomizedMAC bool                   `json:"randomized_mac"`
	Confidence    float64                `json:"confidence"`
	LinkedMACs    []string               `json:"linked_macs"`
	Evidence      []fingerprint.Evidence `json:"evidence"`
}

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runClassify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("classify", "--pcap FILE [--register CSV]... [--fingerprints XML]... [--text|--json]", stdout, stderr)
	pcap := fs.String("pcap", "", "capture file to read (pcap or pcapng, Ethernet)")
	var registers, externals repeated
	fs.Var(&registers, "register", "school register export (Intune, Jamf or Google Admin CSV); repeatable")
	fs.Var(&externals, "fingerprints", "external fingerprint database (satori dhcp.xml or dns.xml); repeatable")
	asText := fs.Bool("text", false, "one aligned line per device for people, instead of JSON lines")
	asJSON := fs.Bool("json", false, "one indented JSON array instead of JSON lines")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *pcap == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "hallmonitor classify: --pcap FILE is required (and takes no arguments)")
		fs.Usage()
		return 2
	}
	managed := map[string]bool{}
	for _, path := range registers {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: %v\n", err)
			return 1
		}
		entries, format, err := registerexport.ParseCSV(path, data)
		if format == registerexport.FormatUnknown {
			fmt.Fprintf(stderr, "hallmonitor classify: %s: not an Intune, Jamf or Google Admin export\n", path)
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: warning: %v\n", err) // bad rows; the good ones count
		}
		for _, e := range entries {
			managed[e.MAC] = e.Managed
		}
	}
	var ext []*fingerprint.External
	for _, path := range externals {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: %v\n", err)
			return 1
		}
		e, err := fingerprint.ParseSatori(data, path)
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: %v\n", err)
			return 1
		}
		ext = append(ext, e)
	}
	acc := newAccumulator()
	if err := capture.ForEach(ctx, *pcap, func(o daemon.Observation) error { acc.add(o); return nil }); err != nil {
		fmt.Fprintf(stderr, "hallmonitor classify: %v\n", err)
		return 1
	}
	devices := acc.classify(fingerprint.NewEngine(ext...), managed)
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(devices); err != nil {
			fmt.Fprintf(stderr, "hallmonitor classify: write: %v\n", err)
			return 1
		}
	case *asText:
		for _, d := range devices {
			fmt.Fprintf(stdout, "%s  %-15s %-11s %-12q %.2f  %s\n", d.MAC, d.Kind, d.OS, d.Vendor, d.Confidence, topEvidence(d.Evidence, 3))
		}
	default:
		enc := json.NewEncoder(stdout)
		for _, d := range devices {
			if err := enc.Encode(d); err != nil {
				fmt.Fprintf(stderr, "hallmonitor classify: write: %v\n", err)
				return 1
			}
		}
	}
	return 0
}

// accumulator gathers per-MAC signals in observation order, as the daemon does.
type accumulator struct {
	signals     map[string]*fingerprint.Signals
	dnsTTL      map[string]bool // TTL already taken from an ordinary (DNS) packet
	ip          map[string]string
	first, last map[string]time.Time
}

func newAccumulator() *accumulator {
	return &accumulator{signals: map[string]*fingerprint.Signals{}, dnsTTL: map[string]bool{}, ip: map[string]string{},
		first: map[string]time.Time{}, last: map[string]time.Time{}}
}

func (a *accumulator) add(o daemon.Observation) {
	if o.MAC == "" {
		return
	}
	s := a.signals[o.MAC]
	if s == nil {
		s = &fingerprint.Signals{MAC: o.MAC}
		a.signals[o.MAC] = s
		a.first[o.MAC] = o.At
	}
	a.last[o.MAC] = o.At
	if o.IP.IsValid() && o.IP.Is4() && !o.IP.IsUnspecified() {
		a.ip[o.MAC] = o.IP.String()
	}
	switch o.Kind {
	case daemon.ObsDHCP:
		d := o.DHCP
		if d == nil || !isClientMessage(d.MessageType) {
			return // server replies carry leases, not fingerprints
		}
		s.DHCP = d
		if d.Hostname != "" {
			s.Hostname = d.Hostname
		} else if d.FQDN != "" {
			s.Hostname = d.FQDN
		}
		if o.TTL != 0 && !a.dnsTTL[o.MAC] {
			s.TTL = o.TTL
		}
	case daemon.ObsDNS:
		if o.DNSName != "" {
			s.DNSNames = slices.DeleteFunc(s.DNSNames, func(n string) bool { return n == o.DNSName })
			s.DNSNames = append(s.DNSNames, o.DNSName)
			if len(s.DNSNames) > maxDNSNames {
				s.DNSNames = s.DNSNames[len(s.DNSNames)-maxDNSNames:]
			}
		}
		if o.TTL != 0 {
			s.TTL, a.dnsTTL[o.MAC] = o.TTL, true // the stack's default TTL, not a DHCP client's
		}
	}
	if o.Hostname != "" {
		s.Hostname = o.Hostname
	}
}

// classify classifies every device with engine and links private MACs that are
// one device (fingerprint.LinkScore, the daemon's rule); sorted by MAC.
func (a *accumulator) classify(engine *fingerprint.Engine, managed map[string]bool) []classifiedDevice {
	out := make([]classifiedDevice, 0, len(a.signals))
	cands := make([]fingerprint.LinkCandidate, 0, len(a.signals))
	for mac, s := range a.signals {
		p := engine.Classify(*s)
		out = append(out, classifiedDevice{MAC: mac, IP: a.ip[mac], Hostname: s.Hostname, Kind: p.Kind, OS: p.OS, Vendor: p.Vendor,
			Managed: managed[mac], RandomizedMAC: p.RandomizedMAC, Confidence: p.Confidence, LinkedMACs: []string{}, Evidence: p.Evidence})
		c := fingerprint.LinkCandidate{MAC: mac, Hostname: s.Hostname, Kind: p.Kind, OS: p.OS, FirstSeen: a.first[mac], LastSeen: a.last[mac]}
		if s.DHCP != nil {
			c.ClientID, c.ParamList, c.Options, c.VendorClass = s.DHCP.ClientID, s.DHCP.ParamList, s.DHCP.Options, s.DHCP.VendorClass
		}
		cands = append(cands, c)
	}
	slices.SortFunc(out, func(x, y classifiedDevice) int { return strings.Compare(x.MAC, y.MAC) })
	linked := map[string][]string{}
	for _, fresh := range cands {
		if !fingerprint.IsRandomizedMAC(fresh.MAC) || len(fresh.ParamList) == 0 {
			continue
		}
		for _, known := range cands {
			if known.MAC == fresh.MAC || fresh.FirstSeen.Sub(known.LastSeen) > 2*time.Minute {
				continue
			}
			if score, _ := fingerprint.LinkScore(known, fresh); score >= fingerprint.LinkThreshold {
				linked[fresh.MAC] = append(linked[fresh.MAC], known.MAC)
				linked[known.MAC] = append(linked[known.MAC], fresh.MAC)
			}
		}
	}
	for i := range out {
		if l := linked[out[i].MAC]; len(l) > 0 {
			slices.Sort(l)
			out[i].LinkedMACs = slices.Compact(l)
		}
	}
	return out
}

// isClientMessage: DISCOVER, REQUEST and INFORM carry a full request (RFC 2132
// 9.6); only those are fingerprints.
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
