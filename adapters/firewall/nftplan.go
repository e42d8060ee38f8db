package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file is the nftables reconcile logic, independent of netlink: the wanted
// table (sets, chains, rules with their expressions), the state read from the kernel
// reduced to what matters, and the diff between them.

// nftables names: one table of the inet family (IPv4 and IPv6), one ether_addr set per
// protected interface (SetPrefix + interface), a base chain on the forward hook and a
// regular chain blocked devices jump to.
const (
	NFTTable        = "hallmonitor" // table inet hallmonitor
	NFTChainForward = "hm-forward"  // type filter hook forward priority filter - 1; policy accept
	NFTChainDrop    = "hm-drop"     // DHCP and resolver DNS accepted, the rest dropped
	// NFTPriority is the forward chain's priority: filter - 1, so it runs before a
	// school's own "priority filter" chains (and before iptables-nft's FORWARD).
	NFTPriority = int32(-1)
)

// nftRule is one rule we install: its nft syntax (for people and the fingerprint) and
// its expressions. Lookups name their set; the SetID is filled in when written.
type nftRule struct {
	text  string
	exprs []expr.Any
	tag   string // see ruleTag
}

func newRule(text string, exprs []expr.Any) nftRule {
	r := nftRule{text: text, exprs: exprs}
	r.tag = ruleTag(r)
	return r
}

// tag is what the rule's comment (userdata) holds: a version and a hash of the text
// and the expressions, so a rule someone changed, and a rule of an older HallMonitor
// with other expressions, are both seen as not ours.
func ruleTag(r nftRule) string {
	h := sha256.New()
	h.Write([]byte(r.text))
	for _, e := range r.exprs {
		fmt.Fprintf(h, "|%T%+v", e, e)
	}
	return "hallmonitor " + hex.EncodeToString(h.Sum(nil)[:6])
}

// nftWant is the table Set installs.
type nftWant struct {
	sets  map[string]map[string]bool // set name → MACs
	rules map[string][]nftRule       // chain → rules, in order
}

// nftChainState is one chain of our table as read from the kernel.
type nftChainState struct {
	base   bool   // has a hook
	typ    string // filter, nat, route
	hook   uint32
	prio   int32
	accept bool     // policy accept (base chains)
	tags   []string // per rule: its comment (the tag), "" when it has none
}

// nftSetState is one set of our table as read from the kernel.
type nftSetState struct {
	ok    bool            // ether_addr keys, a plain set (no map, interval, timeout, constant)
	elems map[string]bool // normalised MACs
}

// nftState is our table as read from the kernel.
type nftState struct {
	table   bool // the table exists
	tableOK bool // and is not dormant
	chains  map[string]nftChainState
	sets    map[string]nftSetState
}

// nftPlan is what Set writes, in one transaction.
type nftPlan struct {
	// rebuild: the table's structure differs (missing, dormant, chain or rule or set
	// changed, stale objects); the transaction deletes the table (when it exists) and
	// adds it again whole, elements included.
	rebuild bool
	why     string
	// add, del: per set, the elements to add and delete (no rebuild).
	add, del       map[string][]string
	added, removed int
}

func (p nftPlan) empty() bool { return !p.rebuild && len(p.add) == 0 && len(p.del) == 0 }

func nftSetName(iface string) string { return SetPrefix + iface }

// nftWanted computes the table for the grouped blocks: interfaces from the options and
// the blocks, each with its set and its forward rule.
func (c config) nftWanted(groups map[string]*members) nftWant {
	ifaces := map[string]bool{}
	for _, i := range c.interfaces {
		ifaces[i] = true
	}
	for i := range groups {
		ifaces[i] = true
	}
	w := nftWant{sets: map[string]map[string]bool{}, rules: map[string][]nftRule{
		NFTChainForward: nil,
		NFTChainDrop:    c.nftDropRules(),
	}}
	for _, iface := range sortedKeys(ifaces) {
		set := nftSetName(iface)
		w.sets[set] = map[string]bool{}
		if m := groups[iface]; m != nil {
			w.sets[set] = maps.Clone(m.macs)
		}
		w.rules[NFTChainForward] = append(w.rules[NFTChainForward], nftForwardRule(iface, set))
	}
	return w
}

// ifname is an interface name as the kernel compares it: NUL-padded to IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// nftForwardRule: iifname IFACE ether saddr @SET jump hm-drop. The iiftype check is
// what nft adds before reading a link-layer header in an inet table.
func nftForwardRule(iface, set string) nftRule {
	return newRule(fmt.Sprintf("iifname %q ether saddr @%s jump %s", iface, set, NFTChainDrop),
		[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(iface)},
			&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			&expr.Lookup{SourceRegister: 1, SetName: set},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: NFTChainDrop},
		})
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// dport matches the transport header's destination port in [from, to].
func dport(from, to uint16) []expr.Any {
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	if from == to {
		return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(from)}}
	}
	return []expr.Any{load, &expr.Range{Op: expr.CmpOpEq, Register: 1,
		FromData: binaryutil.BigEndian.PutUint16(from), ToData: binaryutil.BigEndian.PutUint16(to)}}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var accept = []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}

// nftDropRules is hm-drop: DHCP (v4 67-68, v6 546-547) and DNS (udp and tcp 53) to
// the configured resolvers are accepted, the rest is dropped. Accept ends only our
// base chain: the school's own chains still see the packet. Traffic to the gateway
// itself is on the input hook and never reaches this table's forward chain.
func (c config) nftDropRules() []nftRule {
	r := []nftRule{
		newRule("meta nfproto ipv4 udp dport 67-68 accept", concat(nfproto(unix.NFPROTO_IPV4), l4proto(unix.IPPROTO_UDP), dport(67, 68), accept)),
		newRule("meta nfproto ipv6 udp dport 546-547 accept", concat(nfproto(unix.NFPROTO_IPV6), l4proto(unix.IPPROTO_UDP), dport(546, 547), accept)),
	}
	for _, a := range c.resolvers {
		a = a.Unmap()
		fam, proto, off := "ip", byte(unix.NFPROTO_IPV4), uint32(16)
		if a.Is6() {
			fam, proto, off = "ip6", unix.NFPROTO_IPV6, 24
		}
		daddr := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
		}
		for _, l4 := range []struct {
			name  string
			proto byte
		}{{"udp", unix.IPPROTO_UDP}, {"tcp", unix.IPPROTO_TCP}} {
			r = append(r, newRule(fmt.Sprintf("%s daddr %s %s dport 53 accept", fam, a, l4.name),
				concat(nfproto(proto), daddr, l4proto(l4.proto), dport(53, 53), accept)))
		}
	}
	return append(r, newRule("drop", []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}))
}

// state is the kernel's table once w is installed.
func (w nftWant) state() nftState {
	k := nftState{table: true, tableOK: true, chains: map[string]nftChainState{}, sets: map[string]nftSetState{}}
	for name, rules := range w.rules {
		c := nftChainWanted(name)
		for _, r := range rules {
			c.tags = append(c.tags, r.tag)
		}
		k.chains[name] = c
	}
	for name, elems := range w.sets {
		k.sets[name] = nftSetState{ok: true, elems: elems}
	}
	return k
}

// nftChainWanted is what a chain of ours must look like, rules aside.
func nftChainWanted(name string) nftChainState {
	if name == NFTChainForward {
		return nftChainState{base: true, typ: string(nftables.ChainTypeFilter), hook: unix.NF_INET_FORWARD, prio: NFTPriority, accept: true}
	}
	return nftChainState{}
}

// structural returns why the kernel's table is not the wanted one, rules and set
// types included but elements aside; "" when it is.
func (k nftState) structural(w nftWant) string {
	switch {
	case !k.table:
		return "table missing"
	case !k.tableOK:
		return "table dormant"
	}
	for name := range k.chains {
		if _, ok := w.rules[name]; !ok {
			return "stale chain " + name
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.rules)) {
		have, ok := k.chains[name]
		if !ok {
			return "chain " + name + " missing"
		}
		want := nftChainWanted(name)
		if have.base != want.base || have.typ != want.typ || have.hook != want.hook || have.prio != want.prio || have.accept != want.accept {
			return "chain " + name + " has another type, hook, priority or policy"
		}
		tags := make([]string, len(w.rules[name]))
		for i, r := range w.rules[name] {
			tags[i] = r.tag
		}
		if !slices.Equal(have.tags, tags) {
			return "rules of " + name + " differ"
		}
	}
	for name, s := range k.sets {
		if _, ok := w.sets[name]; !ok {
			return "stale set " + name
		}
		if !s.ok {
			return "set " + name + " has another type or flags"
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.sets)) {
		if _, ok := k.sets[name]; !ok {
			return "set " + name + " missing"
		}
	}
	return ""
}

// nftDiff computes the plan taking k to w: element changes only when the structure
// is right, else a rebuild of the whole table.
func nftDiff(k nftState, w nftWant) nftPlan {
	p := nftPlan{add: map[string][]string{}, del: map[string][]string{}}
	for name, want := range w.sets {
		have := k.sets[name].elems
		for m := range want {
			if !have[m] {
				p.add[name] = append(p.add[name], m)
				p.added++
			}
		}
	}
	for name, s := range k.sets {
		for m := range s.elems {
			if !w.sets[name][m] {
				p.del[name] = append(p.del[name], m)
				p.removed++
			}
		}
	}
	for _, l := range p.add {
		slices.Sort(l)
	}
	for _, l := range p.del {
		slices.Sort(l)
	}
	if why := k.structural(w); why != "" {
		p.rebuild, p.why = true, why
		p.add, p.del = nil, nil
	}
	if len(p.add) == 0 {
		p.add = nil
	}
	if len(p.del) == 0 {
		p.del = nil
	}
	return p
}

// nftInstalled derives Status from the kernel's state.
func (c config) nftInstalled(k nftState) Installed {
	in := Installed{Mode: ModeNFTables, MACSets: true, Interfaces: map[string]Members{}}
	groups := map[string]*members{}
	for name, s := range k.sets {
		iface, ok := strings.CutPrefix(name, SetPrefix)
		if !ok || !ValidInterface(iface) {
			continue
		}
		in.Interfaces[iface] = Members{MACs: sortedKeys(s.elems)}
		groups[iface] = newMembers()
	}
	// Interfaces as the kernel has them: Rules says whether what is there is intact.
	w := config{resolvers: c.resolvers}.nftWanted(groups)
	fwd, ok := k.chains[NFTChainForward]
	want := nftChainWanted(NFTChainForward)
	in.Jump = k.table && k.tableOK && ok && fwd.base && fwd.typ == want.typ && fwd.hook == want.hook && fwd.prio == want.prio && fwd.accept
	in.Rules = k.structural(w) == ""
	return in
}

// macKey is a set element's key for a normalised MAC.
func macKey(mac string) []byte {
	hw, _ := net.ParseMAC(mac) // normalised by normalize
	return hw
}
