package fingerprint

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Decision thresholds. A label is reported only when its combined score
// reaches decideScore and beats the runner-up by decideMargin: "unknown" is
// preferred to a wrong answer (a wrong "phone" raises a false alert).
const (
	decideScore  = 0.5
	decideMargin = 0.15
)

// refines says which OS labels are more specific forms of another: evidence
// for the parent (e.g. "android-dhcp-14") also supports the child (Wear OS).
var refines = [][2]string{{"wearos", "android"}, {"watchos", "ios"}, {"ipados", "ios"}}

// Classify combines every signal about a device into a Profile.
//
// Each matching signature contributes Evidence (signal, value, suggestion,
// weight). Weights for the same label combine as independent evidence
// (1 - Π(1-w)); counter-evidence ("os!=windows") scales a label down. Kind and
// OS are each decided only above a threshold and margin; otherwise "unknown".
// Confidence is the confidence in Kind: the winning score discounted by the
// runner-up, 0 when Kind is unknown.
func Classify(s Signals) Profile { return classify(s, nil) }

// classify is Classify with the evidence of external databases added (see
// Engine); ext may be empty.
func classify(s Signals, ext []*External) Profile {
	var c collector
	mac := strings.ToLower(s.MAC)
	ouiVendor := ""
	if IsRandomizedMAC(mac) {
		c.add("randomized_mac", mac, "", 0) // locally administered: no OUI, and says nothing of ownership
	} else if v := VendorOf(mac); v != "" {
		ouiVendor = v
		c.add("oui", mac[:8], "vendor="+v, 0.9)
		for _, h := range vendorHints[v] {
			c.add("oui", mac[:8], h.suggests, h.weight)
		}
	}
	if d := s.DHCP; d != nil {
		if len(d.ParamList) > 0 {
			pl := formatList(d.ParamList)
			for _, sig := range paramListSigs {
				if (sig.prefix && hasPrefix(d.ParamList, sig.list)) || (!sig.prefix && slices.Equal(d.ParamList, sig.list)) {
					for _, h := range sig.hints {
						c.add("dhcp_param_list", pl, h.suggests, h.weight)
					}
					break
				}
			}
		}
		if slices.Contains(d.ParamList, 69) {
			// Option 69 (SMTP server, RFC 2132) is asked for by printers and
			// MFPs, which mail scans and alerts: in satori's dhcp.xml 17 of the
			// 23 fingerprints whose option 55 includes 69 are printers (every HP
			// JetDirect row, Canon, Dell); the rest are Windows NT 4, Mac OS 9,
			// an Avaya phone, a router and two appliances. No current phone,
			// tablet or PC client requests it.
			c.add("dhcp_param_list", "69", "kind=printer", 0.5)
		}
		if d.VendorClass != "" {
			c.matchFirst("dhcp_vendor_class", d.VendorClass, vendorClassSigs)
		}
		if bytes.HasPrefix(d.ClientID, []byte("\x00cisco-")) {
			// Cisco IOS/IOS-XE DHCP clients send client-id type 0 "cisco-<mac>-<interface>"
			// by default (Cisco IOS "ip address dhcp client-id"; zeek's hw-type0.pcap).
			c.add("dhcp_client_id", "cisco-", "kind=network", 0.7)
			c.add("dhcp_client_id", "cisco-", "vendor=Cisco", 0.7)
		}
		if d.IPv6OnlyPreferred {
			// RFC 8925 option 108 is requested by Apple OSes (iOS/macOS 15+) and
			// Android 11+ only among common clients: modern, not Windows or IoT.
			c.add("dhcp_option_108", "requested", "os!=windows", 0.3)
		}
	}
	host := s.Hostname
	if host == "" && s.DHCP != nil {
		host = s.DHCP.Hostname
		if host == "" {
			host = s.DHCP.FQDN
		}
	}
	if host != "" {
		c.matchFirst("hostname", host, hostnameSigs)
	}
	seen := map[string]bool{}
	for _, name := range s.DNSNames {
		for _, sig := range dnsSigs {
			if sig.matches(name) {
				if !seen[sig.label] { // many names of one service count once
					seen[sig.label] = true
					for _, h := range sig.hints {
						c.add("dns", name, h.suggests, h.weight)
					}
				}
				break
			}
		}
	}
	switch ttl := s.TTL; {
	case ttl == 0:
	case ttl > 64 && ttl <= 128:
		// Windows starts IP TTL at 128; Linux, Android, ChromeOS and Apple at 64
		// (or 255 for Apple's DHCP client): RFC 1700 defaults, satori ipttl tests.
		c.add("ttl", strconv.Itoa(int(ttl)), "os=windows", 0.3)
	case ttl <= 64:
		c.add("ttl", strconv.Itoa(int(ttl)), "os!=windows", 0.5)
	}
	for _, x := range ext {
		x.addEvidence(&c, s)
	}
	return c.profile(ouiVendor, IsRandomizedMAC(mac))
}

func hasPrefix(list, p []uint8) bool {
	return len(list) >= len(p) && slices.Equal(list[:len(p)], p)
}

func formatList(l []uint8) string {
	var b strings.Builder
	for i, v := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(v)))
	}
	return b.String()
}

// collector gathers evidence and per-label scores.
type collector struct {
	ev []Evidence
}

func (c *collector) add(signal, value, suggests string, w float64) {
	c.ev = append(c.ev, Evidence{Signal: signal, Value: value, Suggests: suggests, Weight: w})
}

func (c *collector) matchFirst(signal, value string, sigs []stringSig) {
	v := strings.ToLower(strings.TrimSpace(value))
	for _, sig := range sigs {
		if sig.matches(v) {
			for _, h := range sig.hints {
				c.add(signal, value, h.suggests, h.weight)
			}
			return
		}
	}
}

type scored struct {
	label string
	score float64
}

// scores combines the evidence for one field ("kind", "os", "vendor").
func (c *collector) scores(field string) []scored {
	miss := map[string]float64{} // Π(1-w) per label
	damp := map[string]float64{} // Π(1-w) of counter-evidence per label
	var order []string
	for _, e := range c.ev {
		f, v, ok := strings.Cut(e.Suggests, "=")
		if !ok {
			continue
		}
		if neg := strings.TrimSuffix(f, "!"); neg != f {
			if neg == field {
				if _, ok := damp[v]; !ok {
					damp[v] = 1
				}
				damp[v] *= 1 - e.Weight
			}
			continue
		}
		if f != field {
			continue
		}
		if _, ok := miss[v]; !ok {
			miss[v] = 1
			order = append(order, v)
		}
		miss[v] *= 1 - e.Weight
	}
	if field == "os" {
		for _, r := range refines {
			child, parent := r[0], r[1]
			if m, ok := miss[child]; ok && 1-m >= decideScore {
				if pm, ok := miss[parent]; ok {
					miss[child] = m * pm
					miss[parent] = 1
				}
			}
		}
	}
	out := make([]scored, 0, len(order))
	for _, v := range order {
		s := 1 - miss[v]
		if d, ok := damp[v]; ok {
			s *= d
		}
		if s > 0 {
			out = append(out, scored{v, s})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return strings.Compare(a.label, b.label)
	})
	return out
}

// decide returns the winning label and its margin-discounted confidence, or
// "unknown" and 0.
func decide(ss []scored) (string, float64) {
	if len(ss) == 0 || ss[0].score < decideScore {
		return "unknown", 0
	}
	second := 0.0
	if len(ss) > 1 {
		second = ss[1].score
	}
	if ss[0].score-second < decideMargin {
		return "unknown", 0
	}
	return ss[0].label, ss[0].score * (1 - second/2)
}

func (c *collector) profile(ouiVendor string, randomized bool) Profile {
	p := Profile{RandomizedMAC: randomized}
	var conf, osConf float64
	p.Kind, conf = decide(c.scores("kind"))
	p.OS, osConf = decide(c.scores("os"))
	p.Vendor = ouiVendor
	if p.Vendor == "" {
		if v, _ := decide(c.scores("vendor")); v != "unknown" {
			p.Vendor = v
		}
	}
	p.Confidence = math.Round(conf*100) / 100
	p.OSConfidence = math.Round(osConf*100) / 100
	slices.SortStableFunc(c.ev, func(a, b Evidence) int {
		switch {
		case a.Weight > b.Weight:
			return -1
		case a.Weight < b.Weight:
			return 1
		}
		return 0
	})
	p.Evidence = c.ev
	if p.Evidence == nil {
		p.Evidence = []Evidence{}
	}
	return p
}
