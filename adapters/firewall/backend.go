package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// system is how the reconcile logic reaches the kernel: the real one (execSystem:
// go-iptables, iptables-restore, ipset) or an in-memory fake (fakeSystem).
type system interface {
	mode() Mode
	hashMAC(ctx context.Context) (bool, error) // can the kernel create hash:mac sets?
	ipsetSave(ctx context.Context) (string, error)
	ipsetRestore(ctx context.Context, script string) error // run with -exist
	rules(ctx context.Context, f family) (famRules, error)
	iptablesRestore(ctx context.Context, f family, script string) error // run with --noflush
	// filterTableExists reports whether the family's filter table exists (always true
	// for iptables-legacy, whose tables are built in).
	filterTableExists(ctx context.Context, f family) (bool, error)
	// dropEmptyFilterTable deletes the family's filter table if it holds nothing but
	// built-in chains with policy ACCEPT and no rules (iptables-nft only), atomically
	// with that check; it reports whether it did.
	dropEmptyFilterTable(ctx context.Context, f family) (bool, error)
}

// Options configure the iptables backend (New) and the nftables backend (NewNFTables).
type Options struct {
	// Mode is ModeLegacy or ModeNFT; empty means Detect.
	Mode Mode
	// BinDir is the directory holding the programs (iptables-legacy, iptables-nft-restore,
	// ip6tables-…, ipset); empty means $PATH. Lab tests point it at wrappers that run
	// each program under `ip netns exec`.
	BinDir string
	// Interfaces are protected even when nobody on them is blocked, so their rules
	// stay in place and a new block is a membership change only.
	Interfaces []string
	// Resolvers are DNS servers beyond the gateway that blocked devices may still
	// reach on port 53 (e.g. the school's DNS server on another VLAN). DNS and DHCP
	// served by the gateway itself never pass FORWARD and are always allowed.
	Resolvers []netip.Addr
	// DisableIPv6 leaves ip6tables alone (hosts without IPv6 forwarding).
	DisableIPv6 bool
	// Timeout bounds each program run (default 30s).
	Timeout time.Duration
	// NetNS is the path of a network namespace (e.g. /run/netns/NAME) the nftables
	// backend works in (its netlink socket is opened there); empty means the caller's.
	// Lab tests use it. The iptables backend runs its programs through BinDir and uses
	// NetNS for what it does over netlink: in nf_tables mode, Flush deleting a filter
	// table it created (see ChainMarker), and the steady-state membership changes
	// (Resync). With BinDir set, NetNS must name the namespace BinDir's programs act
	// on; BinDir set without NetNS disables the netlink steady-state path.
	NetNS string
	// Resync (iptables backend) bounds how long Set trusts its memory of the kernel:
	// after a Set that changed no chain, the next Sets within Resync of the last full
	// read (`ipset save`, `iptables -S`) diff against that memory and send membership
	// changes over netlink, running no program. A change made behind the backend's
	// back (a member deleted by hand, a flushed chain) is repaired at the first full
	// read after it: within Resync, or at once after Invalidate. Zero means
	// DefaultResync (30s); negative means every Set reads the kernel.
	Resync time.Duration
	Log    *zap.Logger
}

// Report describes the last Set or Flush.
type Report struct {
	Added, Removed   int           // set members added and removed
	IPSetRestores    int           // ipset restore batches run
	IPTablesRestores int           // iptables-restore --noflush batches run (both families)
	Transactions     int           // nftables netlink transactions committed
	Reads            int           // nftables full reads of the table (0 on the steady-state path)
	Netlink          int           // iptables backend: ipset netlink messages sent (the steady-state path)
	Duration         time.Duration // wall time of the call
}

// IPTables is the iptables + ipset backend. It is safe for concurrent use; calls are
// serialised.
type IPTables struct {
	mu   sync.Mutex
	sys  system
	cfg  config
	log  *zap.Logger
	last Report
	// cache is the kernel state the last Set left (nil: read the kernel); see iptfast.go.
	cache  *iptCache
	resync time.Duration
}

var _ Firewall = (*IPTables)(nil)

// New returns the iptables backend: it detects the mode (unless set) and whether the
// kernel supports hash:mac sets, once. It changes nothing.
func New(ctx context.Context, o Options) (*IPTables, error) {
	sys, err := newExecSystem(ctx, o)
	if err != nil {
		return nil, err
	}
	return newBackend(ctx, sys, o)
}

func newBackend(ctx context.Context, sys system, o Options) (*IPTables, error) {
	for _, i := range o.Interfaces {
		if !ValidInterface(i) {
			return nil, fmt.Errorf("firewall: bad protected interface %q", i)
		}
	}
	for _, r := range o.Resolvers {
		if !r.IsValid() || r.IsUnspecified() {
			return nil, fmt.Errorf("firewall: bad resolver address %v", r)
		}
	}
	mac, err := sys.hashMAC(ctx)
	if err != nil {
		return nil, fmt.Errorf("firewall: probe hash:mac support: %w", err)
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	b := &IPTables{
		sys:    sys,
		log:    log,
		cfg:    config{macSets: mac, ipv6: !o.DisableIPv6, interfaces: o.Interfaces, resolvers: o.Resolvers},
		resync: o.Resync,
	}
	if b.resync == 0 {
		b.resync = DefaultResync
	}
	log.Info("firewall backend ready", zap.String("mode", string(sys.mode())), zap.Bool("mac_sets", mac), zap.Bool("ipv6", b.cfg.ipv6))
	return b, nil
}

// Mode reports the iptables flavour in use.
func (b *IPTables) Mode() Mode { return b.sys.mode() }

// MACSets reports whether devices are matched by MAC (hash:mac available).
func (b *IPTables) MACSets() bool { return b.cfg.macSets }

// LastReport describes the last Set or Flush.
func (b *IPTables) LastReport() Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func (b *IPTables) read(ctx context.Context) (kernel, error) {
	var k kernel
	out, err := b.sys.ipsetSave(ctx)
	if err != nil {
		return k, fmt.Errorf("firewall: read ipsets: %w", err)
	}
	if k.sets, err = parseIPSetSave(out); err != nil {
		return k, fmt.Errorf("firewall: %w", err)
	}
	for _, f := range b.cfg.families() {
		if k.fam[f], err = b.sys.rules(ctx, f); err != nil {
			return k, fmt.Errorf("firewall: read %s rules: %w", f, err)
		}
		fr := &k.fam[f]
		_, fwd := fr.chains[ChainForward]
		_, drop := fr.chains[ChainDrop]
		if !fwd && !drop && !fr.marker {
			// About to install: note whether we are the ones creating the table.
			exists, err := b.sys.filterTableExists(ctx, f)
			if err != nil {
				return k, fmt.Errorf("firewall: read %s tables: %w", f, err)
			}
			fr.noTable = !exists
		}
	}
	return k, nil
}

// Set makes the kernel hold exactly d: one ipset restore batch for the membership
// changes and, only when chains or the jump differ, one iptables-restore batch per
// family. In the steady state (the last full read younger than Options.Resync, and
// nothing but membership changing) it reads nothing and sends the membership
// changes over netlink: one more blocked device runs no program.
func (b *IPTables) Set(ctx context.Context, d Desired) error {
	groups, err := normalize(d)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	rep := Report{}
	defer func() { rep.Duration = time.Since(start); b.last = rep }()

	want := b.cfg.want(groups)
	if b.fastSet(ctx, want, &rep) {
		return nil
	}
	readAt := time.Now()
	k, err := b.read(ctx)
	if err != nil {
		return err
	}
	p := b.cfg.diff(k, want)
	mismatched := len(p.mismatch) > 0
	if mismatched {
		// A set of ours with the wrong type (hash:mac support changed, or someone
		// made it by hand) cannot be changed in place while rules reference it.
		b.log.Warn("firewall: sets with the wrong type; reinstalling from scratch", zap.Strings("sets", p.mismatch))
		if err := b.flush(ctx, k, &rep); err != nil {
			return err
		}
		if k, err = b.read(ctx); err != nil {
			return err
		}
		p = b.cfg.diff(k, want)
	}
	rep.Added, rep.Removed = p.added, p.removed
	if p.ipset != "" {
		rep.IPSetRestores++
		if err := b.sys.ipsetRestore(ctx, p.ipset); err != nil {
			return fmt.Errorf("firewall: update sets (+%d -%d): %w", p.added, p.removed, err)
		}
	}
	for _, f := range b.cfg.families() {
		if p.iptables[f] == "" {
			continue
		}
		rep.IPTablesRestores++
		if err := b.sys.iptablesRestore(ctx, f, p.iptables[f]); err != nil {
			return fmt.Errorf("firewall: install %s chains: %w", f, err)
		}
	}
	if p.destroy != "" {
		rep.IPSetRestores++
		if err := b.sys.ipsetRestore(ctx, p.destroy); err != nil {
			return fmt.Errorf("firewall: destroy %d obsolete sets: %w", p.obsoletes, err)
		}
	}
	if p.added+p.removed > 0 || p.iptables != [2]string{} {
		b.log.Info("firewall set", zap.Int("added", p.added), zap.Int("removed", p.removed),
			zap.Int("iptables_batches", rep.IPTablesRestores), zap.Duration("took", time.Since(start)))
	}
	if !mismatched && p.iptables == [2]string{} && p.destroy == "" {
		// The chains are as read and the sets as wanted: what the next Set may trust.
		b.cache = &iptCache{fam: k.fam, sets: want.sets, readAt: readAt}
	}
	return nil
}

// Status reports what is installed.
func (b *IPTables) Status(ctx context.Context) (Installed, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := b.read(ctx)
	if err != nil {
		return Installed{}, err
	}
	return b.cfg.installed(k, b.sys.mode()), nil
}

// Flush removes the jump, both chains (both families) and every hm-block-* set,
// leaving everything else as it was.
func (b *IPTables) Flush(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	rep := Report{}
	defer func() { rep.Duration = time.Since(start); b.last = rep }()
	b.cache = nil
	k, err := b.read(ctx)
	if err != nil {
		return err
	}
	return b.flush(ctx, k, &rep)
}

func (b *IPTables) flush(ctx context.Context, k kernel, rep *Report) error {
	// Always both families: a previous run may have had IPv6 enabled.
	for _, f := range []family{v4, v6} {
		if f == v6 && !b.cfg.ipv6 {
			continue
		}
		if s := flushScript(k.fam[f]); s != "" {
			rep.IPTablesRestores++
			if err := b.sys.iptablesRestore(ctx, f, s); err != nil {
				return fmt.Errorf("firewall: remove %s chains: %w", f, err)
			}
		}
		if !k.fam[f].marker {
			continue
		}
		// We created the filter table: it goes too, unless someone put anything in it
		// since (a rule, a chain, a policy other than ACCEPT): then it stays.
		dropped, err := b.sys.dropEmptyFilterTable(ctx, f)
		if err != nil {
			b.log.Warn("firewall: could not remove the filter table we created", zap.Stringer("family", f), zap.Error(err))
		} else if !dropped {
			b.log.Info("firewall: left the filter table we created: it holds other rules or policies now", zap.Stringer("family", f))
		}
	}
	if len(k.sets) == 0 {
		return nil
	}
	var s string
	for name, set := range k.sets {
		s += "destroy " + name + "\n"
		rep.Removed += len(set.members)
	}
	rep.IPSetRestores++
	if err := b.sys.ipsetRestore(ctx, s); err != nil {
		return fmt.Errorf("firewall: destroy %d sets: %w", len(k.sets), err)
	}
	b.log.Info("firewall flushed", zap.Int("sets", len(k.sets)), zap.Int("members", rep.Removed))
	return nil
}
