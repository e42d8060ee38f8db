package firewall

import (
	"fmt"
	"slices"
)

// Guard keeps enforcement from locking out the wrong people. It is applied to every
// Desired before it reaches a backend.
type Guard struct {
	// Never lists MACs that are never blocked, whatever the decision (the admins'
	// laptops, the DSL's phone, the access points, the tills).
	Never []string
	// ManagementInterfaces are never enforced on (the admin VLAN, the uplink).
	ManagementInterfaces []string
	// MaxShare refuses, for one interface, a desired state that blocks more than this
	// share of the devices known there (e.g. 0.3): a policy mistake must not take a
	// whole year group offline. 0 or less turns the check off.
	MaxShare float64
	// Known returns how many devices the daemon knows on an interface.
	Known func(iface string) int
	// Approved reports whether a block is already in force: accepted by an earlier
	// Filter and applied, or carried over a restart. The share check is about
	// blocking too many devices at once, so approved blocks are kept and only the
	// new ones are counted and, when too many, refused. Without it every block is new.
	Approved func(iface, mac string) bool
}

// Refusal is a block (or a whole interface's blocks) the Guard removed, for the
// admin's alert.
type Refusal struct {
	Interface string
	MAC       string // empty when the whole interface was refused
	Reason    string
	Blocked   int // devices the decision wanted blocked on Interface (share refusals)
	Known     int // devices known on Interface (share refusals)
}

func (r Refusal) String() string {
	if r.MAC != "" {
		return fmt.Sprintf("not blocking %s on %s: %s", r.MAC, r.Interface, r.Reason)
	}
	return fmt.Sprintf("not newly blocking anyone on %s: %s", r.Interface, r.Reason)
}

// Filter returns d without the blocks the Guard refuses, and the refusals. An
// interface whose new blocks exceed MaxShare keeps none of its new blocks (fail-open
// for them until an admin looks), so the refusal never leaves a partial, arbitrary
// subset of pupils blocked; blocks already in force (Approved) stay, so a restart,
// when the daemon knows few devices yet, does not unblock everyone.
func (g Guard) Filter(d Desired) (Desired, []Refusal) {
	never := map[string]bool{}
	for _, m := range g.Never {
		if n, err := NormalizeMAC(m); err == nil {
			never[n] = true
		}
	}
	var refused []Refusal
	var kept []Block
	perIface := map[string]map[string]bool{} // iface → distinct MACs kept
	fresh := map[string]map[string]bool{}    // iface → distinct MACs kept and not yet approved
	for _, b := range d.Blocks {
		mac, err := NormalizeMAC(b.MAC)
		switch {
		case slices.Contains(g.ManagementInterfaces, b.Interface):
			refused = append(refused, Refusal{Interface: b.Interface, MAC: b.MAC, Reason: "management interface"})
			continue
		case err == nil && never[mac]:
			refused = append(refused, Refusal{Interface: b.Interface, MAC: b.MAC, Reason: "allowlisted MAC"})
			continue
		case err != nil:
			mac = b.MAC // left for the backend to reject with the other invalid blocks
		}
		kept = append(kept, b)
		if perIface[b.Interface] == nil {
			perIface[b.Interface] = map[string]bool{}
		}
		perIface[b.Interface][mac] = true
		if g.Approved == nil || !g.Approved(b.Interface, mac) {
			if fresh[b.Interface] == nil {
				fresh[b.Interface] = map[string]bool{}
			}
			fresh[b.Interface][mac] = true
		}
	}
	if g.MaxShare > 0 {
		over := map[string]bool{}
		for iface, macs := range fresh {
			known := 0
			if g.Known != nil {
				known = g.Known(iface)
			}
			known = max(known, len(perIface[iface])) // a device to block is a device known there
			if float64(len(macs)) > g.MaxShare*float64(known) {
				over[iface] = true
				refused = append(refused, Refusal{Interface: iface, Blocked: len(macs), Known: known,
					Reason: fmt.Sprintf("would newly block %d of %d known devices (%.0f%%), more than the %.0f%% limit",
						len(macs), known, 100*float64(len(macs))/float64(known), 100*g.MaxShare)})
			}
		}
		kept = slices.DeleteFunc(kept, func(b Block) bool {
			if !over[b.Interface] {
				return false
			}
			mac, err := NormalizeMAC(b.MAC)
			return err != nil || fresh[b.Interface][mac]
		})
	}
	slices.SortFunc(refused, func(a, b Refusal) int {
		if c := cmpStr(a.Interface, b.Interface); c != 0 {
			return c
		}
		return cmpStr(a.MAC, b.MAC)
	})
	return Desired{Blocks: kept}, refused
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
