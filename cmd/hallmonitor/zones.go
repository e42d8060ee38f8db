package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func init() {
	register("zones", "who is where now, by zone and kind (asks the running daemon's API)", runZones)
}

func runZones(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("zones", "[--url URL] --token TOKEN [--json]", stdout, stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the daemon's dashboard address")
	token := fs.String("token", "", "an API token (hallmonitor users token NAME)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *token == "" {
		fmt.Fprintln(stderr, "zones: --token is required (create one with: hallmonitor users token --role viewer NAME)")
		return 2
	}
	zones, err := fetchZones(ctx, strings.TrimRight(*url, "/")+"/api/v1/zones", *token)
	if err != nil {
		fmt.Fprintf(stderr, "zones: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(zones)
		return 0
	}
	printZones(stdout, zones)
	return 0
}

func fetchZones(ctx context.Context, url, token string) ([]daemon.ZoneOccupancy, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var zones []daemon.ZoneOccupancy
	if err := json.NewDecoder(resp.Body).Decode(&zones); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return zones, nil
}

func printZones(w io.Writer, zones []daemon.ZoneOccupancy) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ZONE\tTYPE\tDEVICES\tBREACHES\tMANAGED\tBY KIND")
	for _, z := range zones {
		kinds := make([]string, 0, len(z.ByKind))
		for k, n := range z.ByKind {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(kinds)
		name := z.Zone
		if name == "" {
			name = "(not located)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", name, z.ZoneType, z.Devices, z.Breaches, z.Managed, strings.Join(kinds, ", "))
	}
	tw.Flush()
}
