package daemon

import (
	"net/netip"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// ObsKind says what an Observation carries.
type ObsKind uint8

// Observation kinds.
const (
	ObsDHCP   ObsKind = iota + 1 // a DHCPv4 client message (DHCP is set)
	ObsDNS                       // a DNS query from the device (DNSName is set)
	ObsARP                       // an ARP packet from the device (IP is its sender address)
	ObsIPv6                      // DHCPv6 / ICMPv6-ND tying an IPv6 address to the MAC
	ObsAP                        // an access-point association event (AP, SSID, APEvent set)
	ObsRADIUS                    // RADIUS accounting (AP, SSID, Identity, APEvent set)
	ObsBypass                    // traffic around the school's web filter (Bypass is set)
)

func (k ObsKind) String() string {
	switch k {
	case ObsDHCP:
		return "dhcp"
	case ObsDNS:
		return "dns"
	case ObsARP:
		return "arp"
	case ObsIPv6:
		return "ipv6"
	case ObsAP:
		return "ap"
	case ObsRADIUS:
		return "radius"
	case ObsBypass:
		return "bypass"
	}
	return "unknown"
}

// Observation is one fact a source saw about a device. Sources (capture, replay,
// simulate, apfeed, ...) produce them; the daemon's single writer loop consumes them.
type Observation struct {
	At        time.Time
	Kind      ObsKind
	MAC       string     // device MAC, lower-case colon form
	Interface string     // capture interface, "" for replay
	VLAN      uint16     // 802.1Q VLAN ID, 0 when untagged
	IP        netip.Addr // device's address when known (DHCP ciaddr/yiaddr/requested, ARP sender, IP src)
	TTL       uint8      // IP TTL of the packet, 0 when unknown
	DHCP      *fingerprint.DHCP
	DNSName   string // query name without trailing dot, lower case
	Hostname  string // mDNS / other host name evidence
	Bypass    string // what was seen: "dns-other-resolver 8.8.8.8", "dot 1.1.1.1:853", "doh 8.8.8.8:443", "vpn wireguard 203.0.113.9:51820", "tethering ttl 63"

	// Location feeds (adapters/apfeed, adapters/radius).
	AP       string // access point name (or its MAC when the feed gives no name)
	APMAC    string // access point (BSSID or radio) MAC, lower-case colon form
	SSID     string
	APEvent  string // associate | roam | disassociate
	Identity string // 802.1X identity (RADIUS User-Name)
	Source   string // which feed: "syslog:hostapd", "syslog:unifi", "radius:10.0.0.2", ...

	barrier chan struct{} // internal: closed by the loop when reached (queue flush)
}

// Device is the live view of one device. The JSON names are a stable contract
// (GET /api/v1/devices).
type Device struct {
	MAC           string                 `json:"mac"`
	IP            string                 `json:"ip"`
	IPv6          []string               `json:"ipv6,omitempty"`
	Hostname      string                 `json:"hostname"`
	Kind          string                 `json:"kind"`
	OS            string                 `json:"os"`
	Vendor        string                 `json:"vendor"`
	Managed       bool                   `json:"managed"`
	RandomizedMAC bool                   `json:"randomized_mac"`
	Confidence    float64                `json:"confidence"`
	Zone          string                 `json:"zone"`
	ZoneType      string                 `json:"zone_type"`
	Role          string                 `json:"role"`
	VLAN          uint16                 `json:"vlan"`
	Decision      policy.Decision        `json:"decision"`
	Evidence      []fingerprint.Evidence `json:"evidence"`
	FirstSeen     time.Time              `json:"first_seen"`
	LastSeen      time.Time              `json:"last_seen"`

	// Unfiltered: seen going around the school's filter within BypassFresh (its own
	// DNS resolver, DoH/DoT, a VPN, Private Relay); Bypass says what was seen.
	Unfiltered bool     `json:"unfiltered"`
	Bypass     []string `json:"bypass,omitempty"`

	// Earlier private MACs of this same device (identity across MAC rotation),
	// oldest first, and how sure the link is.
	LinkedMACs     []string `json:"linked_macs"`
	LinkConfidence float64  `json:"link_confidence,omitempty"`

	// Where the location feeds last saw it (empty when unknown or stale).
	AP        string    `json:"ap,omitempty"`
	APMAC     string    `json:"ap_mac,omitempty"`
	SSID      string    `json:"ssid,omitempty"`
	APSeen    time.Time `json:"ap_seen,omitempty"`
	Identity  string    `json:"-"` // 802.1X identity: personal data, not in the API
	CircuitID string    `json:"circuit_id,omitempty"`
	RemoteID  string    `json:"remote_id,omitempty"`

	// Signals kept for re-classification; not part of the API.
	DHCP     *fingerprint.DHCP `json:"-"`
	DNSNames []string          `json:"-"`
	TTL      uint8             `json:"-"`

	fp fingerprint.Profile // the fingerprint's own conclusion, before the register fills gaps

	joined       bool      // seen doing more than a DHCP DISCOVER (a lease, DNS, ARP, an AP)
	bypassSeen   time.Time // last bypass observation
	zoneSince    time.Time // when the device entered Zone
	pendingZone  string    // a zone it seems to have moved to, not yet in effect (dwell)
	pendingType  string
	pendingSince time.Time
}

// Alert states.
const (
	AlertNew          = "new"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// AlertDevice is the device part of an alert, copied at the time it opened.
type AlertDevice struct {
	MAC      string `json:"mac"`
	Kind     string `json:"kind"`
	OS       string `json:"os"`
	Hostname string `json:"hostname,omitempty"`
	Role     string `json:"role,omitempty"`
}

// Alert is one breach episode: opened when a device enters breach of a rule in a
// zone, closed when it leaves. The JSON names are a stable contract (GET /api/v1/alerts).
type Alert struct {
	ID       string      `json:"id"` // ULID: immutable and sortable
	SiteID   string      `json:"site_id"`
	State    string      `json:"state"` // new | acknowledged | resolved
	Severity string      `json:"severity"`
	Action   string      `json:"action"` // alert | block (what the rule asked for)
	OpenedAt time.Time   `json:"opened_at"`
	ClosedAt *time.Time  `json:"closed_at"` // nil while the episode is open
	Device   AlertDevice `json:"device"`
	Zone     string      `json:"zone"`
	Rule     string      `json:"rule"`
	Clauses  []string    `json:"clauses"`
	Reason   string      `json:"reason"`

	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	Note           string     `json:"note,omitempty"`
}

// AlertFilter selects alerts from the store.
type AlertFilter struct {
	State string    // "" for any
	Since time.Time // zero for any
	Limit int       // 0 for the store's default
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID     string    `json:"id"` // ULID
	SiteID string    `json:"site_id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // user name, "system", or "api:<token name>"
	Action string    `json:"action"` // e.g. "alert.acknowledge", "config.reload", "login"
	Target string    `json:"target"` // e.g. alert ID
	Before string    `json:"before,omitempty"`
	After  string    `json:"after,omitempty"`
	Hash   string    `json:"hash,omitempty"` // hash chain: sha256(prev hash + this entry), set by the store
}

// User roles in the dashboard.
const (
	RoleAdmin  = "admin"
	RoleDSL    = "dsl"
	RoleSLT    = "slt"
	RoleViewer = "viewer"
)

// User is a dashboard account.
type User struct {
	Name         string
	Role         string // admin | dsl | slt | viewer
	PasswordHash string // bcrypt
	CreatedAt    time.Time
}

// Session is a logged-in browser session. The cookie carries the token; the store
// keeps only its SHA-256 (TokenHash).
type Session struct {
	TokenHash string
	User      string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a bearer token for /api/v1; the store keeps only its SHA-256.
type APIToken struct {
	Name      string
	TokenHash string
	Role      string
	CreatedAt time.Time
}

// Event is what live subscribers (the dashboard's server-sent events) receive
// after the change is durable.
type Event struct {
	Type  string `json:"type"` // "alert.opened", "alert.closed", "alert.updated", "device.updated"
	Alert *Alert `json:"alert,omitempty"`
	MAC   string `json:"mac,omitempty"`
}

// ZoneVisit is one closed stay of a device in a zone (zone history, for the
// reports' device-minutes and the device page).
type ZoneVisit struct {
	MAC  string    `json:"mac"`
	Zone string    `json:"zone"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Exemption is one entry of the exemptions register: granted in advance by SLT
// (or the DSL), documented, time-boxed (OSS-4, OSS-5, OSS-6, SPT-3, SPT-5, SPT-7).
// The daemon applies active ones on top of the configuration's own exemptions.
type Exemption struct {
	ID        string     `json:"id"` // ULID
	MAC       string     `json:"mac,omitempty"`
	Person    string     `json:"person,omitempty"` // matches a register entry's owner
	Zones     []string   `json:"zones,omitempty"`
	ZoneTypes []string   `json:"zone_types,omitempty"`
	From      time.Time  `json:"from"`
	Until     time.Time  `json:"until"`
	Reason    string     `json:"reason"` // medical | curriculum | multi-agency-visit | emergency | off-site-visit | individual-support | other
	Clauses   []string   `json:"clauses,omitempty"`
	Approver  string     `json:"approver"`
	Note      string     `json:"note,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}
