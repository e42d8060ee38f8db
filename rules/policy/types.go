// Package policy is HallMonitor's policy model: zones, roles, schedules, the school
// calendar, first-match rules, exemptions, and Evaluate.
//
// Pure logic: no I/O and no clock. The time of every decision is an argument.
package policy

import (
	"net/netip"
	"time"
)

// Pos is a position in a configuration file (1-based). The zero Pos means unknown.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Decision is what the policy says about one device, in one zone, at one instant.
type Decision struct {
	Action    string   `json:"action"`           // allow | alert | block
	Severity  string   `json:"severity"`         // info | low | medium | high | critical
	Rule      string   `json:"rule"`             // name of the rule that matched, "default" when none did
	Clauses   []string `json:"clauses"`          // clause IDs from policy-requirements.md, e.g. "OSS-2.2"
	Reason    string   `json:"reason"`           // one sentence a DSL can read
	Exemption string   `json:"exemption"`        // ID of the exemption that changed the outcome, "" if none
	Mode      string   `json:"mode,omitempty"`   // name of the active mode (exam, lockdown, emergency) that decided, "" if none
	Notify    []string `json:"notify,omitempty"` // who must hear of this breach at once (dsl, deputy-dsl, ...)
}

// Breach reports whether the decision is one a DSL should hear about.
func (d Decision) Breach() bool { return d.Action == ActionAlert || d.Action == ActionBlock }

// Actions.
const (
	ActionAllow = "allow"
	ActionAlert = "alert"
	ActionBlock = "block"
)

// Input is the device side of a decision.
type Input struct {
	MAC      string // lower-case colon form
	Zone     string // zone name, "" when unknown
	ZoneType string // reception, staffroom, slt-office, office, meeting-room, car-park, teaching, pupil-area, exam-room, guest, unknown
	Role     string // pupil, staff-direct, staff-office, slt, governor, visitor, contractor, volunteer, key-personnel, external-agency, "" when unknown
	Kind     string // fingerprint kind: phone, tablet, smartwatch, ...
	Managed  bool   // on the school register
	// Unfiltered: the device was seen reaching the internet around the school's
	// web filter (its own DNS resolver, encrypted DNS, a VPN; adapters/capture
	// ObsBypass, docs/bypass.md). Rules test it with when.unfiltered.
	Unfiltered bool
}

// Sighting is what the network says about where a device is: the VLAN and address
// it uses (DHCP, ARP), and, when an access-point or DHCP option 82 feed is wired in,
// the AP it is associated with, the SSID, and the switch circuit/remote IDs. Empty
// strings mean "not known".
type Sighting struct {
	VLAN      uint16
	IP        netip.Addr
	AP        string // access-point name, e.g. ap-block-b-12
	APMAC     string // access-point (BSSID or base) MAC, any common form
	SSID      string
	CircuitID string // DHCP option 82 circuit ID
	RemoteID  string // DHCP option 82 remote ID
}

// Warning is a problem in a valid policy that does not stop it being used: a zone
// that can match the same devices as an earlier one, a rule no device can reach.
type Warning struct {
	Pos Pos
	Msg string
}

// The engine calls, on a loaded *Policy:
//
//	(p *Policy) Evaluate(in Input, at time.Time) Decision
//	(p *Policy) ZoneFor(vlan uint16, ip netip.Addr) (name, zoneType string)   // "" , "unknown" when none matches
//	(p *Policy) ZoneForSighting(s Sighting) (name, zoneType string)          // with AP, SSID and option 82 too
//	(p *Policy) RoleForNetwork(vlan uint16, ip netip.Addr) string          // role implied by the network joined
//	(p *Policy) Registered(mac string) (RegisterEntry, bool)             // school register lookup
//	(p *Policy) NextEdge(after time.Time) time.Time                       // next instant any decision can change
//	(p *Policy) Location() *time.Location
var _ = time.Time{}

// RegisterEntry is one device on the school register (imported from Intune, Jamf,
// Google Admin, or listed in the config). A register entry names a device's role
// and whether the school manages it.
type RegisterEntry struct {
	MAC      string `yaml:"mac" json:"mac"`
	Role     string `yaml:"role" json:"role"`
	Owner    string `yaml:"owner" json:"owner"`
	AssetTag string `yaml:"asset_tag" json:"asset_tag"`
	Kind     string `yaml:"kind" json:"kind"` // what the register says it is (laptop, tablet, phone, ...)
	Managed  bool   `yaml:"managed" json:"managed"`
	Pos      Pos    `yaml:"-" json:"-"`
}
