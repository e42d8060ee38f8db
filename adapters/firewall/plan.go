package firewall

import (
	"bufio"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// This file is the reconcile logic, independent of how the kernel is reached: read
// the kernel's state (ipset save, iptables -S), compute the wanted state, and write
// the difference as one ipset restore script and one iptables-restore --noflush
// script per family.

// family indexes per-family state: 0 is IPv4 (iptables), 1 is IPv6 (ip6tables).
type family int

const (
	v4 family = iota
	v6
)

func (f family) String() string {
	if f == v6 {
		return "ip6tables"
	}
	return "iptables"
}

// ipset types.
const (
	typeMAC = "hash:mac"
	typeIP  = "hash:ip"
)

// ipsetState is one set as the kernel has it.
type ipsetState struct {
	typ     string // hash:mac | hash:ip
	family  string // inet | inet6 for hash:ip; "" for hash:mac
	members map[string]bool
}

func (s *ipsetState) clone() *ipsetState {
	return &ipsetState{typ: s.typ, family: s.family, members: maps.Clone(s.members)}
}

// famRules is one family's filter table, as far as we care: FORWARD's rules and the
// rules of our chains that exist. Rules are "-A CHAIN ..." lines as iptables -S prints them.
type famRules struct {
	forward []string
	chains  map[string][]string // ChainForward / ChainDrop → rules; a key exists iff the chain does
	// marker: ChainMarker exists (we created the filter table).
	marker bool
	// noTable: the filter table does not exist (read only when none of our chains do,
	// i.e. before an install). The install then creates ChainMarker with our chains.
	noTable bool
}

// kernel is the state Set reads.
type kernel struct {
	sets map[string]*ipsetState // only SetPrefix sets
	fam  [2]famRules
}

// wanted is the state Set writes.
type wanted struct {
	sets   map[string]*ipsetState
	chains [2]map[string][]string
}

func setName(iface, kind string) string { return SetPrefix + iface + "-" + kind }

// ifaceOfSet returns the interface and kind of one of our sets.
func ifaceOfSet(name string) (iface, kind string, ok bool) {
	rest, ok := strings.CutPrefix(name, SetPrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", "", false
	}
	iface, kind = rest[:i], rest[i+1:]
	switch kind {
	case "mac", "v4", "v6":
		return iface, kind, ValidInterface(iface)
	}
	return "", "", false
}

const jumpRule = "-A FORWARD -j " + ChainForward

// config is what shapes the wanted state besides the blocks.
type config struct {
	macSets    bool
	ipv6       bool
	interfaces []string     // always protected, even with no blocks
	resolvers  []netip.Addr // DNS servers beyond the gateway blocked devices may use
}

func (c config) families() []family {
	if c.ipv6 {
		return []family{v4, v6}
	}
	return []family{v4}
}

// want computes the wanted state for the grouped blocks. The wanted sets share the
// groups' member maps: the caller must not change them afterwards.
func (c config) want(groups map[string]*members) wanted {
	ifaces := map[string]bool{}
	for _, i := range c.interfaces {
		ifaces[i] = true
	}
	for i := range groups {
		ifaces[i] = true
	}
	w := wanted{sets: map[string]*ipsetState{}}
	for _, f := range c.families() {
		w.chains[f] = map[string][]string{ChainForward: nil, ChainDrop: c.dropRules(f)}
	}
	for _, iface := range sortedKeys(ifaces) {
		m := groups[iface]
		if m == nil {
			m = newMembers()
		}
		for _, f := range c.families() {
			set := c.setFor(iface, f)
			w.chains[f][ChainForward] = append(w.chains[f][ChainForward],
				fmt.Sprintf("-A %s -i %s -m set --match-set %s src -j %s", ChainForward, iface, set, ChainDrop))
		}
		if c.macSets {
			w.sets[setName(iface, "mac")] = &ipsetState{typ: typeMAC, members: m.macs}
			continue
		}
		w.sets[setName(iface, "v4")] = &ipsetState{typ: typeIP, family: "inet", members: m.v4}
		if c.ipv6 {
			w.sets[setName(iface, "v6")] = &ipsetState{typ: typeIP, family: "inet6", members: m.v6}
		}
	}
	return w
}

func (c config) setFor(iface string, f family) string {
	switch {
	case c.macSets:
		return setName(iface, "mac")
	case f == v6:
		return setName(iface, "v6")
	}
	return setName(iface, "v4")
}

// dropRules is HALLMONITOR-DROP: DHCP (relayed beyond the gateway) and DNS to the
// configured resolvers return to the caller; everything else is dropped. Traffic to
// the gateway itself (its own DHCP and DNS server, SSH, the dashboard) goes through
// INPUT, never FORWARD, so it is untouched by construction.
func (c config) dropRules(f family) []string {
	var r []string
	if f == v4 {
		r = append(r, "-A "+ChainDrop+" -p udp -m udp --dport 67:68 -j RETURN")
	} else {
		r = append(r, "-A "+ChainDrop+" -p udp -m udp --dport 546:547 -j RETURN")
	}
	for _, a := range c.resolvers {
		a = a.Unmap()
		if a.Is4() != (f == v4) {
			continue
		}
		p := netip.PrefixFrom(a, a.BitLen())
		r = append(r,
			fmt.Sprintf("-A %s -d %s -p udp -m udp --dport 53 -j RETURN", ChainDrop, p),
			fmt.Sprintf("-A %s -d %s -p tcp -m tcp --dport 53 -j RETURN", ChainDrop, p))
	}
	return append(r, "-A "+ChainDrop+" -j DROP")
}

// plan is what Set will write.
type plan struct {
	ipset     string    // one ipset restore batch: creates, adds, dels, flushes of obsolete sets
	iptables  [2]string // one iptables-restore --noflush batch per family ("" = nothing to do)
	destroy   string    // ipset restore batch destroying obsolete sets (after iptables)
	mismatch  []string  // our sets with the wrong type: Set must flush everything first
	added     int
	removed   int
	obsoletes int
}

// diff computes the plan taking k to w.
func (c config) diff(k kernel, w wanted) plan {
	var p plan
	var b, destroy strings.Builder
	for _, name := range slices.Sorted(maps.Keys(w.sets)) {
		ws, ks := w.sets[name], k.sets[name]
		if ks != nil && (ks.typ != ws.typ || ks.family != ws.family) {
			p.mismatch = append(p.mismatch, name)
			continue
		}
		if ks == nil {
			b.WriteString(createLine(name, ws))
			ks = &ipsetState{}
		}
		for _, m := range sortedKeys(ws.members) {
			if !ks.members[m] {
				fmt.Fprintf(&b, "add %s %s\n", name, m)
				p.added++
			}
		}
		for _, m := range sortedKeys(ks.members) {
			if !ws.members[m] {
				fmt.Fprintf(&b, "del %s %s\n", name, m)
				p.removed++
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(k.sets)) {
		if w.sets[name] == nil {
			fmt.Fprintf(&b, "flush %s\n", name) // unmatched at once; destroyed once unreferenced
			fmt.Fprintf(&destroy, "destroy %s\n", name)
			p.removed += len(k.sets[name].members)
			p.obsoletes++
		}
	}
	p.ipset, p.destroy = b.String(), destroy.String()
	for _, f := range c.families() {
		p.iptables[f] = chainScript(k.fam[f], w.chains[f])
	}
	return p
}

func createLine(name string, s *ipsetState) string {
	if s.typ == typeMAC {
		return fmt.Sprintf("create %s %s\n", name, s.typ)
	}
	return fmt.Sprintf("create %s %s family %s\n", name, s.typ, s.family)
}

// chainScript returns the iptables-restore --noflush batch that makes our chains hold
// want and FORWARD hold exactly one jump, at position 1; "" when nothing differs.
// Declaring a chain in a --noflush batch creates it or empties it; the batch is applied
// atomically, so there is no moment with an empty chain.
func chainScript(k famRules, want map[string][]string) string {
	var b, rules strings.Builder
	if k.noTable && !k.marker {
		fmt.Fprintf(&b, ":%s - [0:0]\n", ChainMarker)
	}
	for _, ch := range []string{ChainForward, ChainDrop} {
		have, ok := k.chains[ch]
		if ok && slices.Equal(have, want[ch]) {
			continue
		}
		fmt.Fprintf(&b, ":%s - [0:0]\n", ch) // declarations first, as iptables-save writes them
		for _, r := range want[ch] {
			rules.WriteString(r + "\n")
		}
	}
	b.WriteString(rules.String())
	if !jumpOK(k.forward) {
		for _, r := range k.forward {
			if jumpsToUs(r) {
				b.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
			}
		}
		b.WriteString("-I FORWARD 1 -j " + ChainForward + "\n")
	}
	if b.Len() == 0 {
		return ""
	}
	return "*filter\n" + b.String() + "COMMIT\n"
}

// flushScript removes every jump to our chains and the chains themselves.
func flushScript(k famRules) string {
	var b strings.Builder
	for _, r := range k.forward {
		if jumpsToUs(r) {
			b.WriteString("-D" + strings.TrimPrefix(r, "-A") + "\n")
		}
	}
	_, fwd := k.chains[ChainForward]
	_, drop := k.chains[ChainDrop]
	if fwd || drop {
		// Declared (hence emptied) first, so the deletions cannot fail on references.
		b.WriteString(":" + ChainForward + " - [0:0]\n:" + ChainDrop + " - [0:0]\n")
		b.WriteString("-X " + ChainForward + "\n-X " + ChainDrop + "\n")
	}
	if k.marker {
		b.WriteString(":" + ChainMarker + " - [0:0]\n-X " + ChainMarker + "\n")
	}
	if b.Len() == 0 {
		return ""
	}
	return "*filter\n" + b.String() + "COMMIT\n"
}

func jumpsToUs(rule string) bool {
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && (f[i+1] == ChainForward || f[i+1] == ChainDrop) {
			return true
		}
	}
	return false
}

func jumpOK(forward []string) bool {
	n := 0
	for _, r := range forward {
		if jumpsToUs(r) {
			n++
		}
	}
	return n == 1 && len(forward) > 0 && forward[0] == jumpRule
}

// parseIPSetSave reads `ipset save` output, keeping our sets only.
func parseIPSetSave(out string) (map[string]*ipsetState, error) {
	sets := map[string]*ipsetState{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.HasPrefix(f[1], SetPrefix) {
			continue
		}
		switch f[0] {
		case "create":
			s := &ipsetState{typ: f[2], members: map[string]bool{}}
			if i := slices.Index(f, "family"); i > 0 && i+1 < len(f) {
				s.family = f[i+1]
			}
			if s.typ == typeMAC {
				s.family = ""
			}
			sets[f[1]] = s
		case "add":
			s := sets[f[1]]
			if s == nil {
				return nil, fmt.Errorf("ipset save line %d: add to undeclared set %s", n, f[1])
			}
			m, err := normalizeMember(s.typ, f[2])
			if err != nil {
				return nil, fmt.Errorf("ipset save line %d: %w", n, err)
			}
			s.members[m] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ipset save: %w", err)
	}
	return sets, nil
}

func normalizeMember(typ, m string) (string, error) {
	if typ == typeMAC {
		return NormalizeMAC(m)
	}
	a, err := netip.ParseAddr(m)
	if err != nil {
		return "", fmt.Errorf("bad member %q: %w", m, err)
	}
	return a.Unmap().String(), nil
}

// parseRules turns iptables -S output of one chain into its "-A" rules.
func parseRules(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "-A ") {
			out = append(out, l)
		}
	}
	return out
}

// installed derives Status from the kernel's state.
func (c config) installed(k kernel, mode Mode) Installed {
	in := Installed{Mode: mode, MACSets: c.macSets, Interfaces: map[string]Members{}}
	groups := map[string]*members{}
	for name, s := range k.sets {
		iface, kind, ok := ifaceOfSet(name)
		if !ok {
			continue
		}
		m := in.Interfaces[iface]
		switch kind {
		case "mac":
			m.MACs = sortedKeys(s.members)
		case "v4":
			m.IPv4 = sortedKeys(s.members)
		case "v6":
			m.IPv6 = sortedKeys(s.members)
		}
		in.Interfaces[iface] = m
		groups[iface] = newMembers()
	}
	want := config{macSets: c.macSets, ipv6: c.ipv6, resolvers: c.resolvers}.want(groups)
	in.Jump, in.Rules = true, true
	for _, f := range c.families() {
		in.Jump = in.Jump && jumpOK(k.fam[f].forward)
		for _, ch := range []string{ChainForward, ChainDrop} {
			have, ok := k.fam[f].chains[ch]
			in.Rules = in.Rules && ok && slices.Equal(have, want.chains[f][ch])
		}
	}
	return in
}
