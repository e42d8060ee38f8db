package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func init() {
	register("simulate", "shadow mode: what a policy would have flagged or blocked on a capture, per zone and rule", runSimulate)
}

// shadowReport is what `simulate` prints: the alert episodes a replay opened,
// counted per rule and per zone. Nothing is enforced: blocks are "would block".
type shadowReport struct {
	Config   string       `json:"config"`
	Pcap     string       `json:"pcap"`
	Devices  int          `json:"devices"`  // devices seen in the capture
	Episodes int          `json:"episodes"` // alert episodes opened
	Flagged  int          `json:"flagged"`  // distinct devices with at least one episode
	ByRule   []shadowRule `json:"by_rule"`
	ByZone   []shadowZone `json:"by_zone"`
}

type shadowRule struct {
	Rule     string   `json:"rule"`
	Action   string   `json:"action"` // "alert" or "would block"
	Severity string   `json:"severity"`
	Clauses  []string `json:"clauses"`
	Episodes int      `json:"episodes"`
	Devices  int      `json:"devices"`
	Zones    []string `json:"zones"`
}

type shadowZone struct {
	Zone       string `json:"zone"`
	Episodes   int    `json:"episodes"`
	Devices    int    `json:"devices"`
	Alerts     int    `json:"alerts"`      // episodes whose rule alerts
	WouldBlock int    `json:"would_block"` // episodes whose rule blocks
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("simulate", "--config FILE --pcap FILE [--json]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "the policy to try (a HallMonitor configuration)")
	pcap := fs.String("pcap", "", "capture to replay through it (pcap or pcapng)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *pcap == "" {
		fmt.Fprintln(stderr, "simulate: --pcap is required")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simulate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	devices, alerts, err := replay(ctx, cfg, *pcap, "")
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 1
	}
	rep := shadow(devices, alerts)
	rep.Config, rep.Pcap = *cfgPath, *pcap
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return 1
		}
		return 0
	}
	printShadow(stdout, rep)
	return 0
}

// shadow counts alert episodes and distinct devices per rule and per zone.
func shadow(devices []daemon.Device, alerts []daemon.Alert) shadowReport {
	rep := shadowReport{Devices: len(devices), Episodes: len(alerts), ByRule: []shadowRule{}, ByZone: []shadowZone{}}
	flagged := map[string]bool{}
	rules := map[string]*shadowRule{}
	zones := map[string]*shadowZone{}
	ruleDevs := map[string]map[string]bool{}
	zoneDevs := map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, k, mac string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][mac] = true
	}
	for _, a := range alerts {
		flagged[a.Device.MAC] = true
		action := a.Action
		if action == policy.ActionBlock {
			action = "would block"
		}
		r := rules[a.Rule]
		if r == nil {
			r = &shadowRule{Rule: a.Rule, Action: action, Severity: a.Severity, Clauses: a.Clauses}
			rules[a.Rule] = r
		}
		r.Episodes++
		if !slices.Contains(r.Zones, a.Zone) {
			r.Zones = append(r.Zones, a.Zone)
		}
		add(ruleDevs, a.Rule, a.Device.MAC)
		z := zones[a.Zone]
		if z == nil {
			z = &shadowZone{Zone: a.Zone}
			zones[a.Zone] = z
		}
		z.Episodes++
		if a.Action == policy.ActionBlock {
			z.WouldBlock++
		} else {
			z.Alerts++
		}
		add(zoneDevs, a.Zone, a.Device.MAC)
	}
	rep.Flagged = len(flagged)
	for name, r := range rules {
		r.Devices = len(ruleDevs[name])
		slices.Sort(r.Zones)
		rep.ByRule = append(rep.ByRule, *r)
	}
	for name, z := range zones {
		z.Devices = len(zoneDevs[name])
		rep.ByZone = append(rep.ByZone, *z)
	}
	slices.SortFunc(rep.ByRule, func(a, b shadowRule) int {
		return cmp.Or(cmp.Compare(b.Episodes, a.Episodes), cmp.Compare(a.Rule, b.Rule))
	})
	slices.SortFunc(rep.ByZone, func(a, b shadowZone) int {
		return cmp.Or(cmp.Compare(b.Episodes, a.Episodes), cmp.Compare(a.Zone, b.Zone))
	})
	return rep
}

func printShadow(w io.Writer, r shadowReport) {
	fmt.Fprintf(w, "Shadow run of %s on %s: nothing was enforced.\n", r.Config, r.Pcap)
	fmt.Fprintf(w, "%d devices seen; %d alert episodes on %d devices.\n", r.Devices, r.Episodes, r.Flagged)
	if r.Episodes == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nRULE\tACTION\tSEVERITY\tCLAUSES\tEPISODES\tDEVICES\tZONES\n")
	for _, x := range r.ByRule {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", x.Rule, x.Action, x.Severity, strings.Join(x.Clauses, ", "),
			x.Episodes, x.Devices, strings.Join(x.Zones, ", "))
	}
	fmt.Fprintf(tw, "\nZONE\tEPISODES\tDEVICES\tALERTS\tWOULD BLOCK\n")
	for _, z := range r.ByZone {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", dash(z.Zone), z.Episodes, z.Devices, z.Alerts, z.WouldBlock)
	}
	tw.Flush()
}
