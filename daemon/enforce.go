package daemon

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// Block is one device the policy wants off its network (Decision action block).
type Block struct {
	MAC     string
	IPv4    []netip.Addr
	IPv6    []netip.Addr
	VLAN    uint16
	Rule    string
	Clauses []string
	// Carried: restored from before a restart, so already in force (the safety
	// valve does not judge it again as if it were new).
	Carried bool `json:"-"`
}

// Enforcer makes the firewall match the desired set of blocks: idempotent, from
// any starting state (adapters/firewall behind it; a monitor that only logs
// "would block" until enforcement is switched on).
type Enforcer interface {
	Apply(ctx context.Context, blocks []Block) error
}

// BlockStore keeps the desired set across restarts (adapters/store implements it).
type BlockStore interface {
	SaveBlocks(ctx context.Context, blocks []Block) error
	LoadBlocks(ctx context.Context) ([]Block, error)
}

// Safety says what is never blocked, whatever a rule says.
type Safety struct {
	NeverBlock      map[string]bool // allowlisted MACs
	ManagementVLANs map[uint16]bool // the management network
	ProtectedVLANs  map[uint16]bool // blocks apply only here (pupil VLANs); empty: nowhere
}

// blockFor returns the block d's decision asks for, or false: registered school
// devices, allowlisted MACs and the management VLAN are never blocked, and only
// protected VLANs are enforced.
func (e *Engine) blockFor(d *Device) (Block, bool) {
	if d.Decision.Action != policy.ActionBlock || d.Managed || d.Zone == "" {
		return Block{}, false
	}
	s := e.o.Safety
	if s.NeverBlock[d.MAC] || s.ManagementVLANs[d.VLAN] || !s.ProtectedVLANs[d.VLAN] {
		return Block{}, false
	}
	b := Block{MAC: d.MAC, VLAN: d.VLAN, Rule: d.Decision.Rule, Clauses: slices.Clone(d.Decision.Clauses)}
	if ip, err := netip.ParseAddr(d.IP); err == nil {
		b.IPv4 = []netip.Addr{ip}
	}
	for _, s := range d.IPv6 {
		if ip, err := netip.ParseAddr(s); err == nil {
			b.IPv6 = append(b.IPv6, ip)
		}
	}
	return b, true
}

// noteBlock records d's block (or its absence) in the desired set.
func (e *Engine) noteBlock(d *Device) {
	b, want := e.blockFor(d)
	old, had := e.blocks[d.MAC]
	switch {
	case want && (!had || !sameBlock(old, b)):
		e.blocks[d.MAC] = b
		e.blocksDirty = true
	case !want && had:
		delete(e.blocks, d.MAC)
		e.blocksDirty = true
	}
	delete(e.restored, d.MAC) // decided afresh: no longer a block carried over from before a restart
}

func sameBlock(a, b Block) bool {
	return a.VLAN == b.VLAN && a.Rule == b.Rule && slices.Equal(a.IPv4, b.IPv4) && slices.Equal(a.IPv6, b.IPv6)
}

// publishBlocks hands the desired set to the reconciler when it changed; the
// reconciler always works from the newest set (older ones are replaced).
func (e *Engine) publishBlocks() {
	if !e.blocksDirty || e.o.Enforcer == nil {
		return
	}
	e.blocksDirty = false
	set := slices.SortedFunc(maps.Values(e.blocks), func(a, b Block) int {
		if a.MAC < b.MAC {
			return -1
		}
		if a.MAC > b.MAC {
			return 1
		}
		return 0
	})
	select {
	case <-e.desired: // drop the stale one
	default:
	}
	e.desired <- set
}

// reconcile applies desired sets to the firewall, retrying a failed one with
// backoff until a newer set arrives or ctx ends. It owns no engine state.
//
// Every EnforceResync it applies the last set again, unchanged: the firewall
// backends keep a cheap steady-state path that trusts their own last write, and a
// resync is when one re-reads the kernel and repairs what someone else changed
// (a member deleted by hand, a chain flushed by a script).
func (e *Engine) reconcile(ctx context.Context) error {
	var pending, last []Block
	have := false     // an empty set is a real desired state: unblock everyone
	haveLast := false // last holds the newest set applied
	resyncing := false
	retry := time.Duration(0)
	var resync <-chan time.Time
	if e.o.EnforceResync > 0 {
		t := time.NewTicker(e.o.EnforceResync)
		defer t.Stop()
		resync = t.C
	}
	for {
		var timer <-chan time.Time
		if have {
			timer = time.After(retry)
		}
		select {
		case <-ctx.Done():
			return nil
		case set := <-e.desired:
			pending, have, retry, resyncing = set, true, 0, false
			continue
		case <-resync:
			if !have && haveLast {
				pending, have, retry, resyncing = last, true, 0, true
			}
			continue
		case <-timer:
		}
		start := time.Now()
		if err := e.o.Enforcer.Apply(ctx, pending); err != nil {
			e.m.EnforceErrors.Inc()
			retry = min(max(2*retry, time.Second), time.Minute)
			e.log.Error("firewall not updated; retrying", zap.Int("blocks", len(pending)), zap.Duration("retry_in", retry), zap.Error(err))
			continue
		}
		last, haveLast = pending, true
		if resyncing { // nothing changed: no new figures, nothing to save
			pending, have, resyncing = nil, false, false
			continue
		}
		e.m.EnforceSeconds.Observe(time.Since(start).Seconds())
		e.m.Blocked.Set(float64(len(pending)))
		if e.o.BlockStore != nil {
			if err := e.o.BlockStore.SaveBlocks(ctx, pending); err != nil {
				e.log.Error("desired blocks not saved (a restart would re-block device by device)", zap.Error(err))
			}
		}
		pending, have = nil, false
	}
}

// restoreBlocks loads the desired set saved before a restart (even a kill -9) and
// publishes it at once, so the firewall keeps blocking while the devices are seen
// again; a restored block whose device is not seen within AbsentAfter is dropped.
func (e *Engine) restoreBlocks(ctx context.Context, now time.Time) error {
	if e.o.BlockStore == nil || e.o.Enforcer == nil {
		return nil
	}
	blocks, err := e.o.BlockStore.LoadBlocks(ctx)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if e.o.Safety.NeverBlock[b.MAC] || !e.o.Safety.ProtectedVLANs[b.VLAN] {
			continue // the configuration changed while we were down
		}
		b.Carried = true
		e.blocks[b.MAC] = b
		e.restored[b.MAC] = now
	}
	e.blocksDirty = true
	if len(blocks) > 0 {
		e.log.Info("restored desired blocks from before the restart", zap.Int("blocks", len(e.blocks)))
	}
	return nil
}

// expireRestored drops restored blocks whose device has not been seen again.
func (e *Engine) expireRestored(now time.Time) {
	for mac, since := range e.restored {
		if now.Sub(since) < e.o.AbsentAfter {
			continue
		}
		delete(e.restored, mac)
		if _, ok := e.blocks[mac]; ok {
			delete(e.blocks, mac)
			e.blocksDirty = true
		}
	}
}
