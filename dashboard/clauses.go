package dashboard

import (
	"strings"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// clauses is the one-line text of each policy clause an alert may cite, from the
// clause catalogue (docs: shared/policy-requirements.md). SPT = Special Partnership
// Trust, "Mobile Device and Personal Call Policy"; OSS = Oakham Shires School,
// "Mobile and Smart Technology Policy".
var clauses = map[string]string{
	"SPT-1":   "A personal device is any mobile or tablet with a camera; LA, Health Authority and approved-contractor devices are not covered; governors may use theirs in meetings only.",
	"SPT-2":   "Observed misuse must be reported immediately to the DSL or Deputy DSL.",
	"SPT-3":   "No personal-device use 08:30–15:30 except in the staffroom, SLT offices, own vehicle or off site; exceptions only with SLT permission given before use.",
	"SPT-4":   "An emergency medical call from a classroom is allowed if all lines are busy, and is recorded with the incident.",
	"SPT-5":   "An off-site visit lead or deputy may keep a device on, recorded in the risk assessment.",
	"SPT-6":   "Never photograph pupils on personal devices.",
	"SPT-7":   "Personal devices needed to support individuals or split classes go to SLT for immediate discussion.",
	"SPT-8":   "No calls or texts to pupils or parents from personal devices.",
	"SPT-9":   "Calls to parents are logged; none from personal devices.",
	"SPT-10":  "Work mobiles are for work only, subject to security, audit and monitoring, and never used by children or family.",
	"SPT-11":  "Staff devices need a PIN or passcode, apps only from known stores, no data outside the firewall.",
	"SPT-12":  "No personal messaging apps or social media for work.",
	"SPT-13":  "Pupils are discouraged from bringing devices; any brought stay in bags, switched off, in class, building and grounds.",
	"SPT-14":  "The policy is monitored and reviewed by the headteacher and trustees.",
	"OSS-1":   "Covers phones, tablets, e-readers, games consoles and wearables that communicate or record, for pupils, staff, governors, contractors, visitors and volunteers.",
	"OSS-2":   "Devices that reach the internet without the school's web filter are restricted by who carries them.",
	"OSS-2.1": "Pupils' unfiltered devices may not go beyond the main reception area; lockers are in the admin office.",
	"OSS-2.2": "Staff working with children may not have such devices in areas shared with pupils while pupils are on site.",
	"OSS-2.3": "Staff not working with children may not use them in teaching areas while pupils are on site; offices and the car park only.",
	"OSS-2.4": "No abusive messages; alerts and ringtones not audible.",
	"OSS-3":   "School devices are passcode-protected and used with permission; users are told activity may be monitored for safeguarding.",
	"OSS-4":   "Staff devices stay in the staff-room locker from the start of contracted hours until all pupils have left; no use in teaching periods without written permission.",
	"OSS-5":   "Learners do not use devices on site except with consent and approval; devices must not be taken into exams (reported to the exam board).",
	"OSS-6":   "Visitors keep devices locked, never let a pupil use them, and agree multi-agency use with the headteacher beforehand.",
	"OSS-7":   "The policy is reviewed at least yearly, with internet use monitored and issues fed into action planning.",
	"OSS-8":   "Breaches are reported, debriefed and escalated through the school's safeguarding procedures, in confidence.",
}

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
