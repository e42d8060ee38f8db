package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

func init() {
	register("replay", "run a pcap/pcapng capture through the daemon: devices, decisions and alerts", runReplay)
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", "--config FILE --pcap FILE [--db FILE] [--json]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file (policy, zones, register)")
	pcap := fs.String("pcap", "", "capture to replay (pcap or pcapng)")
	db := fs.String("db", "", "store alerts in this SQLite file (default: a temporary one, removed)")
	asJSON := fs.Bool("json", false, `print {"devices": [...], "alerts": [...]} as JSON`)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *pcap == "" {
		fmt.Fprintln(stderr, "replay: --pcap is required")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	devices, alerts, err := replay(ctx, cfg, *pcap, *db)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"devices": devices, "alerts": alerts}); err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return 1
		}
		return 0
	}
	printReplay(stdout, devices, alerts)
	return 0
}

// replay runs the capture through a real engine and store, evaluating every
// decision at the packets' own times (schedule edges between packets included).
func replay(ctx context.Context, cfg *config.Config, pcap, db string) ([]daemon.Device, []daemon.Alert, error) {
	if db == "" {
		dir, err := os.MkdirTemp("", "hallmonitor-replay-")
		if err != nil {
			return nil, nil, fmt.Errorf("temporary store: %w", err)
		}
		defer os.RemoveAll(dir)
		db = filepath.Join(dir, "replay.db")
	}
	st, err := store.Open(ctx, db, cfg.School.SiteID, zap.NewNop())
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	eng, err := daemon.New(daemon.Options{
		SiteID:              cfg.School.SiteID,
		Policy:              cfg.Policy,
		Classify:            cfg.Fingerprints.Classify,
		Refine:              cfg.Fingerprints.Refine,
		History:             st,
		Dwell:               dwell(cfg),
		APFresh:             cfg.Location.APFresh,
		Store:               st,
		Sources:             map[string]daemon.Source{"replay": capture.Replay{Path: pcap, Iface: "replay"}},
		StopWhenSourcesDone: true,
		FollowPacketTime:    true,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := eng.Run(ctx); err != nil {
		return nil, nil, err
	}
	alerts, err := st.ListAlerts(ctx, daemon.AlertFilter{Limit: 100000})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].OpenedAt.Before(alerts[j].OpenedAt) })
	devices := eng.Devices()
	if devices == nil {
		devices = []daemon.Device{}
	}
	if alerts == nil {
		alerts = []daemon.Alert{}
	}
	return devices, alerts, nil
}

func printReplay(w io.Writer, devices []daemon.Device, alerts []daemon.Alert) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "DEVICE\tIP\tHOSTNAME\tKIND\tOS\tVENDOR\tZONE\tROLE\tDECISION\n")
	for _, d := range devices {
		dec := d.Decision.Action
		if len(d.Decision.Clauses) > 0 {
			dec += " (" + strings.Join(d.Decision.Clauses, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.MAC, dash(d.IP), dash(d.Hostname), d.Kind, d.OS,
			dash(d.Vendor), dash(d.Zone), dash(d.Role), dec)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d devices, %d alerts\n", len(devices), len(alerts))
	for _, a := range alerts {
		closed := "open"
		if a.ClosedAt != nil {
			closed = "closed " + a.ClosedAt.Format("15:04:05")
		}
		fmt.Fprintf(w, "  %s %-8s %s %s in %s: %s [%s] (%s)\n", a.OpenedAt.Format("2006-01-02 15:04:05"), a.Severity,
			a.Device.MAC, a.Device.Kind, a.Zone, a.Rule, strings.Join(a.Clauses, ", "), closed)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
