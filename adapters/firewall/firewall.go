// Package firewall enforces "block" decisions on the gateway: it keeps the kernel's
// firewall equal to a desired set of blocked devices.
//
// The daemon consumes the small Firewall interface. Backends: IPTables (iptables-legacy
// or iptables-nft, detected, never mixed, with ipset sets), Monitor (logs what it would
// do, installs nothing; the default) and NewFake (the IPTables reconcile logic over an
// in-memory kernel, for tests). Guard filters a Desired state before it reaches a
// backend: allowlisted MACs, management interfaces and a cap on the share of an
// interface's devices that may be blocked at once.
//
// See README.md and docs/enforcement.md.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Firewall is what the daemon needs of an enforcement backend.
type Firewall interface {
	// Set makes the installed state equal to d, from any starting state. It is
	// idempotent: a second Set with the same d changes nothing.
	Set(ctx context.Context, d Desired) error
	// Status reports what is installed now.
	Status(ctx context.Context) (Installed, error)
	// Flush removes everything the backend installed (chains, jump, sets).
	Flush(ctx context.Context) error
}

// Desired is the complete set of devices that must be blocked now.
type Desired struct {
	Blocks []Block
}

// Block is one device to block on one pupil interface.
type Block struct {
	MAC       string       // the device's MAC, e.g. "aa:bb:cc:dd:ee:ff"
	IPv4      []netip.Addr // its leased IPv4 addresses (matched when hash:mac is unavailable)
	IPv6      []netip.Addr // its IPv6 addresses (ditto)
	Interface string       // the pupil VLAN interface, e.g. "br-pupil" or "eth1.30"
	Reason    string       // for logs: rule and clause, e.g. "phones-in-lessons (OSS-2.1)"
}

// Mode is how the firewall is enforced.
type Mode string

// Modes.
const (
	ModeLegacy  Mode = "legacy"    // iptables-legacy (x_tables)
	ModeNFT     Mode = "nf_tables" // iptables-nft (the iptables API over nf_tables)
	ModeMonitor Mode = "monitor"   // nothing installed, "would block" logged
)

// Installed is what a backend has in the kernel.
type Installed struct {
	Mode Mode
	// MACSets: devices are matched by MAC (ipset hash:mac); otherwise by address
	// (hash:ip, one IPv4 and one IPv6 set per interface).
	MACSets bool
	// Jump: FORWARD has exactly one jump to HALLMONITOR-FWD, at position 1, in every
	// family the backend manages.
	Jump bool
	// Rules: HALLMONITOR-FWD and HALLMONITOR-DROP hold exactly the rules Set would
	// install for the interfaces below.
	Rules bool
	// Interfaces: per protected interface, the members of its sets.
	Interfaces map[string]Members
}

// Members of one interface's sets, sorted, normalised (lower-case MACs).
type Members struct {
	MACs []string `json:",omitempty"`
	IPv4 []string `json:",omitempty"`
	IPv6 []string `json:",omitempty"`
}

// Blocked reports how many entries the interface's sets hold.
func (m Members) Blocked() int { return len(m.MACs) + len(m.IPv4) + len(m.IPv6) }

// Chain and set names.
const (
	ChainForward = "HALLMONITOR-FWD"  // the one chain FORWARD jumps to
	ChainDrop    = "HALLMONITOR-DROP" // DHCP and resolver DNS return, the rest is dropped
	SetPrefix    = "hm-block-"        // hm-block-<iface>-{mac,v4,v6}
	// ChainMarker is an empty chain the iptables backend creates, with its own chains,
	// when the family's filter table did not exist (iptables-nft: the table is created
	// by our first iptables-restore). It lives in the kernel, so it survives daemon
	// restarts: Flush then deletes the table as well, if it holds nothing but empty
	// built-in chains with policy ACCEPT, leaving `nft list ruleset` as it was.
	ChainMarker = "HALLMONITOR-MADE-TABLE"
)

// Interface names: Linux allows up to 15 bytes; we accept the characters used by
// bridges, VLAN sub-interfaces and bonds, which also keeps ipset names legal.
var ifaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$`)

// ValidInterface reports whether name can be a protected interface.
func ValidInterface(name string) bool { return ifaceRE.MatchString(name) }

// NormalizeMAC returns mac as lower-case colon-separated EUI-48, or an error.
func NormalizeMAC(mac string) (string, error) {
	if canonicalMAC(mac) {
		return mac, nil // the common case, without allocating
	}
	hw, err := net.ParseMAC(strings.TrimSpace(mac))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("bad MAC %q", mac)
	}
	return hw.String(), nil
}

// canonicalMAC reports whether mac is already lower-case colon-separated EUI-48.
func canonicalMAC(mac string) bool {
	if len(mac) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := mac[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// members is the normalised content of one interface's sets.
type members struct {
	macs, v4, v6 map[string]bool
}

func newMembers() *members {
	return &members{macs: map[string]bool{}, v4: map[string]bool{}, v6: map[string]bool{}}
}

// normalize validates d and groups it by interface. Every problem is reported.
func normalize(d Desired) (map[string]*members, error) {
	out := map[string]*members{}
	var errs []error
	lastIface, checked := "", false // blocks usually come grouped by interface
	for i := range d.Blocks {
		b := &d.Blocks[i]
		if (!checked || b.Interface != lastIface) && !ValidInterface(b.Interface) {
			errs = append(errs, fmt.Errorf("block %d (%s): bad interface %q", i, b.MAC, b.Interface))
			continue
		}
		lastIface, checked = b.Interface, true
		m := out[b.Interface]
		if m == nil {
			m = newMembers()
			out[b.Interface] = m
		}
		mac, err := NormalizeMAC(b.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("block %d on %s: %w", i, b.Interface, err))
			continue
		}
		m.macs[mac] = true
		for _, a := range b.IPv4 {
			a = a.Unmap()
			if !a.Is4() {
				errs = append(errs, fmt.Errorf("block %d (%s): %v is not an IPv4 address", i, mac, a))
				continue
			}
			m.v4[a.String()] = true
		}
		for _, a := range b.IPv6 {
			if !a.Is6() || a.Is4In6() {
				errs = append(errs, fmt.Errorf("block %d (%s): %v is not an IPv6 address", i, mac, a))
				continue
			}
			m.v6[a.WithZone("").String()] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("firewall: invalid desired state: %w", err)
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
