package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/firewall"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

func init() {
	register("firewall", "show (status) or remove (flush) the firewall state HallMonitor owns", runFirewall)
}

// safety turns the enforcement section into the daemon's never-block rules.
func safety(cfg *config.Config) daemon.Safety {
	s := daemon.Safety{NeverBlock: map[string]bool{}, ManagementVLANs: map[uint16]bool{}, ProtectedVLANs: map[uint16]bool{}}
	for _, m := range cfg.Enforcement.NeverBlock {
		s.NeverBlock[m] = true
	}
	for _, v := range cfg.Enforcement.ManagementVLANs {
		s.ManagementVLANs[v] = true
	}
	for _, p := range cfg.Enforcement.Protect {
		s.ProtectedVLANs[p.VLAN] = true
	}
	return s
}

// firewallFor opens the configured backend (enforce mode) or the monitor that
// only logs "would block" (monitor mode, the default).
func firewallFor(ctx context.Context, cfg *config.Config, log *zap.Logger) (firewall.Firewall, error) {
	if cfg.Enforcement.Mode != config.ModeEnforce {
		return &firewall.Monitor{Log: log}, nil
	}
	ifaces := make([]string, 0, len(cfg.Enforcement.Protect))
	for _, p := range cfg.Enforcement.Protect {
		ifaces = append(ifaces, p.Interface)
	}
	var mode firewall.Mode
	switch cfg.Enforcement.Backend {
	case "nftables":
		return newNFTables(ctx, ifaces, log)
	case "iptables", "auto", "":
		if cfg.Enforcement.Backend != "iptables" && hostUsesNFTables(ctx) {
			return newNFTables(ctx, ifaces, log)
		}
		m, err := firewall.Detect(ctx)
		if err != nil {
			return nil, fmt.Errorf("detect the host's iptables: %w", err)
		}
		mode = m
	}
	fw, err := firewall.New(ctx, firewall.Options{Mode: mode, Interfaces: ifaces, Log: log})
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	return fw, nil
}

func newNFTables(ctx context.Context, ifaces []string, log *zap.Logger) (firewall.Firewall, error) {
	fw, err := firewall.NewNFTables(ctx, firewall.Options{Interfaces: ifaces, Log: log})
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	return fw, nil
}

// hostUsesNFTables (backend auto): the host's firewall is native nftables (a table
// iptables-nft would not have made), or there is no iptables program but nf_tables
// answers. Otherwise auto keeps the iptables backend.
func hostUsesNFTables(ctx context.Context) bool {
	native, err := firewall.NFTablesInUse(ctx, firewall.Options{})
	if err != nil {
		return false
	}
	if native {
		return true
	}
	_, err = exec.LookPath("iptables")
	return err != nil
}

// enforcer adapts the daemon's desired blocks to the firewall: VLAN → interface,
// and the safety valve (no more than a configured share of a VLAN at once).
type enforcer struct {
	fw     firewall.Firewall
	ifaces map[uint16]string
	guard  firewall.Guard
	log    *zap.Logger
	// approved: interface|MAC of every block in force after the last successful Set
	// (Apply is called from one goroutine, the engine's reconciler).
	approved map[string]bool
}

func newEnforcer(cfg *config.Config, fw firewall.Firewall, known func(iface string) int, log *zap.Logger) *enforcer {
	e := &enforcer{fw: fw, ifaces: map[uint16]string{}, log: log,
		guard: firewall.Guard{Never: cfg.Enforcement.NeverBlock, MaxShare: cfg.Enforcement.MaxBlockShare, Known: known}}
	for _, p := range cfg.Enforcement.Protect {
		e.ifaces[p.VLAN] = p.Interface
	}
	return e
}

func (e *enforcer) Apply(ctx context.Context, blocks []daemon.Block) error {
	var d firewall.Desired
	inForce := maps.Clone(e.approved)
	if inForce == nil {
		inForce = map[string]bool{}
	}
	for _, b := range blocks {
		iface, ok := e.ifaces[b.VLAN]
		if !ok {
			continue // not a protected VLAN (the daemon already filters these)
		}
		d.Blocks = append(d.Blocks, firewall.Block{MAC: b.MAC, IPv4: b.IPv4, IPv6: b.IPv6, Interface: iface,
			Reason: b.Rule + " (" + strings.Join(b.Clauses, ", ") + ")"})
		if b.Carried {
			inForce[iface+"|"+b.MAC] = true
		}
	}
	g := e.guard
	g.Approved = func(iface, mac string) bool { return inForce[iface+"|"+mac] }
	d, refused := g.Filter(d)
	for _, r := range refused {
		// The safety valve: something is wrong (a bad rule, a misplaced zone) when a
		// large share of a VLAN is to be blocked at once. The admin must look.
		e.log.Error("safety valve: refused to block", zap.String("interface", r.Interface), zap.String("reason", r.Reason),
			zap.Int("would_block", r.Blocked), zap.Int("known", r.Known))
	}
	if err := e.fw.Set(ctx, d); err != nil {
		return err
	}
	e.approved = make(map[string]bool, len(d.Blocks))
	for _, b := range d.Blocks {
		if mac, err := firewall.NormalizeMAC(b.MAC); err == nil {
			e.approved[b.Interface+"|"+mac] = true
		}
	}
	return nil
}

func runFirewall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("firewall", "status|flush [--config FILE]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file")
	verb, code, done := parseVerb(fs, args, stdout)
	if done {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	if cfg.Enforcement.Mode != config.ModeEnforce {
		fmt.Fprintf(stdout, "enforcement mode is %s: HallMonitor installs nothing in the firewall\n", cfg.Enforcement.Mode)
		if verb == "flush" || verb == "status" {
			return 0
		}
	}
	fw, err := firewallFor(ctx, cfg, zap.NewNop())
	if err != nil {
		fmt.Fprintf(stderr, "firewall: %v\n", err)
		return 1
	}
	switch verb {
	case "flush":
		if err := fw.Flush(ctx); err != nil {
			fmt.Fprintf(stderr, "firewall flush: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "removed every HallMonitor chain, rule and set")
		return 0
	case "status":
		st, err := fw.Status(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "firewall status: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "backend %s; jump from FORWARD installed: %v; rules installed: %v\n", st.Mode, st.Jump, st.Rules)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INTERFACE\tBLOCKED\tMACS\tIPv4\tIPv6")
		for iface, m := range st.Interfaces {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", iface, m.Blocked(), len(m.MACs), len(m.IPv4), len(m.IPv6))
		}
		tw.Flush()
		return 0
	default:
		fmt.Fprintf(stderr, "firewall: unknown action %q (want status or flush)\n", verb)
		return 2
	}
}
