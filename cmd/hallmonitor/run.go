package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/adapters/sdnotify"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

const defaultConfigPath = "/etc/hallmonitor/hallmonitor.yaml"

func init() {
	register("run", "run the daemon: capture, classify, apply the policy, serve the dashboard", runRun)
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "[--config FILE] [--listen ADDR]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file")
	listen := fs.String("listen", "", "dashboard address (overrides dashboard.listen)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	log, err := newLogger(os.Stderr, cfg.Logging.Format, cfg.Logging.Level)
	if err != nil {
		fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	ifaces := make([]string, 0, len(cfg.Interfaces))
	untagged := map[string]uint16{}
	for _, i := range cfg.Interfaces {
		ifaces = append(ifaces, i.Name)
		if i.VLAN != 0 {
			untagged[i.Name] = i.VLAN
		}
	}
	sources, roleFor, err := feedSources(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
		return 1
	}
	if len(ifaces) > 0 {
		live := &capture.Live{Interfaces: ifaces, UntaggedVLAN: untagged, Logger: log.Named("capture")}
		if b := cfg.Bypass; b.Detect {
			live.Bypass = &capture.DecoderOptions{SchoolResolvers: b.SchoolResolvers, Allowed: b.Allowed}
		}
		sources["capture"] = live
	}
	var eng atomic.Pointer[daemon.Engine] // set by serve before any source runs
	if g := cfg.DNSGuard; g != nil {
		guard, err := dnsGuardSource(g, &eng, log.Named("dnsguard"))
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
			return 1
		}
		sources["dnsguard"] = guard
	}
	fw, err := firewallFor(ctx, cfg, log.Named("firewall"))
	if err != nil {
		fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
		return 1
	}
	var services []func(context.Context) error
	if bp := cfg.Enforcement.BlockPage; bp != nil {
		srv, err := blockPageFor(cfg, bp, &eng, log.Named("blockpage"))
		if err != nil {
			fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
			return 1
		}
		services = append(services, srv.Run)
	}
	err = serve(ctx, serveOpts{
		cfg:      cfg,
		log:      log,
		sources:  sources,
		roleFor:  roleFor,
		firewall: fw,
		onEngine: eng.Store,
		services: services,
		listen:   *listen,
		notifier: sdnotify.FromEnv(),
		reload:   func() (*config.Config, error) { return config.Load(*cfgPath) },
	})
	if err != nil {
		log.Error("hallmonitor stopped with an error")
		fmt.Fprintf(stderr, "hallmonitor: %v\n", err)
		return 1
	}
	return 0
}

// printConfigErrors prints each configuration error on its own line
// (FILE:LINE:COL: message).
func printConfigErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err.Error())
}
