package fingerprint

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LinkCandidate is what the daemon remembers of a device (known) or sees of a
// new MAC (fresh) when deciding whether the fresh MAC is the known device
// after a private-address rotation (iOS 14+ "Private Wi-Fi Address", iOS 18
// "Rotating"; Android 10+ per-network and Android 12+ non-persistent
// randomisation; Windows "Random hardware addresses").
type LinkCandidate struct {
	MAC         string
	ClientID    []byte  // DHCP option 61
	Hostname    string  // DHCP option 12/81 or mDNS
	ParamList   []uint8 // option 55
	Options     []uint8 // option order of a client message
	VendorClass string  // option 60
	Kind, OS    string  // the classifier's conclusions ("unknown" allowed)
	FirstSeen   time.Time
	LastSeen    time.Time
	VLAN        uint16
}

// Link scoring constants.
const (
	// LinkThreshold: a score at or above it means "the same device".
	LinkThreshold = 0.8
	// LinkMaxGap: how long after the known MAC went silent a fresh one may
	// appear and still be linked without a stable client identifier. Private
	// addresses rotate when a device (re)joins the network, so the new MAC
	// appears within seconds to minutes; across a school day's break (the
	// device asleep) a couple of hours. Longer gaps are not linked on
	// host name and fingerprint alone: too many identical devices.
	LinkMaxGap = 2 * time.Hour
	// linkShortGap: the new MAC appeared promptly, as a rejoin does.
	linkShortGap = 2 * time.Minute
)

// genericHostnames are default names many devices share (Apple devices whose
// owner has no name set, iOS 16+ sends none at all; Android/ChromeOS
// defaults), lower case: matching one says little.
var genericHostnames = map[string]bool{
	"iphone": true, "ipad": true, "apple-watch": true, "applewatch": true, "ipod": true, "macbook": true,
	"macbook-air": true, "macbook-pro": true, "macbookair": true, "macbookpro": true, "imac": true,
	"android": true, "localhost": true, "chromebook": true, "galaxy": true, "pixel": true, "kindle": true,
	"nintendo-switch": true, "nintendoswitch": true, "ps5": true, "xbox": true, "espressif": true,
}

// modelPrefixes start host names that are a phone's model, not its owner's name:
// Android sends the device name, which is the marketing model until the owner
// changes it ("Galaxy-A15", "Pixel-7", "OnePlus-Nord-CE-3-Lite", "Redmi-Note-12"),
// so two pupils with the same model send the same name. Source: AOSP
// DhcpClient (hostname from Settings.Global.DEVICE_NAME, defaulting to the
// model) and observed Samsung/Google/OnePlus/Xiaomi defaults.
var modelPrefixes = []string{"galaxy", "pixel", "oneplus", "redmi", "poco", "moto", "nokia", "huawei",
	"honor", "oppo", "vivo", "realme", "xiaomi", "sm-", "iphone", "ipad", "apple-watch"}

// isGenericHostname reports whether h (lower case) is a default many devices share.
func isGenericHostname(h string) bool {
	if genericHostnames[h] {
		return true
	}
	for _, p := range modelPrefixes {
		if strings.HasPrefix(h, p) {
			return true
		}
	}
	return false
}

// LinkScore scores how likely fresh is known under a new MAC, in 0..1, with
// the reasons. Vetoes (score 0):
//   - fresh was first seen before known was last seen: two devices present at
//     the same time are never merged, however alike (two pupils with the same
//     model of iPhone);
//   - their kinds or OSes are both known and differ (iOS/iPadOS/watchOS and
//     Android/Wear OS count as compatible: the classifier may know only the
//     parent);
//   - both send stable (non-MAC-derived) client identifiers and they differ.
//
// A stable client identifier (option 61 that is not 01+MAC, e.g. dhcpcd's
// RFC 4361 DUID-based one on ChromeOS and Linux) seen under both MACs scores
// 0.9, plus 0.1 for the same VLAN: it survives rotation.
//
// iOS, Android and Windows send 01+MAC as the client identifier, so it changes
// with the MAC and says nothing. Then all of these are required: the same
// distinctive host name (0.3; a generic default such as "iPhone" scores 0.1
// and does not meet the requirement: many pupils' phones are called that), the
// same option 55 list (0.2), the same option 60 (0.1, both absent counts),
// the same VLAN (0.1), and a gap after known went silent of at most
// LinkMaxGap (0.1; 0.2 within two minutes), plus the same option order
// (0.1; requested-IP/server-id/lease-time removed, as they differ between
// DISCOVER and REQUEST). Missing any required one caps the score at 0.5, so
// no link. A different host name, option 55 list or option 60 is a veto: an
// OS update or renaming between two sightings of one device is rarer than
// two similar devices. Only a locally administered (private) fresh MAC is
// linked this way: a burned-in address does not rotate.
func LinkScore(known, fresh LinkCandidate) (score float64, evidence []Evidence) {
	ev := func(signal, value, suggests string, w float64) {
		evidence = append(evidence, Evidence{Signal: signal, Value: value, Suggests: suggests, Weight: w})
	}
	veto := func(signal, value string) (float64, []Evidence) {
		ev(signal, value, "link=different-device", 1)
		return 0, evidence
	}
	if strings.EqualFold(known.MAC, fresh.MAC) {
		ev("link_mac", fresh.MAC, "link=same-device", 1)
		return 1, evidence
	}
	if !fresh.FirstSeen.After(known.LastSeen) {
		return veto("link_overlap", fmt.Sprintf("%s first seen %s, %s last seen %s: present together",
			fresh.MAC, fresh.FirstSeen.UTC().Format(time.RFC3339), known.MAC, known.LastSeen.UTC().Format(time.RFC3339)))
	}
	if linkConflict(known.Kind, fresh.Kind) {
		return veto("link_kind", known.Kind+" vs "+fresh.Kind)
	}
	if linkConflict(known.OS, fresh.OS) {
		return veto("link_os", known.OS+" vs "+fresh.OS)
	}
	kStable := len(known.ClientID) > 0 && !clientIDIsMAC(known.ClientID, known.MAC)
	fStable := len(fresh.ClientID) > 0 && !clientIDIsMAC(fresh.ClientID, fresh.MAC)
	if kStable && fStable {
		cid := fmt.Sprintf("%x", fresh.ClientID)
		if !bytes.Equal(known.ClientID, fresh.ClientID) {
			return veto("link_client_id", fmt.Sprintf("%x vs %s", known.ClientID, cid))
		}
		score = 0.9
		ev("link_client_id", cid, "link=same-device", 0.9)
		if known.VLAN == fresh.VLAN {
			score += 0.1
			ev("link_vlan", fmt.Sprint(fresh.VLAN), "link=same-device", 0.1)
		}
		return score, evidence
	}

	var missing []string
	kh, fh := strings.ToLower(strings.TrimSpace(known.Hostname)), strings.ToLower(strings.TrimSpace(fresh.Hostname))
	switch {
	case kh != "" && fh != "" && kh != fh:
		return veto("link_hostname", known.Hostname+" vs "+fresh.Hostname)
	case kh == "" || fh == "":
		missing = append(missing, "host name")
	case isGenericHostname(kh):
		score += 0.1
		ev("link_hostname", fresh.Hostname, "link=same-device", 0.1)
		missing = append(missing, "a distinctive host name")
	default:
		score += 0.3
		ev("link_hostname", fresh.Hostname, "link=same-device", 0.3)
	}
	switch {
	case len(known.ParamList) > 0 && len(fresh.ParamList) > 0 && !slices.Equal(known.ParamList, fresh.ParamList):
		return veto("link_param_list", formatList(known.ParamList)+" vs "+formatList(fresh.ParamList))
	case len(known.ParamList) == 0 || len(fresh.ParamList) == 0:
		missing = append(missing, "option 55")
	default:
		score += 0.2
		ev("link_param_list", formatList(fresh.ParamList), "link=same-device", 0.2)
	}
	if !strings.EqualFold(strings.TrimSpace(known.VendorClass), strings.TrimSpace(fresh.VendorClass)) {
		return veto("link_vendor_class", known.VendorClass+" vs "+fresh.VendorClass)
	}
	score += 0.1
	ev("link_vendor_class", fresh.VendorClass, "link=same-device", 0.1)
	if known.VLAN == fresh.VLAN {
		score += 0.1
		ev("link_vlan", fmt.Sprint(fresh.VLAN), "link=same-device", 0.1)
	} else {
		missing = append(missing, "same VLAN")
	}
	switch gap := fresh.FirstSeen.Sub(known.LastSeen); {
	case gap <= linkShortGap:
		score += 0.2
		ev("link_gap", gap.String(), "link=same-device", 0.2)
	case gap <= LinkMaxGap:
		score += 0.1
		ev("link_gap", gap.String(), "link=same-device", 0.1)
	default:
		missing = append(missing, "gap within "+LinkMaxGap.String())
	}
	if ko, fo := stableOrder(known.Options), stableOrder(fresh.Options); len(ko) > 0 && slices.Equal(ko, fo) {
		score += 0.1
		ev("link_option_order", formatList(fo), "link=same-device", 0.1)
	}
	if !IsRandomizedMAC(strings.ToLower(fresh.MAC)) {
		missing = append(missing, "a private (rotating) fresh MAC")
	}
	if len(missing) > 0 {
		score = min(score, 0.5)
		ev("link_missing", strings.Join(missing, ", "), "", 0)
	}
	return min(score, 1), evidence
}

// linkConflict: both labels known and not the same family.
func linkConflict(a, b string) bool {
	if !known(a) || !known(b) || a == b {
		return false
	}
	for _, r := range refines {
		if (a == r[0] && b == r[1]) || (a == r[1] && b == r[0]) {
			return false
		}
	}
	return true
}

// clientIDIsMAC reports whether an option 61 value is hardware type 1
// (Ethernet) followed by the MAC itself (RFC 2132 §9.14), as iOS, Android and
// Windows send: it changes when the MAC rotates.
func clientIDIsMAC(cid []byte, mac string) bool {
	if len(cid) != 7 || cid[0] != 1 {
		return false
	}
	return formatMAC(cid[1:]) == strings.ToLower(mac)
}

// formatMAC formats 6 bytes as "aa:bb:cc:dd:ee:ff".
func formatMAC(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 3*len(b))
	for i, v := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[v>>4], hexdigits[v&0xf])
	}
	return string(out)
}

// stableOrder drops the options whose presence depends on the message type
// (50 requested IP, 51 lease time, 54 server id) and pad/end.
func stableOrder(opts []uint8) []uint8 {
	out := make([]uint8, 0, len(opts))
	for _, o := range opts {
		switch o {
		case 0, 50, 51, 54, 255:
		default:
			out = append(out, o)
		}
	}
	return out
}
