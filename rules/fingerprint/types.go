// Package fingerprint turns what the gateway saw of a device (MAC, DHCP, DNS, TTL)
// into a Profile: what kind of device it is, which OS, whose, and why.
//
// Pure logic: no I/O, no clock. Callers pass everything in.
package fingerprint

// DHCP is one DHCPv4 client message as seen on the wire, with its options kept in
// the order the client sent them (the order itself is a fingerprint).
type DHCP struct {
	MessageType       uint8   `json:"message_type"`                  // option 53 (1 DISCOVER, 3 REQUEST, 8 INFORM, ...)
	Options           []uint8 `json:"options"`                       // option codes in wire order (excluding pad/end)
	ParamList         []uint8 `json:"param_list,omitempty"`          // option 55, in order
	VendorClass       string  `json:"vendor_class,omitempty"`        // option 60
	Hostname          string  `json:"hostname,omitempty"`            // option 12
	FQDN              string  `json:"fqdn,omitempty"`                // option 81 domain name
	ClientID          []byte  `json:"client_id,omitempty"`           // option 61
	UserClass         string  `json:"user_class,omitempty"`          // option 77
	MaxMsgSize        uint16  `json:"max_msg_size,omitempty"`        // option 57
	RequestedIP       string  `json:"requested_ip,omitempty"`        // option 50
	CircuitID         []byte  `json:"circuit_id,omitempty"`          // option 82 sub-option 1
	RemoteID          []byte  `json:"remote_id,omitempty"`           // option 82 sub-option 2
	IPv6OnlyPreferred bool    `json:"ipv6_only_preferred,omitempty"` // option 108 requested
}

// Signals is everything known about one device that the classifier may use.
type Signals struct {
	MAC      string   // "aa:bb:cc:dd:ee:ff", lower case
	DHCP     *DHCP    // the latest client DISCOVER/REQUEST/INFORM, if any
	DNSNames []string // recent distinct query names, most recent last (bounded by the caller)
	TTL      uint8    // IP TTL of the device's own packets, 0 when unknown
	Hostname string   // best known host name (DHCP 12/81, mDNS)
}

// Evidence is one reason behind a conclusion.
type Evidence struct {
	Signal   string  `json:"signal"`   // "oui", "randomized_mac", "dhcp_param_list", "dhcp_vendor_class", "hostname", "dns", "ttl", ...
	Value    string  `json:"value"`    // what was seen
	Suggests string  `json:"suggests"` // e.g. "kind=phone", "os=ios", "vendor=Apple"
	Weight   float64 `json:"weight"`   // 0..1
}

// Profile is the classifier's conclusion about a device.
type Profile struct {
	Kind          string     `json:"kind"`          // phone, tablet, laptop, desktop, smartwatch, fitness-tracker, games-console, e-reader, tv-media, printer, iot, network, unknown
	OS            string     `json:"os"`            // ios, ipados, watchos, macos, android, wearos, windows, chromeos, linux, nintendo, playstation, xbox, kindle, unknown
	Vendor        string     `json:"vendor"`        // e.g. "Apple", "" when unknown
	Confidence    float64    `json:"confidence"`    // in Kind: 0 when Kind is unknown
	OSConfidence  float64    `json:"os_confidence"` // in OS: 0 when OS is unknown
	RandomizedMAC bool       `json:"randomized_mac"`
	Evidence      []Evidence `json:"evidence"`
}
