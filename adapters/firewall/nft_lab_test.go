package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// TestLabEnforce runs both real backends against a real kernel in namespaces the test
// creates (newLabNet: router, pupil, staff and far side; deleted in t.Cleanup, also on
// failure). The nftables backend opens its netlink socket in the router namespace
// (Options.NetNS); the iptables backend runs its programs through the namespace
// wrappers (Options.BinDir), in its iptables-nft flavour so that `nft list ruleset`
// shows it too.
func TestLabEnforce(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "nft", "iptables", "ipset", "busybox")
	t.Run("nftables", labEnforceNFT)
	t.Run("iptables", labEnforceIPT)
	host, _ := exec.Command("nft", "list", "tables").CombinedOutput()
	if strings.Contains(string(host), "table inet "+NFTTable) {
		t.Errorf("the host has a table inet %s: tests must only touch their namespaces:\n%s", NFTTable, host)
	}
}

var nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// ruleset is `nft list ruleset` in ns, counters zeroed (traffic moves them).
func ruleset(t *testing.T, ns *lab.Netns) string {
	t.Helper()
	return nftCounters.ReplaceAllString(ns.Exec(t, "nft", "list", "ruleset"), "counter packets 0 bytes 0")
}

// dhcpServer runs busybox udhcpd on the router's pupil interface.
func dhcpServer(t *testing.T, n *labNet) {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf("start 10.30.0.100\nend 10.30.0.150\ninterface %s\nlease_file %s\npidfile %s\noption subnet 255.255.255.0\n",
		n.pupilIf, filepath.Join(dir, "leases"), filepath.Join(dir, "pid"))
	if err := os.WriteFile(filepath.Join(dir, "udhcpd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leases"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.rtr.Start(t, "busybox", "udhcpd", "-f", filepath.Join(dir, "udhcpd.conf"))
	n.rtr.Start(t, "busybox", "nc", "-ll", "-p", "53", "-e", "/bin/true") // "the gateway's resolver"
	time.Sleep(200 * time.Millisecond)
}

// leases reports whether the pupil gets a DHCP lease from the gateway (the address is
// not applied: the script is /bin/true).
func leases(n *labNet) bool {
	return reaches(n.pupil, "busybox", "udhcpc", "-i", "hmq"+n.id, "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", "/bin/true")
}

// enforceChecks: after blocking the pupil, forwarding is gone for the pupil only, and
// what a blocked device still needs works.
func enforceChecks(t *testing.T, n *labNet) {
	t.Helper()
	checks := []struct {
		what string
		ok   bool
		want bool
	}{
		{"blocked pupil pings the far side (IPv4)", ping(n.pupil, n.far4), false},
		{"blocked pupil pings the far side (IPv6)", ping(n.pupil, n.far6), false},
		{"blocked pupil opens tcp/80 on the far side", tcp(n.pupil, n.far4, "80"), false},
		{"blocked pupil reaches the listed resolver beyond the gateway on tcp/53", tcp(n.pupil, n.far4, "53"), true},
		{"blocked pupil pings the gateway itself", ping(n.pupil, n.gw), true},
		{"blocked pupil reaches the gateway's DNS on tcp/53", tcp(n.pupil, n.gw, "53"), true},
		{"blocked pupil gets a DHCP lease from the gateway", leases(n), true},
		{"staff pings the far side", ping(n.staff, n.far4), true},
		{"staff pings the far side (IPv6)", ping(n.staff, n.far6), true},
		{"staff opens tcp/80 on the far side", tcp(n.staff, n.far4, "80"), true},
	}
	for _, c := range checks {
		if c.ok != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.ok, c.want)
		}
	}
}

func labEnforceNFT(t *testing.T) {
	n := newLabNet(t)
	dhcpServer(t, n)
	ctx := context.Background()

	// The school's own nftables firewall: it must survive, untouched, and an
	// "established accept" in it must not let a blocked device's flows through.
	n.rtr.Exec(t, "nft", "add table inet school")
	n.rtr.Exec(t, "nft", "add chain inet school forward { type filter hook forward priority filter; policy accept; }")
	n.rtr.Exec(t, "nft", "add rule inet school forward ct state established,related accept")
	n.rtr.Exec(t, "nft", "add rule inet school forward ip saddr 10.9.0.0/16 counter accept")
	before := ruleset(t, n.rtr)

	if !ping(n.pupil, n.far4) || !ping(n.staff, n.far4) || !ping(n.pupil, n.far6) || !leases(n) {
		t.Fatal("lab network does not forward (or serve DHCP) before any block")
	}
	o := Options{NetNS: n.rtr.Path, Resolvers: []netip.Addr{netip.MustParseAddr(n.far4)}, Interfaces: []string{n.staffIf}}
	if in, err := NFTablesInUse(ctx, o); err != nil || !in {
		t.Errorf("NFTablesInUse with the school's inet table = %v, %v; want true", in, err)
	}
	b, err := NewNFTables(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Flush(context.Background()); _ = b.Close() }) // the namespace goes too
	block := Desired{Blocks: []Block{{MAC: n.pupilMAC, Interface: n.pupilIf, Reason: "phones-in-lessons (OSS-2.1)"}}}
	setOK := func(t *testing.T, d Desired, transactions int) {
		t.Helper()
		if err := b.Set(ctx, d); err != nil {
			t.Fatal(err)
		}
		if rep := b.LastReport(); rep.Transactions != transactions {
			t.Errorf("Set: %+v, want %d transaction(s)", rep, transactions)
		}
	}

	t.Run("blocks the pupil, not staff", func(t *testing.T) {
		setOK(t, block, 1)
		enforceChecks(t, n)
		table := n.rtr.Exec(t, "nft", "list", "table", "inet", NFTTable)
		for _, want := range []string{
			"set hm-block-" + n.pupilIf + " {", "type ether_addr", "elements = { " + n.pupilMAC + " }",
			"type filter hook forward priority filter - 1; policy accept;",
			fmt.Sprintf("iifname %q ether saddr @hm-block-%s jump hm-drop", n.pupilIf, n.pupilIf),
			fmt.Sprintf("iifname %q ether saddr @hm-block-%s jump hm-drop", n.staffIf, n.staffIf),
			"meta nfproto ipv4 udp dport 67-68 accept", "meta nfproto ipv6 udp dport 546-547 accept",
			"ip daddr 10.50.0.2 udp dport 53 accept", "ip daddr 10.50.0.2 tcp dport 53 accept",
		} {
			if !strings.Contains(table, want) {
				t.Errorf("nft list table lacks %q:\n%s", want, table)
			}
		}
		st, err := b.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode != ModeNFTables || !st.Jump || !st.Rules || !slices.Equal(st.Interfaces[n.pupilIf].MACs, []string{n.pupilMAC}) ||
			st.Interfaces[n.staffIf].Blocked() != 0 {
			t.Errorf("status %+v: want chain and rules in place, the pupil blocked, nobody on staff", st)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		first := ruleset(t, n.rtr)
		setOK(t, block, 0)
		if again := ruleset(t, n.rtr); again != first {
			t.Errorf("second Set changed nft list ruleset:\n%s\nthen:\n%s", first, again)
		}
	})

	t.Run("repairs a tampered state", func(t *testing.T) {
		clean := ruleset(t, n.rtr)
		set := "hm-block-" + n.pupilIf
		// An extra element only: one transaction deleting it, no rebuild.
		n.rtr.Exec(t, "nft", "add element inet hallmonitor "+set+" { 02:99:00:00:00:01 }")
		setOK(t, block, 1)
		if rep := b.LastReport(); rep.Removed != 1 || rep.Added != 0 {
			t.Errorf("extra element: %+v, want 1 removed", rep)
		}
		// Stale chain, emptied drop chain, wrong policy, extra element.
		n.rtr.Exec(t, "nft", "add chain inet hallmonitor stale")
		n.rtr.Exec(t, "nft", "flush chain inet hallmonitor hm-drop")
		n.rtr.Exec(t, "nft", "add element inet hallmonitor "+set+" { 02:99:00:00:00:02 }")
		setOK(t, block, 1)
		if got := ruleset(t, n.rtr); got != clean {
			t.Errorf("after repair:\n%s\nwant:\n%s", got, clean)
		}
		// The whole table gone.
		n.rtr.Exec(t, "nft", "delete table inet hallmonitor")
		setOK(t, block, 1)
		if got := ruleset(t, n.rtr); got != clean {
			t.Errorf("after re-creating the table:\n%s\nwant:\n%s", got, clean)
		}
		// The steady-state path (cache + generation-checked batch) must notice every
		// commit by someone else. The blocked pupil's element deleted, same desired
		// state: re-added after one read.
		n.rtr.Exec(t, "nft", "delete element inet hallmonitor "+set+" { "+n.pupilMAC+" }")
		setOK(t, block, 1)
		if rep := b.LastReport(); rep.Added != 1 || rep.Removed != 0 || rep.Reads != 1 {
			t.Errorf("deleted element, same desired state: %+v, want 1 added after 1 read", rep)
		}
		if got := ruleset(t, n.rtr); got != clean {
			t.Errorf("after re-adding a deleted element:\n%s\nwant:\n%s", got, clean)
		}
		// Deleted element and one more device: the batch (valid at the old generation)
		// is refused by the kernel, then both are added from a fresh read.
		more := Desired{Blocks: append(slices.Clone(block.Blocks), Block{MAC: "02:99:00:00:00:03", Interface: n.pupilIf})}
		n.rtr.Exec(t, "nft", "delete element inet hallmonitor "+set+" { "+n.pupilMAC+" }")
		setOK(t, more, 1)
		if rep := b.LastReport(); rep.Added != 2 || rep.Removed != 0 || rep.Reads != 1 {
			t.Errorf("deleted element and one more device: %+v, want 2 added after 1 read", rep)
		}
		// Table deleted, then a change: rebuilt whole.
		n.rtr.Exec(t, "nft", "delete table inet hallmonitor")
		setOK(t, block, 1)
		if rep := b.LastReport(); rep.Added != 1 || rep.Reads != 1 {
			t.Errorf("deleted table and one device less: %+v, want a rebuild adding 1 after 1 read", rep)
		}
		if got := ruleset(t, n.rtr); got != clean {
			t.Errorf("after re-creating the table (steady-state path):\n%s\nwant:\n%s", got, clean)
		}
		// No commit by anyone: no read.
		setOK(t, more, 1)
		setOK(t, block, 1)
		if rep := b.LastReport(); rep.Removed != 1 || rep.Reads != 0 {
			t.Errorf("untampered change: %+v, want 1 removed without a read", rep)
		}
		if ping(n.pupil, n.far4) {
			t.Error("pupil not blocked after repair")
		}
	})

	t.Run("unblock", func(t *testing.T) {
		setOK(t, Desired{}, 1)
		if !ping(n.pupil, n.far4) || !ping(n.pupil, n.far6) || !tcp(n.pupil, n.far4, "80") {
			t.Error("pupil still blocked after an empty Set")
		}
	})

	t.Run("2,000 devices", func(t *testing.T) {
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		full, add := measureNFT(t, b, n.pupilIf, 1000)
		st, err := b.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(st.Interfaces[n.pupilIf].MACs); got != 3000 {
			t.Errorf("set holds %d MACs, want 3000", got)
		}
		if rules := strings.Count(n.rtr.Exec(t, "nft", "list", "chain", "inet", NFTTable, NFTChainForward), "jump "+NFTChainDrop); rules != 2 {
			t.Errorf("%d forward rules for 2,000 devices on 2 interfaces, want 2", rules)
		}
		t.Logf("MEASURED nftables: full reconcile of 2,000 devices %v; decision → element in the kernel with 2,000+ blocked: p50 %v p99 %v max %v (n=%d)",
			full.Round(10*time.Microsecond), pct(add, 50), pct(add, 99), add[len(add)-1].Round(10*time.Microsecond), len(add))
	})

	t.Run("flush restores the school's firewall exactly", func(t *testing.T) {
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if after := ruleset(t, n.rtr); after != before {
			t.Errorf("after Flush:\n%s\nbefore the first Set:\n%s", after, before)
		}
		if err := b.Flush(ctx); err != nil || b.LastReport().Transactions != 0 {
			t.Errorf("second Flush: %v, %+v; want nothing written", err, b.LastReport())
		}
	})
}

func manyMACs(iface string, n int) Desired {
	d := Desired{}
	for i := range n {
		d.Blocks = append(d.Blocks, Block{MAC: fmt.Sprintf("02:30:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Interface: iface})
	}
	return d
}

// measureNFT: a full reconcile of 2,000 devices from no table, then runs Sets each
// adding one device on top (sorted durations); each must be one transaction adding 1.
func measureNFT(t testing.TB, b *NFTables, iface string, runs int) (full time.Duration, add []time.Duration) {
	ctx := context.Background()
	start := time.Now()
	if err := b.Set(ctx, manyMACs(iface, 2000)); err != nil {
		t.Fatal(err)
	}
	full = time.Since(start)
	if rep := b.LastReport(); rep.Transactions != 1 || rep.Added != 2000 {
		t.Fatalf("2,000 devices: %+v, want one transaction adding 2000", rep)
	}
	d := manyMACs(iface, 2000+runs)
	for i := 1; i <= runs; i++ {
		d := Desired{Blocks: d.Blocks[:2000+i]} // before the clock starts: the decision is made
		start := time.Now()
		if err := b.Set(ctx, d); err != nil {
			t.Fatal(err)
		}
		add = append(add, time.Since(start))
		if rep := b.LastReport(); rep.Transactions != 1 || rep.Added != 1 || rep.Removed != 0 || rep.Reads != 0 {
			t.Fatalf("one more device: %+v, want one transaction adding 1, no read", rep)
		}
	}
	slices.Sort(add)
	return full, add
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(10 * time.Microsecond)
}

func labEnforceIPT(t *testing.T) {
	n := newLabNet(t)
	dhcpServer(t, n)
	bin, _ := wrappers(t, n.rtr)
	ctx := context.Background()
	// An IPv4-only school firewall: there is no table ip6 filter until our install
	// creates it (with ChainMarker), and Flush must delete it again.
	n.rtr.Exec(t, "iptables-nft", "-A", "FORWARD", "-s", "10.9.0.0/16", "-j", "ACCEPT")
	snap := func() string { return ruleset(t, n.rtr) + "\n" + snapshot(t, n.rtr, ModeNFT) }
	before := snap()
	if !ping(n.pupil, n.far4) || !leases(n) {
		t.Fatal("lab network does not forward (or serve DHCP) before any block")
	}
	b, err := New(ctx, Options{Mode: ModeNFT, BinDir: bin, NetNS: n.rtr.Path, Resolvers: []netip.Addr{netip.MustParseAddr(n.far4)}, Interfaces: []string{n.staffIf}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Flush(context.Background()) })
	// No hash:mac on the lab kernel: the pupil is blocked by its addresses.
	block := Desired{Blocks: []Block{{MAC: n.pupilMAC, Interface: n.pupilIf, Reason: "phones-in-lessons (OSS-2.1)",
		IPv4: []netip.Addr{netip.MustParseAddr(n.pupil4)}, IPv6: []netip.Addr{netip.MustParseAddr(n.pupil6)}}}}
	t.Run("blocks the pupil, not staff", func(t *testing.T) {
		if err := b.Set(ctx, block); err != nil {
			t.Fatal(err)
		}
		t.Logf("hash:mac available: %v", b.MACSets())
		enforceChecks(t, n)
	})
	t.Run("idempotent", func(t *testing.T) {
		first := snap()
		if err := b.Set(ctx, block); err != nil {
			t.Fatal(err)
		}
		if rep := b.LastReport(); rep.IPSetRestores+rep.IPTablesRestores != 0 {
			t.Errorf("second identical Set wrote: %+v", rep)
		}
		if again := snap(); again != first {
			t.Errorf("second Set changed nft list ruleset / the firewall:\n%s\nthen:\n%s", first, again)
		}
	})
	t.Run("flush restores the school's firewall exactly", func(t *testing.T) {
		if !strings.Contains(n.rtr.Exec(t, "ip6tables-nft-save"), ":"+ChainMarker+" ") ||
			strings.Contains(n.rtr.Exec(t, "iptables-nft-save"), ChainMarker) {
			t.Errorf("want %s in ip6tables (we created the table) and not in iptables (the school's)", ChainMarker)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if after := snap(); after != before {
			t.Errorf("after Flush:\n%s\nbefore the first Set:\n%s", after, before)
		}
	})
	t.Run("fresh namespace", func(t *testing.T) { labIPTFresh(t) })
}

// labIPTFresh: iptables-nft on a namespace with no firewall at all. The install creates
// table ip filter and table ip6 filter; a Flush by another process (the unit's
// ExecStopPost) leaves `nft list ruleset` byte-identical (empty). A table someone
// put a rule in meanwhile stays, with that rule.
func labIPTFresh(t *testing.T) {
	id := lab.RandomID(t)
	rtr := lab.NewNetns(t, id, "fresh")
	bin, _ := wrappers(t, rtr)
	ctx := context.Background()
	o := Options{Mode: ModeNFT, BinDir: bin, NetNS: rtr.Path, Interfaces: []string{"hmx" + id}} // need not exist
	before := ruleset(t, rtr)
	blocks := Desired{Blocks: []Block{{MAC: "02:00:00:00:00:01", Interface: "hmx" + id,
		IPv4: []netip.Addr{netip.MustParseAddr("10.30.0.7")}, IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:30::7")}}}}
	for round, schoolRule := range []bool{false, true} {
		daemon, err := New(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := daemon.Set(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		if err := daemon.Set(ctx, blocks); err != nil || daemon.LastReport().IPTablesRestores != 0 {
			t.Errorf("round %d: second Set: %v %+v, want no iptables batch", round, err, daemon.LastReport())
		}
		installed := ruleset(t, rtr)
		if !strings.Contains(installed, "table ip filter") || !strings.Contains(installed, "table ip6 filter") {
			t.Fatalf("round %d: no filter tables after the install:\n%s", round, installed)
		}
		if schoolRule {
			rtr.Exec(t, "ip6tables-nft", "-A", "INPUT", "-s", "2001:db8:9::/48", "-j", "ACCEPT")
		}
		stop, err := New(ctx, o) // `hallmonitor firewall flush`: another process
		if err != nil {
			t.Fatal(err)
		}
		if err := stop.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		after := ruleset(t, rtr)
		if !schoolRule {
			if after != before {
				t.Errorf("fresh namespace: nft list ruleset after Flush:\n%q\nbefore the first Set:\n%q", after, before)
			}
			continue
		}
		if strings.Contains(after, "table ip filter") || !strings.Contains(after, "table ip6 filter") ||
			!strings.Contains(after, "ip6 saddr 2001:db8:9::/48") || strings.Contains(after, "HALLMONITOR") {
			t.Errorf("with a school rule added after the install, want table ip6 filter kept with it, table ip filter and our chains gone:\n%s", after)
		}
	}
}

// BenchmarkLabNFTables: in a fresh namespace, the full reconcile of 2,000 devices and,
// b.N times, one more device on top; reports p50/p99 of the latter and the former.
func BenchmarkLabNFTables(b *testing.B) {
	lab.RequireRoot(b)
	lab.RequireTools(b, "ip")
	ns := lab.NewNetns(b, lab.RandomID(b), "bench")
	fw, err := NewNFTables(context.Background(), Options{NetNS: ns.Path})
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	var fulls []time.Duration
	var adds []time.Duration
	for b.Loop() {
		b.StopTimer()
		if err := fw.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		full, add := measureNFT(b, fw, "br-pupil", 20)
		fulls = append(fulls, full)
		adds = append(adds, add...)
	}
	slices.Sort(fulls)
	slices.Sort(adds)
	b.ReportMetric(float64(pct(fulls, 50).Microseconds()), "full-2000-p50-µs")
	b.ReportMetric(float64(pct(adds, 50).Microseconds()), "add-one-p50-µs")
	b.ReportMetric(float64(pct(adds, 99).Microseconds()), "add-one-p99-µs")
}

// TestLabDropEmptyFilterTable: the iptables-nft filter table is deleted only when it
// holds nothing but empty built-in chains with policy ACCEPT.
func TestLabDropEmptyFilterTable(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "nft", "ip6tables-nft")
	ns := lab.NewNetns(t, lab.RandomID(t), "tbl")
	s := &execSystem{m: ModeNFT, netns: ns.Path}
	for _, tc := range []struct {
		what  string
		setup [][]string
		drop  bool
	}{
		{"no table", nil, false},
		{"an empty FORWARD chain", [][]string{{"-A", "FORWARD", "-j", "ACCEPT"}, {"-D", "FORWARD", "-j", "ACCEPT"}}, true},
		{"empty INPUT and FORWARD chains", [][]string{{"-A", "FORWARD", "-j", "ACCEPT"}, {"-F", "FORWARD"}, {"-A", "INPUT", "-j", "ACCEPT"}, {"-F", "INPUT"}}, true},
		{"a rule", [][]string{{"-A", "INPUT", "-s", "2001:db8::/32", "-j", "ACCEPT"}}, false},
		{"policy DROP", [][]string{{"-P", "FORWARD", "DROP"}}, false},
		{"a user chain", [][]string{{"-N", "SCHOOL"}}, false},
	} {
		for _, args := range tc.setup {
			ns.Exec(t, append([]string{"ip6tables-nft"}, args...)...)
		}
		before := ruleset(t, ns)
		dropped, err := s.dropEmptyFilterTable(context.Background(), v6)
		if err != nil || dropped != tc.drop {
			t.Errorf("%s: dropped %v, %v; want %v", tc.what, dropped, err, tc.drop)
		}
		if after := ruleset(t, ns); !tc.drop && after != before {
			t.Errorf("%s: kept, but the ruleset changed:\n%s\nwas:\n%s", tc.what, after, before)
		}
		ns.Exec(t, "nft", "flush", "ruleset")
	}
}
