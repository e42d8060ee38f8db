package main

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/apfeed"
	"github.com/hallmonitor/hallmonitor/adapters/blockpage"
	"github.com/hallmonitor/hallmonitor/adapters/dnsguard"
	"github.com/hallmonitor/hallmonitor/adapters/radius"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// feedSources builds the configured location feeds (AP syslog, RADIUS
// accounting) as daemon sources, and the 802.1X identity → role mapping.
func feedSources(cfg *config.Config, log *zap.Logger) (map[string]daemon.Source, func(string) string, error) {
	sources := map[string]daemon.Source{}
	var roleFor func(string) string
	if f := cfg.Feeds.Syslog; f != nil {
		custom := make([]apfeed.CustomParser, 0, len(f.Custom))
		for _, c := range f.Custom {
			custom = append(custom, apfeed.CustomParser{Name: c.Name, Pattern: c.Pattern, Events: c.Events})
		}
		r, err := apfeed.New(apfeed.Options{Listen: f.Listen, Allow: f.Allow, Custom: custom,
			SSIDByInterface: f.SSIDByInterface, Logger: log.Named("apfeed")})
		if err != nil {
			return nil, nil, fmt.Errorf("AP syslog feed: %w", err)
		}
		sources["apfeed"] = r
	}
	if f := cfg.Feeds.Radius; f != nil {
		clients := make([]radius.Client, 0, len(f.Clients))
		for _, c := range f.Clients {
			clients = append(clients, radius.Client{Prefix: c.Prefix, Secret: c.Secret})
		}
		l, err := radius.New(radius.Options{Listen: f.Listen, Clients: clients, Logger: log.Named("radius")})
		if err != nil {
			return nil, nil, fmt.Errorf("RADIUS accounting feed: %w", err)
		}
		sources["radius"] = l
		rules := make([]radius.RoleRule, 0, len(f.Roles))
		for _, r := range f.Roles {
			rules = append(rules, radius.RoleRule{Pattern: r.Pattern, Role: r.Role})
		}
		if len(rules) > 0 {
			roleFor = func(identity string) string { return radius.RoleForIdentity(rules, identity) }
		}
	}
	return sources, roleFor, nil
}

// dnsGuardSource builds the optional DNS guard for the pupil VLAN. It asks the
// engine (through eng, set before sources run) which MAC holds a client address
// and whether that device is blocked; a blocked device gets the block page.
func dnsGuardSource(g *config.DNSGuard, eng *atomic.Pointer[daemon.Engine], log *zap.Logger) (*dnsguard.Guard, error) {
	device := func(client netip.Addr) (daemon.Device, bool) {
		e := eng.Load()
		if e == nil {
			return daemon.Device{}, false
		}
		return e.DeviceByIP(client.String())
	}
	o := dnsguard.Options{
		Listen: g.Listen, Upstreams: g.Upstreams, BlockPageV4: g.BlockPageV4, BlockPageV6: g.BlockPageV6,
		AllowResolvers: g.Allow, Logger: log,
		MACFor: func(client netip.Addr) string {
			d, _ := device(client)
			return d.MAC
		},
	}
	if g.BlockPageV4.IsValid() || g.BlockPageV6.IsValid() {
		o.Blocked = func(client netip.Addr) (string, bool) {
			d, ok := device(client)
			return d.MAC, ok && d.Decision.Action == "block"
		}
	}
	guard, err := dnsguard.New(o)
	if err != nil {
		return nil, fmt.Errorf("DNS guard: %w", err)
	}
	return guard, nil
}

// blockPageFor builds the block page: a blocked device's requests get the rule
// and clause that applies, and the monitoring notice (OSS-3).
func blockPageFor(cfg *config.Config, bp *config.BlockPage, eng *atomic.Pointer[daemon.Engine], log *zap.Logger) (*blockpage.Server, error) {
	srv, err := blockpage.New(blockpage.Options{
		Listen: bp.Listen, School: cfg.School.Name, Contact: bp.Contact, Clauses: policy.ClauseSummaries, Logger: log,
		Decision: func(client netip.Addr) (policy.Decision, bool) {
			e := eng.Load()
			if e == nil {
				return policy.Decision{}, false
			}
			d, ok := e.DeviceByIP(client.String())
			return d.Decision, ok
		},
	})
	if err != nil {
		return nil, fmt.Errorf("block page: %w", err)
	}
	return srv, nil
}
