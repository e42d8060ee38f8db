package firewall

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
)

func nftCfg() config {
	return config{macSets: true, ipv6: true, interfaces: []string{"eth1.30"},
		resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("2001:db8::53")}}
}

func wantFor(t *testing.T, c config, d Desired) nftWant {
	t.Helper()
	g, err := normalize(d)
	if err != nil {
		t.Fatal(err)
	}
	return c.nftWanted(g)
}

var twoBlocks = Desired{Blocks: []Block{
	{MAC: "02:00:00:00:00:01", Interface: "br-pupil"},
	{MAC: "02:00:00:00:00:02", Interface: "br-pupil"},
}}

func TestNFTDiffFromNothingRebuilds(t *testing.T) {
	w := wantFor(t, nftCfg(), twoBlocks)
	p := nftDiff(nftState{}, w)
	if !p.rebuild || p.why != "table missing" || p.added != 2 || p.removed != 0 {
		t.Errorf("from no table: %+v", p)
	}
	if got := sortedKeys(setNames(w.sets)); !slices.Equal(got, []string{"hm-block-br-pupil", "hm-block-eth1.30"}) {
		t.Errorf("sets %v: want one per interface (blocks and Options.Interfaces)", got)
	}
	var texts []string
	for _, r := range w.rules[NFTChainDrop] {
		texts = append(texts, r.text)
	}
	want := []string{
		"meta nfproto ipv4 udp dport 67-68 accept", "meta nfproto ipv6 udp dport 546-547 accept",
		"ip daddr 10.0.0.53 udp dport 53 accept", "ip daddr 10.0.0.53 tcp dport 53 accept",
		"ip6 daddr 2001:db8::53 udp dport 53 accept", "ip6 daddr 2001:db8::53 tcp dport 53 accept", "drop",
	}
	if !slices.Equal(texts, want) {
		t.Errorf("drop chain:\n%q\nwant\n%q", texts, want)
	}
	if n := len(w.rules[NFTChainForward]); n != 2 {
		t.Errorf("%d forward rules, want 2 (one per interface)", n)
	}
}

func setNames[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func TestNFTDiffSteadyStateIsElementsOnly(t *testing.T) {
	c := nftCfg()
	k := wantFor(t, c, twoBlocks).state()
	// Installed == wanted: nothing to do.
	if p := nftDiff(k, wantFor(t, c, twoBlocks)); !p.empty() {
		t.Errorf("identical state: %+v", p)
	}
	// One more, one fewer, an extra element someone added: element changes only.
	k.sets["hm-block-br-pupil"].elems["02:00:00:00:00:99"] = true
	d := Desired{Blocks: []Block{{MAC: "02:00:00:00:00:01", Interface: "br-pupil"}, {MAC: "02:00:00:00:00:03", Interface: "br-pupil"},
		{MAC: "02:00:00:00:00:04", Interface: "eth1.30"}}}
	p := nftDiff(k, wantFor(t, c, d))
	if p.rebuild || p.added != 2 || p.removed != 2 ||
		!slices.Equal(p.add["hm-block-br-pupil"], []string{"02:00:00:00:00:03"}) ||
		!slices.Equal(p.add["hm-block-eth1.30"], []string{"02:00:00:00:00:04"}) ||
		!slices.Equal(p.del["hm-block-br-pupil"], []string{"02:00:00:00:00:02", "02:00:00:00:00:99"}) {
		t.Errorf("element diff: %+v", p)
	}
}

func TestNFTDiffStructuralChangesRebuild(t *testing.T) {
	c := nftCfg()
	w := wantFor(t, c, twoBlocks)
	for name, mess := range map[string]func(k *nftState){
		"dormant table":      func(k *nftState) { k.tableOK = false },
		"stale chain":        func(k *nftState) { k.chains["old"] = nftChainState{} },
		"missing drop chain": func(k *nftState) { delete(k.chains, NFTChainDrop) },
		"emptied drop chain": func(k *nftState) { c := k.chains[NFTChainDrop]; c.tags = nil; k.chains[NFTChainDrop] = c },
		"foreign rule": func(k *nftState) {
			c := k.chains[NFTChainForward]
			c.tags = append(c.tags, "")
			k.chains[NFTChainForward] = c
		},
		"policy drop": func(k *nftState) { c := k.chains[NFTChainForward]; c.accept = false; k.chains[NFTChainForward] = c },
		"priority 0":  func(k *nftState) { c := k.chains[NFTChainForward]; c.prio = 0; k.chains[NFTChainForward] = c },
		"input hook": func(k *nftState) {
			c := k.chains[NFTChainForward]
			c.hook = uint32(*nftables.ChainHookInput)
			k.chains[NFTChainForward] = c
		},
		"stale set (interface no longer protected)": func(k *nftState) { k.sets["hm-block-old"] = nftSetState{ok: true} },
		"set of another type":                       func(k *nftState) { s := k.sets["hm-block-eth1.30"]; s.ok = false; k.sets["hm-block-eth1.30"] = s },
		"missing set":                               func(k *nftState) { delete(k.sets, "hm-block-eth1.30") },
	} {
		k := w.state()
		mess(&k)
		if p := nftDiff(k, w); !p.rebuild || p.add != nil || p.del != nil {
			t.Errorf("%s: %+v, want a rebuild", name, p)
		}
	}
}

func TestNFTRuleTagsFollowContent(t *testing.T) {
	a := nftCfg().nftDropRules()
	c := nftCfg()
	c.resolvers = c.resolvers[:1]
	b := c.nftDropRules()
	if a[0].tag != b[0].tag || a[len(a)-1].tag != b[len(b)-1].tag {
		t.Error("the same rule got different tags")
	}
	r1, r2 := nftForwardRule("br-pupil", "hm-block-br-pupil"), nftForwardRule("br-pupi", "hm-block-br-pupil")
	if r1.tag == r2.tag {
		t.Error("rules for different interfaces share a tag")
	}
	if len(r1.tag) > 120 {
		t.Errorf("tag %q too long for a comment", r1.tag)
	}
}

func TestNFTInstalled(t *testing.T) {
	c := nftCfg()
	k := wantFor(t, c, twoBlocks).state()
	in := c.nftInstalled(k)
	if in.Mode != ModeNFTables || !in.MACSets || !in.Jump || !in.Rules ||
		!slices.Equal(in.Interfaces["br-pupil"].MACs, []string{"02:00:00:00:00:01", "02:00:00:00:00:02"}) || in.Interfaces["eth1.30"].Blocked() != 0 {
		t.Errorf("installed: %+v", in)
	}
	delete(k.chains, NFTChainDrop)
	if in := c.nftInstalled(k); !in.Jump || in.Rules {
		t.Errorf("without the drop chain: %+v, want Jump but not Rules", in)
	}
	if in := c.nftInstalled(nftState{}); in.Jump || in.Rules || len(in.Interfaces) != 0 {
		t.Errorf("nothing installed: %+v", in)
	}
}

func TestNativeTables(t *testing.T) {
	ipt := []*nftables.Table{{Name: "filter", Family: nftables.TableFamilyIPv4}, {Name: "nat", Family: nftables.TableFamilyIPv6}}
	if nativeTables(ipt) || nativeTables(append(ipt, &nftables.Table{Name: NFTTable, Family: nftables.TableFamilyINet})) {
		t.Error("iptables-nft tables and ours are not a native nftables firewall")
	}
	if !nativeTables(append(ipt, &nftables.Table{Name: "filter", Family: nftables.TableFamilyINet})) ||
		!nativeTables([]*nftables.Table{{Name: "fw", Family: nftables.TableFamilyIPv4}}) {
		t.Error("inet and non-iptables tables are a native nftables firewall")
	}
}

func TestNormalizeMACFastPath(t *testing.T) {
	for in, want := range map[string]string{"02:00:00:00:00:0a": "02:00:00:00:00:0a", "02:00:00:00:00:0A": "02:00:00:00:00:0a", " 02-00-00-00-00-0a": "02:00:00:00:00:0a"} {
		if got, err := NormalizeMAC(in); err != nil || got != want {
			t.Errorf("NormalizeMAC(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"02:00:00:00:00:0g", "02:00:00:00:00", "02:00:00:00:00:0a:"} {
		if _, err := NormalizeMAC(bad); err == nil {
			t.Errorf("NormalizeMAC(%q) accepted", bad)
		}
	}
}
