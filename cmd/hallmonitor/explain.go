package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func init() {
	register("explain", "show what the policy decides for a device, zone and time", runExplain)
}

// runExplain evaluates the policy for one hypothetical device and prints the decision
// as one JSON object. Exit 0 on success, 1 when the configuration is invalid, 2 on
// bad flags.
func runExplain(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "--config FILE --zone ZONE --kind KIND [--role ROLE] [--at TIME] [--managed] [--unfiltered] [--mac MAC]", stdout, stderr)
	path := fs.String("config", "/etc/hallmonitor/hallmonitor.yaml", "configuration file")
	atFlag := fs.String("at", "", "instant to decide at, RFC 3339 with any offset (2026-10-13T07:45:00Z is 08:45 in London); default now")
	zone := fs.String("zone", "", "zone name or zone type ("+strings.Join(policy.ZoneTypes, ", ")+")")
	role := fs.String("role", "", "device role ("+strings.Join(policy.Roles, ", ")+"); default from the register when --mac is on it, else unknown")
	kind := fs.String("kind", "", "device kind ("+strings.Join(policy.Kinds, ", ")+")")
	managed := fs.Bool("managed", false, "the device is school-managed (default from the register when --mac is on it)")
	unfiltered := fs.Bool("unfiltered", false, "the device was seen going around the school's filter (bypass detection)")
	mac := fs.String("mac", "", "device MAC address (matches register entries and exemptions)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "hallmonitor explain: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *zone == "" {
		return bad("--zone is required (a zone name from the configuration, or a zone type)")
	}
	if *kind == "" {
		return bad("--kind is required (one of: %s)", strings.Join(policy.Kinds, ", "))
	}
	if !policy.IsKind(*kind) {
		return bad("unknown --kind %q (want one of: %s)", *kind, strings.Join(policy.Kinds, ", "))
	}
	if *role != "" && *role != policy.Unknown && !policy.IsRole(*role) {
		return bad("unknown --role %q (want one of: %s)", *role, strings.Join(policy.Roles, ", "))
	}
	in := policy.Input{Kind: *kind, Role: *role, Managed: *managed, Unfiltered: *unfiltered}
	if in.Role == policy.Unknown {
		in.Role = ""
	}
	if *mac != "" {
		m, err := policy.NormalizeMAC(*mac)
		if err != nil {
			return bad("--mac: %v", err)
		}
		in.MAC = m
	}
	var at time.Time
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			return bad("--at %q is not an RFC 3339 time (e.g. 2026-11-04T09:00:00Z or 2026-11-04T09:00:00+00:00)", *atFlag)
		}
		at = t
	}

	cfg, err := config.Load(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	p := cfg.Policy
	if at.IsZero() {
		at = time.Now().In(p.Location())
	}
	name, typ, err := resolveZone(p, *zone)
	if err != nil {
		return bad("unknown --zone %q: not a zone in %s (%s) nor a zone type (%s)",
			*zone, *path, strings.Join(zoneNames(p), ", "), strings.Join(policy.ZoneTypes, ", "))
	}
	in.Zone, in.ZoneType = name, typ
	if e, ok := p.Registered(in.MAC); ok && in.MAC != "" {
		if *role == "" {
			in.Role = e.Role
		}
		if !flagSet(fs, "managed") {
			in.Managed = e.Managed
		}
	}
	d := p.Evaluate(in, at)
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(d); err != nil {
		fmt.Fprintf(stderr, "hallmonitor explain: write decision: %v\n", err)
		return 1
	}
	return 0
}

// flagSet reports whether the flag called name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
