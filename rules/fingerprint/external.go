package fingerprint

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// External is a fingerprint database a user imported (e.g. xnih/satori's
// fingerprints/dhcp.xml or dns.xml, GPL-2.0, which the user obtains themselves:
// HallMonitor ships none of its rows). Its matches add evidence named
// "external:<Source>", weighted below the built-in signatures (see
// externalWeight and dnsExternalWeight).
type External struct {
	Source  string          // shown in evidence, e.g. "satori"
	Format  string          // "dhcp" (satori dhcp.xml, root <DHCP>) or "dns" (satori dns.xml, root <DNS>)
	Entries []ExternalEntry // in file order
}

// ExternalEntry is one fingerprint of an external database, with its labels
// already mapped to HallMonitor's kinds and OS names ("" when the database's
// label has no HallMonitor equivalent or does not decide it).
type ExternalEntry struct {
	Name   string // the database's name, e.g. "Android 14.x"
	Line   int    // line of the entry in the file
	Kind   string // phone, tablet, games-console, printer, iot, network, ...
	OS     string // android, ios, macos, windows, chromeos, linux, ...
	Vendor string // a vendor name as the OUI table spells it, e.g. "Apple"
	Tests  []ExternalTest
}

// ExternalTest is one test of an entry: one DHCP field, or a DNS query name,
// compared with a value.
type ExternalTest struct {
	Field   string  // "param_list" (option 55), "options" (option order), "vendor_class" (option 60), "ttl"; "dns" (a query name)
	Partial bool    // satori matchtype="partial": the value occurs in the observed one (for "dns": at label boundaries)
	MsgType uint8   // DHCP message type the test applies to, 0 for any
	Weight  int     // the database's weight (satori: 1..10)
	List    []uint8 // param_list / options
	Text    string  // vendor_class or dns, lower case (dns without a trailing dot)
	TTL     uint8   // ttl
}

// satori dhcptype names → DHCP message types (RFC 2132 option 53).
var satoriMsgTypes = map[string]uint8{
	"any": 0, "discover": 1, "offer": 2, "request": 3, "decline": 4,
	"ack": 5, "nak": 6, "release": 7, "inform": 8,
}

// maxExternalEntries bounds what one import may hold (satori's dhcp.xml has
// 481), so a hostile or corrupt file cannot exhaust memory or slow Classify.
const maxExternalEntries = 100000

// ParseSatori reads a satori DHCP fingerprint file (root <DHCP>, each
// <fingerprint name os_name os_class os_vendor device_type device_vendor> with
// <dhcp_tests><test weight matchtype dhcptype dhcpoption55|dhcpoptions|
// dhcpvendorcode|ipttl/>), the format of xnih/satori fingerprints/dhcp.xml
// (2025), or a satori DNS fingerprint file (root <DNS>, the same
// <fingerprint> with <dns_tests><test weight matchtype dns/>), the format of
// fingerprints/dns.xml; the root element decides which (External.Format).
// source names the database in evidence. Errors name source:line.
// Unknown attributes are ignored; option 255 (end) in an option order is
// dropped, as the decoder never reports it.
func ParseSatori(data []byte, source string) (*External, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // satori's files start with a UTF-8 BOM
	d := xml.NewDecoder(bytes.NewReader(data))
	ext := &External{Source: source}
	var cur *ExternalEntry
	depth, rootSeen := 0, false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := d.InputPos()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				switch t.Name.Local {
				case "DHCP":
					ext.Format = "dhcp"
				case "DNS":
					ext.Format = "dns"
				default:
					return nil, fmt.Errorf("%s:%d: root element <%s>, want <DHCP> or <DNS> (a satori dhcp.xml or dns.xml fingerprint file)", source, line, t.Name.Local)
				}
				rootSeen = true
			case t.Name.Local == "fingerprint":
				if cur != nil {
					return nil, fmt.Errorf("%s:%d: <fingerprint> inside <fingerprint>", source, line)
				}
				if len(ext.Entries) >= maxExternalEntries {
					return nil, fmt.Errorf("%s:%d: more than %d fingerprints", source, line, maxExternalEntries)
				}
				e := satoriEntry(t.Attr)
				e.Line = line
				cur = &e
			case t.Name.Local == "test":
				if cur == nil {
					return nil, fmt.Errorf("%s:%d: <test> outside a <fingerprint>", source, line)
				}
				tt, err := satoriTest(t.Attr, ext.Format)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: fingerprint %q: %w", source, line, cur.Name, err)
				}
				if tt.Field != "" {
					cur.Tests = append(cur.Tests, tt)
				}
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "fingerprint" && cur != nil {
				if cur.Name == "" {
					return nil, fmt.Errorf("%s:%d: fingerprint without a name", source, cur.Line)
				}
				if len(cur.Tests) > 0 {
					ext.Entries = append(ext.Entries, *cur)
				}
				cur = nil
			}
		}
	}
	if !rootSeen {
		return nil, fmt.Errorf("%s: no <DHCP> or <DNS> element: not a satori dhcp.xml or dns.xml fingerprint file", source)
	}
	return ext, nil
}

func satoriEntry(attrs []xml.Attr) ExternalEntry {
	a := map[string]string{}
	for _, x := range attrs {
		a[x.Name.Local] = strings.TrimSpace(x.Value)
	}
	e := ExternalEntry{Name: a["name"]}
	e.Kind, e.OS, e.Vendor = satoriLabels(a["name"], a["os_name"], a["os_class"], a["os_vendor"], a["device_type"], a["device_vendor"])
	return e
}

// satoriTest reads one <test>; format ("dhcp" or "dns", the root element)
// decides which attributes name the field: a DNS file's dhcpoption55 is
// ignored like any unknown attribute, and so is a DHCP file's dns.
func satoriTest(attrs []xml.Attr, format string) (ExternalTest, error) {
	var t ExternalTest
	weight, match, mtype := "", "", "any"
	for _, x := range attrs {
		v := strings.TrimSpace(x.Value)
		name := x.Name.Local
		if format == "dns" {
			switch name {
			case "dhcptype", "dhcpoption55", "dhcpoptions", "dhcpvendorcode", "ipttl":
				continue
			case "dns":
				n := normDNSName(v)
				if n == "" {
					return t, errors.New("empty dns")
				}
				t.Field, t.Text = "dns", n
				continue
			}
		}
		switch name {
		case "weight":
			weight = v
		case "matchtype":
			match = v
		case "dhcptype":
			mtype = strings.ToLower(v)
		case "dhcpoption55", "dhcpoptions":
			l, err := parseOptionList(v)
			if err != nil {
				return t, fmt.Errorf("%s=%q: %w", x.Name.Local, v, err)
			}
			if x.Name.Local == "dhcpoption55" {
				t.Field = "param_list"
			} else {
				t.Field = "options"
				l = slices.DeleteFunc(l, func(o uint8) bool { return o == 255 || o == 0 })
			}
			t.List = l
		case "dhcpvendorcode":
			if v == "" {
				return t, errors.New("empty dhcpvendorcode")
			}
			t.Field, t.Text = "vendor_class", strings.ToLower(v)
		case "ipttl":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil || n == 0 {
				return t, fmt.Errorf("ipttl=%q: want 1..255", v)
			}
			t.Field, t.TTL = "ttl", uint8(n)
		}
	}
	w, err := strconv.Atoi(weight)
	if err != nil || w < 0 || w > 100 {
		return t, fmt.Errorf("weight=%q: want 0..100", weight)
	}
	t.Weight = w
	switch match {
	case "exact":
	case "partial":
		t.Partial = true
	default:
		return t, fmt.Errorf("matchtype=%q: want exact or partial", match)
	}
	mt, ok := satoriMsgTypes[mtype]
	if !ok {
		return t, fmt.Errorf("dhcptype=%q: unknown DHCP message type", mtype)
	}
	t.MsgType = mt
	if (t.Field == "param_list" || t.Field == "options") && len(t.List) == 0 {
		return t, errors.New("empty option list")
	}
	return t, nil
}

// parseOptionList reads "1,3,6,15" into option codes.
func parseOptionList(s string) ([]uint8, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]uint8, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("option %q is not 0..255", p)
		}
		out = append(out, uint8(n))
	}
	return out, nil
}

// satoriKinds maps satori's device_type (lower case) to HallMonitor kinds.
// "phone" here means a mobile phone: satori's VoIP/video desk phones are fixed
// equipment (iot), not something the phone policy is about. Types that say
// nothing of the form factor ("Miscellaneous", "DSP", "") map to nothing.
var satoriKinds = map[string]string{
	"smartphone": "phone", "phone": "phone", "pda": "phone",
	"tablet":       "tablet",
	"game console": "games-console",
	"ebook reader": "e-reader",
	"printer":      "printer", "scanner": "printer",
	"smart tv": "tv-media", "smarttv": "tv-media", "iptv": "tv-media", "digital media player": "tv-media",
	"multimedia device": "tv-media", "media link controller": "tv-media",
	"workstation": "desktop", "thin client": "desktop",
	"ip network camera": "iot", "dvr": "iot", "sensor": "iot", "key lock box": "iot", "smart switch": "iot",
	"ups": "iot", "digital signage": "iot", "nas": "iot", "voip phone": "iot", "video phone": "iot",
	"video conferencing": "iot", "voip gateway": "iot",
	"wireless access point": "network", "router": "network", "wireless router": "network", "switch": "network",
	"firewall": "network", "wireless controller": "network", "load balancer": "network", "network diagnostics": "network",
}

// satoriLabels maps one satori fingerprint's labels to kind, OS and vendor.
//
// satori labels every Android build "Smartphone" (tablets and watches too) and
// iPads "Multimedia Device", so for Android and iOS entries the device type is
// not used: the OS is what those rows know. Amazon's e-book readers run Linux
// but are "kindle" here, as in the built-in table.
func satoriLabels(name, osName, osClass, osVendor, devType, devVendor string) (kind, os, vendor string) {
	lname, lclass, lvendor := strings.ToLower(name), strings.ToLower(osClass), strings.ToLower(devVendor+" "+osVendor)
	kind = satoriKinds[strings.ToLower(devType)]
	switch {
	case lclass == "android":
		os, kind = "android", ""
	case osClass == "iOS" || (lclass == "ios" && strings.Contains(lvendor, "apple")): // "IOS" alone is Cisco's
		os, kind = "ios", ""
	case lclass == "mac os":
		os = "macos"
	case lclass == "windows":
		os = "windows"
		if kind == "phone" { // Windows Phone / CE PDAs: long gone, not evidence about today's phones
			kind = ""
		}
	case lclass == "chromeos":
		os = "chromeos"
	case lclass == "linux":
		os = "linux"
		if kind == "e-reader" && strings.Contains(lvendor, "amazon") {
			os = "kindle"
		}
	}
	switch {
	case strings.Contains(lname, "playstation"):
		os = "playstation"
	case strings.Contains(lname, "xbox"):
		os = "xbox"
	case kind == "games-console" && strings.Contains(lvendor, "nintendo"):
		os = "nintendo"
	}
	vendor = satoriVendor(devVendor)
	if os == "playstation" {
		vendor = "Sony Interactive Entertainment"
	}
	if osName == "" && osClass == "" && osVendor == "" && devType == "" && devVendor == "" && kind == "" && os == "" {
		// No labels but the name, as in every row of satori's dns.xml ("Amazon
		// Kindle", "Android Device", "Ubuntu Device"): the name gives an OS
		// or a vendor, never a kind (a name is not a device type: "Amazon
		// Kindle" covers the Kindle Fire tablets and Kindle apps too).
		os, vendor = satoriNameLabels(lname)
	}
	return kind, os, vendor
}

// satoriVendor maps a satori vendor string to a vendor as the OUI table
// spells it, "" when it is not one HallMonitor uses.
func satoriVendor(s string) string {
	s = strings.ToLower(s)
	for _, v := range []struct{ match, name string }{
		{"apple", "Apple"}, {"amazon", "Amazon"}, {"nintendo", "Nintendo"}, {"samsung", "Samsung"},
		{"google", "Google"}, {"microsoft", "Microsoft"}, {"blackberry", "BlackBerry"},
	} {
		if strings.Contains(s, v.match) {
			return v.name
		}
	}
	return ""
}

// satoriLinuxNames are the Linux distributions satori's dns.xml names
// ("<name> Device", from the distribution's NTP pool or package hosts).
var satoriLinuxNames = []string{
	"linux", "ubuntu", "debian", "fedora", "centos", "rhel", "rocky", "almalinux", "clearlinux",
	"gentoo", "manjaro", "nixos", "opensuse", "suse", "openmandriva", "sailfish os",
}

// satoriNameLabels maps a satori fingerprint name alone (lower case) to an
// OS and a vendor: the OS families HallMonitor knows and the vendors of
// satoriVendor, by word. BSDs, firewalls and appliances give nothing.
func satoriNameLabels(lname string) (os, vendor string) {
	words := strings.FieldsFunc(lname, func(r rune) bool { return r == ' ' || r == '-' || r == '/' || r == '(' || r == ')' })
	has := func(w string) bool {
		if strings.Contains(w, " ") { // "sailfish os"
			return strings.Contains(" "+strings.Join(words, " ")+" ", " "+w+" ")
		}
		return slices.Contains(words, w)
	}
	switch {
	case has("android"):
		os = "android"
	case has("windows"):
		os = "windows"
	case has("chromeos"):
		os = "chromeos"
	case slices.ContainsFunc(satoriLinuxNames, has):
		os = "linux"
	}
	for _, w := range words {
		if vendor = satoriVendor(w); vendor != "" {
			break
		}
	}
	return os, vendor
}

// matches reports whether one test matches the signals' DHCP message (TTL
// tests use Signals.TTL).
func (t ExternalTest) matches(d *DHCP, ttl uint8) bool {
	if t.MsgType != 0 && t.Field != "ttl" && d.MessageType != t.MsgType {
		return false
	}
	switch t.Field {
	case "param_list":
		return listMatch(d.ParamList, t.List, t.Partial)
	case "options":
		return listMatch(d.Options, t.List, t.Partial)
	case "vendor_class":
		vc := strings.ToLower(strings.TrimSpace(d.VendorClass))
		if t.Partial {
			return vc != "" && strings.Contains(vc, t.Text)
		}
		return vc == t.Text
	case "ttl":
		return ttl != 0 && ttl == t.TTL
	}
	return false
}

// listMatch compares option lists exactly, or (partial) as a contiguous run.
func listMatch(seen, want []uint8, partial bool) bool {
	if !partial {
		return slices.Equal(seen, want)
	}
	for i := 0; i+len(want) <= len(seen); i++ {
		if slices.Equal(seen[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// externalWeight turns a summed satori score into an evidence weight. The
// built-in signatures that decide alone weigh 0.6-0.95; an external match
// weighs at most 0.5, so it decides a label only when nothing built-in
// disagrees (decideScore 0.5 with a 0.15 margin), and adds to built-in
// evidence when it agrees. One matching field (score 5-9) is 0.35: a hint
// that needs support; two or more fields (score ≥ 10) 0.5.
func externalWeight(score int) float64 {
	switch {
	case score >= 10:
		return 0.5
	case score >= 5:
		return 0.35
	case score > 0:
		return 0.15
	}
	return 0
}

// normDNSName lower-cases a DNS name and drops its root dot.
func normDNSName(n string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
}

// dnsMatch compares a normalised query name with a "dns" test: exactly, or
// (partial) as a run of whole labels, so "android.pool.ntp.org" matches
// "2.android.pool.ntp.org" but not "myandroid.pool.ntp.org" (satori's own
// partial match is a substring; labels are stricter, never looser).
func (t ExternalTest) dnsMatch(name string) bool {
	if name == t.Text {
		return true
	}
	if !t.Partial {
		return false
	}
	return strings.HasSuffix(name, "."+t.Text) || strings.HasPrefix(name, t.Text+".") || strings.Contains(name, "."+t.Text+".")
}

// dnsExternalWeight turns a summed satori DNS score into an evidence weight,
// below externalWeight's: a query name says less than a DHCP client (any OS
// may run an app that asks for it), so one matching name (score 5-9) is 0.3
// and two or more (score ≥ 10) 0.4. Alone it never reaches decideScore; it
// decides nothing against built-in evidence, and adds to agreeing evidence.
func dnsExternalWeight(score int) float64 {
	switch {
	case score >= 10:
		return 0.4
	case score >= 5:
		return 0.3
	case score > 0:
		return 0.15
	}
	return 0
}

// addDNSEvidence is addEvidence for a satori dns.xml: per entry, the score
// is the sum of the weights of its tests that some query name matches (each
// test once); the best-scoring entries' agreed labels join the evidence as
// "satori dns.xml: <names> (<query names>)".
func (x *External) addDNSEvidence(c *collector, s Signals) {
	if len(s.DNSNames) == 0 {
		return
	}
	names := make([]string, 0, len(s.DNSNames))
	for _, n := range s.DNSNames {
		if n = normDNSName(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	best, bestScore := []int(nil), 0
	var seen []string // the query names that matched the best entries
	for i := range x.Entries {
		score := 0
		var matched []string
		for _, t := range x.Entries[i].Tests {
			if t.Field != "dns" {
				continue
			}
			for _, n := range names {
				if t.dnsMatch(n) {
					score += t.Weight
					matched = append(matched, n)
					break
				}
			}
		}
		switch {
		case score == 0:
		case score > bestScore:
			best, bestScore, seen = []int{i}, score, matched
		case score == bestScore:
			best = append(best, i)
			for _, n := range matched {
				if !slices.Contains(seen, n) {
					seen = append(seen, n)
				}
			}
		}
	}
	if len(best) == 0 {
		return
	}
	x.emit(c, best, dnsExternalWeight(bestScore), "satori dns.xml: ", " ("+strings.Join(seen, ", ")+")")
}

// addEvidence adds the best-matching entries' labels to c. Per entry, the
// score is the sum over fields (param list, option order, vendor class) of the
// highest matching test weight; a TTL test counts only beside another field
// (half the database agrees on TTL 64). Among the best-scoring entries a label
// is used only when they all agree on it: a list shared by an Android phone
// and a camera says nothing of the kind.
func (x *External) addEvidence(c *collector, s Signals) {
	if x != nil && x.Format == "dns" {
		x.addDNSEvidence(c, s)
		return
	}
	if x == nil || s.DHCP == nil {
		return
	}
	best, bestScore := []int(nil), 0
	for i := range x.Entries {
		e := &x.Entries[i]
		var perField [4]int
		for _, t := range e.Tests {
			if !t.matches(s.DHCP, s.TTL) {
				continue
			}
			f := map[string]int{"param_list": 0, "options": 1, "vendor_class": 2, "ttl": 3}[t.Field]
			perField[f] = max(perField[f], t.Weight)
		}
		score := perField[0] + perField[1] + perField[2]
		if score == 0 {
			continue
		}
		score += perField[3]
		switch {
		case score > bestScore:
			best, bestScore = []int{i}, score
		case score == bestScore:
			best = append(best, i)
		}
	}
	if len(best) == 0 {
		return
	}
	x.emit(c, best, externalWeight(bestScore), "", "")
}

// emit adds the labels the best entries agree on, weighted w, as evidence
// "external:<Source>" whose value is prefix, the entries' names and suffix.
func (x *External) emit(c *collector, best []int, w float64, prefix, suffix string) {
	signal := "external:" + x.Source
	names := make([]string, 0, len(best))
	for _, i := range best {
		names = append(names, x.Entries[i].Name)
	}
	value := strings.Join(names, " | ")
	if len(value) > 120 {
		value = value[:117] + "..."
	}
	if len(suffix) > 80 {
		suffix = suffix[:76] + "...)"
	}
	value = prefix + value + suffix
	agree := func(get func(ExternalEntry) string) string {
		v := get(x.Entries[best[0]])
		for _, i := range best[1:] {
			if get(x.Entries[i]) != v {
				return ""
			}
		}
		return v
	}
	added := false
	if k := agree(func(e ExternalEntry) string { return e.Kind }); k != "" {
		c.add(signal, value, "kind="+k, w)
		added = true
	}
	if o := agree(func(e ExternalEntry) string { return e.OS }); o != "" {
		c.add(signal, value, "os="+o, w)
		added = true
	}
	if v := agree(func(e ExternalEntry) string { return e.Vendor }); v != "" {
		c.add(signal, value, "vendor="+v, w)
		added = true
	}
	if !added {
		c.add(signal, value, "", 0) // matched, but the entries do not agree on anything we use
	}
}

// Engine classifies with the built-in signatures plus imported databases.
// The zero value and a nil *Engine classify like Classify. An Engine is
// read-only after NewEngine and safe for concurrent use.
type Engine struct {
	ext []*External
}

// NewEngine returns an Engine using the given external databases (nil ones
// are ignored).
func NewEngine(ext ...*External) *Engine {
	e := &Engine{}
	for _, x := range ext {
		if x != nil {
			e.ext = append(e.ext, x)
		}
	}
	return e
}

// Classify is the package Classify with the external databases' evidence.
func (e *Engine) Classify(s Signals) Profile {
	if e == nil {
		return classify(s, nil)
	}
	return classify(s, e.ext)
}

// Refine is the package Refine with the external databases' evidence.
func (e *Engine) Refine(prev Profile, s Signals) Profile {
	return refine(prev, e.Classify(s))
}
