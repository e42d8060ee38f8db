package dashboard

import (
	"strings"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// clauses is the one-line text of each policy clause an alert may cite, from the
// clause catalogue (docs: shared/policy-requirements.md). SPT = Special Partnership
// Trust, "Mobile Device and Personal Call Policy"; OSS = Oakham Shires School,
// "Mobile and Smart Technology Policy".
var clauses = policy.ClauseSummaries

// clauseText returns the catalogue's line for a clause ID ("OSS-2.1"), falling back
// to its parent clause ("OSS-2"), or "" when the ID is not in the catalogue.
func clauseText(id string) string {
	id = strings.ToUpper(strings.TrimSpace(id))
	if t, ok := clauses[id]; ok {
		return t
	}
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		return clauses[id[:i]]
	}
	return ""
}

// maskDevice hides what identifies a device from roles without capIdentifiers
// (SLT): the MAC becomes the report pseudonym; IPs, hostname, linked MACs, 802.1X
// identity, DHCP option 82 and fingerprint evidence are dropped.
func (s *Server) maskDevice(p principal, d daemon.Device) daemon.Device {
	if can(p.Role, capIdentifiers) {
		return d
	}
	d.MAC = s.pseudo(d.MAC)
	d.IP, d.IPv6, d.Hostname, d.Identity = "", nil, "", ""
	d.LinkedMACs, d.CircuitID, d.RemoteID = nil, "", ""
	d.Evidence, d.DHCP, d.DNSNames = nil, nil, nil
	return d
}

// maskAlert does the same for an alert's copy of its device.
func (s *Server) maskAlert(p principal, a daemon.Alert) daemon.Alert {
	if can(p.Role, capIdentifiers) {
		return a
	}
	a.Device.MAC = s.pseudo(a.Device.MAC)
	a.Device.Hostname = ""
	return a
}
