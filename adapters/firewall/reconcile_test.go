package firewall

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	testIfaces = []string{"br-pupil", "eth1.30", "wlan-y7"}
	adminRules = []string{"-A FORWARD -s 10.9.0.0/16 -j ACCEPT", "-A FORWARD -i eth0 -o br-pupil -j ACCEPT"}
)

// fakeWithAdmin is a fake kernel holding the school's own firewall: FORWARD rules and
// a set that are not ours and must survive everything.
func fakeWithAdmin(macOK bool) *fakeSystem {
	fs := newFakeSystem(macOK)
	for f := range fs.fam {
		fs.fam[f].forward = slices.Clone(adminRules)
		fs.fam[f].chains["SCHOOL-IN"] = []string{"-A SCHOOL-IN -m set --match-set school-allow src -j ACCEPT"}
	}
	fs.sets["school-allow"] = &ipsetState{typ: typeIP, family: "inet", members: map[string]bool{"10.9.0.1": true}}
	return fs
}

func backend(t *testing.T, fs *fakeSystem, o Options) *IPTables {
	t.Helper()
	b, err := newBackend(context.Background(), fs, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomDesired(r *rand.Rand) Desired {
	var d Desired
	for range r.IntN(12) {
		n := r.IntN(40)
		b := Block{MAC: fmt.Sprintf("02:00:00:00:00:%02x", n), Interface: testIfaces[r.IntN(len(testIfaces))], Reason: "test"}
		if r.IntN(4) > 0 {
			b.IPv4 = append(b.IPv4, netip.AddrFrom4([4]byte{10, 30, 0, byte(n)}))
		}
		if r.IntN(3) == 0 {
			b.IPv6 = append(b.IPv6, netip.MustParseAddr(fmt.Sprintf("2001:db8:30::%x", n)))
		}
		d.Blocks = append(d.Blocks, b)
	}
	return d
}

// messUp puts the fake kernel in a random state a crash, an old version or a
// curious admin could leave: stray and wrong-typed sets, extra members, missing or
// garbage chains, missing, duplicated or misplaced jumps.
func messUp(r *rand.Rand, fs *fakeSystem) {
	for range r.IntN(4) {
		iface := testIfaces[r.IntN(len(testIfaces))]
		if r.IntN(3) == 0 {
			iface = "old-vlan"
		}
		kind := []string{"v4", "v6", "mac"}[r.IntN(3)]
		s := &ipsetState{typ: typeIP, family: "inet", members: map[string]bool{}}
		switch {
		case kind == "v6":
			s.family = "inet6"
			s.members["2001:db8:99::1"] = true
		case kind == "mac" && fs.macOK:
			s = &ipsetState{typ: typeMAC, members: map[string]bool{"02:00:00:00:00:ff": true}}
		case kind == "mac": // a wrong-typed leftover
		default:
			s.members[fmt.Sprintf("10.30.0.%d", r.IntN(40))] = true
		}
		if r.IntN(5) == 0 { // wrong type for its name
			s = &ipsetState{typ: typeIP, family: "inet6", members: map[string]bool{}}
		}
		fs.sets[setName(iface, kind)] = s
	}
	sets := slices.Sorted(func(yield func(string) bool) {
		for n := range fs.sets {
			if strings.HasPrefix(n, SetPrefix) && !yield(n) {
				return
			}
		}
	})
	for f := range fs.fam {
		t := &fs.fam[f]
		if r.IntN(2) == 0 {
			t.chains[ChainDrop] = []string{"-A " + ChainDrop + " -j ACCEPT"}[:r.IntN(2)]
		}
		if r.IntN(2) == 0 {
			var rules []string
			if len(sets) > 0 && t.chains[ChainDrop] != nil {
				s := sets[r.IntN(len(sets))]
				rules = append(rules, fmt.Sprintf("-A %s -i old-vlan -m set --match-set %s src -j %s", ChainForward, s, ChainDrop))
			}
			t.chains[ChainForward] = rules
			for range r.IntN(4) {
				jump := jumpRule
				if r.IntN(2) == 0 {
					jump = "-A FORWARD -i br-pupil -j " + ChainForward
				}
				pos := r.IntN(len(t.forward) + 1)
				t.forward = slices.Insert(t.forward, pos, jump)
			}
		}
	}
}

// kernelSnapshot is the fake kernel's complete state, for exact comparison.
func kernelSnapshot(fs *fakeSystem) string {
	out, _ := fs.ipsetSave(context.Background())
	for f := range fs.fam {
		out += fmt.Sprintf("family %d absent %v FORWARD %q\n", f, fs.fam[f].absent, fs.fam[f].forward)
		for _, ch := range slices.Sorted(func(yield func(string) bool) {
			for c := range fs.fam[f].chains {
				if !yield(c) {
					return
				}
			}
		}) {
			out += fmt.Sprintf("family %d %s %q\n", f, ch, fs.fam[f].chains[ch])
		}
	}
	return out
}

func expectInstalled(t *testing.T, d Desired, macSets bool, protected []string) map[string]Members {
	t.Helper()
	groups, err := normalize(d)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Members{}
	for _, i := range protected {
		out[i] = Members{}
	}
	for iface, m := range groups {
		if macSets {
			out[iface] = Members{MACs: sortedKeys(m.macs)}
		} else {
			out[iface] = Members{IPv4: sortedKeys(m.v4), IPv6: sortedKeys(m.v6)}
		}
	}
	return out
}

// TestReplayConvergesFromAnyState replays random sequences of desired states from
// random starting states, with writes failing at random (a daemon killed half-way),
// and checks that one successful Set always leaves exactly the last desired state:
// the same kernel as a clean install, the school's own rules untouched, and a second
// Set doing nothing.
func TestReplayConvergesFromAnyState(t *testing.T) {
	for _, c := range []struct{ macOK, netlink bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		macOK := c.macOK
		t.Run(fmt.Sprintf("hash:mac=%v,netlink=%v", macOK, c.netlink), func(t *testing.T) {
			for seed := range uint64(300) {
				r := rand.New(rand.NewPCG(seed, 42))
				o := Options{Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("2001:db8::53")}}
				if r.IntN(2) == 0 {
					o.Interfaces = []string{"br-pupil"}
				}
				fs := fakeWithAdmin(macOK)
				fs.netlink = c.netlink // the steady-state path, failing at random too
				messUp(r, fs)
				b := backend(t, fs, o)
				ctx := context.Background()
				var last Desired
				for range 1 + r.IntN(6) {
					last = randomDesired(r)
					fs.failAt = func(int) bool { return r.IntN(6) == 0 }
					_ = b.Set(ctx, last) // may fail: the next Set must repair
				}
				fs.failAt = nil
				if err := b.Set(ctx, last); err != nil {
					t.Fatalf("seed %d: final Set: %v", seed, err)
				}

				clean := fakeWithAdmin(macOK)
				if err := backend(t, clean, o).Set(ctx, last); err != nil {
					t.Fatalf("seed %d: clean Set: %v", seed, err)
				}
				if got, want := kernelSnapshot(fs), kernelSnapshot(clean); got != want {
					t.Fatalf("seed %d: kernel differs from a clean install\n got:\n%s\nwant:\n%s", seed, got, want)
				}
				st, err := b.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				want := expectInstalled(t, last, macOK, o.Interfaces)
				if !st.Jump || !st.Rules || !reflect.DeepEqual(st.Interfaces, want) {
					t.Fatalf("seed %d: status %+v, want interfaces %+v with jump and rules in place", seed, st, want)
				}
				if err := b.Set(ctx, last); err != nil {
					t.Fatal(err)
				}
				if rep := b.LastReport(); rep.IPSetRestores+rep.IPTablesRestores+rep.Netlink != 0 {
					t.Fatalf("seed %d: second identical Set wrote to the kernel: %+v", seed, rep)
				}
				if err := b.Flush(ctx); err != nil {
					t.Fatalf("seed %d: flush: %v", seed, err)
				}
				if got, want := kernelSnapshot(fs), kernelSnapshot(fakeWithAdmin(macOK)); got != want {
					t.Fatalf("seed %d: flush left\n%s\nwant the school's firewall only:\n%s", seed, got, want)
				}
			}
		})
	}
}

// TestSetBatches: what an admin pays per change. Adding one device to a large
// installed state is one ipset restore with one line and no iptables call.
func TestSetBatches(t *testing.T) {
	big := func(n int) Desired {
		var d Desired
		for i := range n {
			d.Blocks = append(d.Blocks, Block{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256),
				IPv4: []netip.Addr{netip.AddrFrom4([4]byte{10, 30, byte(i / 256), byte(i % 256)})}, Interface: "br-pupil"})
		}
		return d
	}
	tests := []struct {
		name            string
		before, after   Desired
		ipset, iptables int
		added, removed  int
	}{
		{"first block installs sets and chains", Desired{}, big(1), 1, 2, 1, 0},
		{"2,000 at once: one ipset batch", Desired{}, big(2000), 1, 2, 2000, 0},
		{"one more device: one ipset batch, no iptables", big(2000), big(2001), 1, 0, 1, 0},
		{"one device less", big(2001), big(2000), 1, 0, 0, 1},
		{"unchanged: nothing", big(2000), big(2000), 0, 0, 0, 0},
		{"last block on an interface goes: sets flushed, chains rewritten, sets destroyed", big(1), Desired{}, 2, 2, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakeWithAdmin(false)
			b := backend(t, fs, Options{})
			ctx := context.Background()
			if err := b.Set(ctx, tt.before); err != nil {
				t.Fatal(err)
			}
			if err := b.Set(ctx, tt.after); err != nil {
				t.Fatal(err)
			}
			rep := b.LastReport()
			if rep.IPSetRestores != tt.ipset || rep.IPTablesRestores != tt.iptables || rep.Added != tt.added || rep.Removed != tt.removed {
				t.Errorf("report %+v; want %d ipset and %d iptables batches, +%d -%d", rep, tt.ipset, tt.iptables, tt.added, tt.removed)
			}
		})
	}
}

// TestChainsAsInstalled pins the rules an admin will see in iptables -S.
func TestChainsAsInstalled(t *testing.T) {
	fs := fakeWithAdmin(false)
	b := backend(t, fs, Options{Resolvers: []netip.Addr{netip.MustParseAddr("10.0.0.53")}})
	d := Desired{Blocks: []Block{{MAC: "02:00:00:00:00:01", IPv4: []netip.Addr{netip.MustParseAddr("10.30.0.5")}, Interface: "eth1.30"}}}
	if err := b.Set(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	want4 := []string{
		"-A HALLMONITOR-FWD -i eth1.30 -m set --match-set hm-block-eth1.30-v4 src -j HALLMONITOR-DROP",
		"-A HALLMONITOR-DROP -p udp -m udp --dport 67:68 -j RETURN",
		"-A HALLMONITOR-DROP -d 10.0.0.53/32 -p udp -m udp --dport 53 -j RETURN",
		"-A HALLMONITOR-DROP -d 10.0.0.53/32 -p tcp -m tcp --dport 53 -j RETURN",
		"-A HALLMONITOR-DROP -j DROP",
	}
	got := append(slices.Clone(fs.fam[v4].chains[ChainForward]), fs.fam[v4].chains[ChainDrop]...)
	if !slices.Equal(got, want4) {
		t.Errorf("IPv4 chains:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want4, "\n"))
	}
	if wantFwd := append([]string{jumpRule}, adminRules...); !slices.Equal(fs.fam[v4].forward, wantFwd) {
		t.Errorf("FORWARD = %q, want our jump first then the school's rules %q", fs.fam[v4].forward, wantFwd)
	}
	if got := fs.fam[v6].chains[ChainForward]; len(got) != 1 || !strings.Contains(got[0], "hm-block-eth1.30-v6") {
		t.Errorf("IPv6 HALLMONITOR-FWD = %q, want a match on the v6 set", got)
	}
}

// TestSetRejectsInvalid: a malformed decision changes nothing and names every problem.
func TestSetRejectsInvalid(t *testing.T) {
	tests := []struct {
		name  string
		block Block
		want  string
	}{
		{"bad MAC", Block{MAC: "zz", Interface: "br-pupil"}, `bad MAC "zz"`},
		{"no interface", Block{MAC: "02:00:00:00:00:01"}, `bad interface ""`},
		{"interface too long", Block{MAC: "02:00:00:00:00:01", Interface: "a-very-long-ifname"}, "bad interface"},
		{"v6 in the v4 list", Block{MAC: "02:00:00:00:00:01", Interface: "br-pupil", IPv4: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, "not an IPv4"},
		{"v4 in the v6 list", Block{MAC: "02:00:00:00:00:01", Interface: "br-pupil", IPv6: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}, "not an IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakeWithAdmin(false)
			before := kernelSnapshot(fs)
			err := backend(t, fs, Options{}).Set(context.Background(), Desired{Blocks: []Block{tt.block}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Set error %v, want one containing %q", err, tt.want)
			}
			if kernelSnapshot(fs) != before {
				t.Error("a rejected Set changed the kernel")
			}
		})
	}
}

func TestParseIPSetSave(t *testing.T) {
	// As printed by ipset v7.17 (the MAC line is the format of hash:mac sets).
	out := `create hm-block-br-pupil-v4 hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x40b193c3
add hm-block-br-pupil-v4 10.30.0.5
create hm-block-br-pupil-v6 hash:ip family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0xe2bee8f0
add hm-block-br-pupil-v6 2001:db8:30::5
create hm-block-br-pupil-mac hash:mac hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add hm-block-br-pupil-mac 02:AB:00:00:00:01
create school-allow hash:ip family inet hashsize 1024 maxelem 65536
add school-allow 10.9.0.1
`
	sets, err := parseIPSetSave(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*ipsetState{
		"hm-block-br-pupil-v4":  {typ: typeIP, family: "inet", members: map[string]bool{"10.30.0.5": true}},
		"hm-block-br-pupil-v6":  {typ: typeIP, family: "inet6", members: map[string]bool{"2001:db8:30::5": true}},
		"hm-block-br-pupil-mac": {typ: typeMAC, members: map[string]bool{"02:ab:00:00:00:01": true}},
	}
	if !reflect.DeepEqual(sets, want) {
		t.Errorf("parsed %+v, want our three sets only, MACs lower-case", sets)
	}
}

// TestSteadyStatePath: after a Set that changed no chain, Sets within Options.Resync
// read nothing and send membership changes over netlink (no program); tampering is
// repaired at the next full read (Invalidate, Resync elapsed); a netlink failure or a
// missing set falls back to the full path in the same Set.
func TestSteadyStatePath(t *testing.T) {
	big := func(n int) Desired {
		var d Desired
		for i := range n {
			d.Blocks = append(d.Blocks, Block{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256),
				IPv4: []netip.Addr{netip.AddrFrom4([4]byte{10, 30, byte(i / 256), byte(i % 256)})}, Interface: "br-pupil"})
		}
		return d
	}
	ctx := context.Background()
	clean := func(d Desired) string {
		fs := fakeWithAdmin(false)
		if err := backend(t, fs, Options{}).Set(ctx, d); err != nil {
			t.Fatal(err)
		}
		return kernelSnapshot(fs)
	}
	type want struct{ reads, restores, iptables, netlink, added, removed int }
	step := func(t *testing.T, b *IPTables, fs *fakeSystem, d Desired, w want) {
		t.Helper()
		reads := fs.reads
		if err := b.Set(ctx, d); err != nil {
			t.Fatal(err)
		}
		rep := b.LastReport()
		got := want{fs.reads - reads, rep.IPSetRestores, rep.IPTablesRestores, rep.Netlink, rep.Added, rep.Removed}
		if got != w {
			t.Errorf("got %+v, want %+v", got, w)
		}
	}

	t.Run("steady state, tamper, fallbacks", func(t *testing.T) {
		fs := fakeWithAdmin(false)
		fs.netlink = true
		b := backend(t, fs, Options{})
		step(t, b, fs, big(2000), want{1, 1, 2, 0, 2000, 0}) // install: chains written, nothing remembered
		step(t, b, fs, big(2000), want{1, 0, 0, 0, 0, 0})    // full read, nothing to write: remembered
		step(t, b, fs, big(2001), want{0, 0, 0, 1, 1, 0})
		step(t, b, fs, big(2000), want{0, 0, 0, 1, 0, 1})
		step(t, b, fs, big(2000), want{0, 0, 0, 0, 0, 0})
		if got := kernelSnapshot(fs); got != clean(big(2000)) {
			t.Fatalf("kernel after the steady-state path differs from a clean install:\n%s", got)
		}

		// A member deleted by hand: unseen until the next full read.
		delete(fs.sets["hm-block-br-pupil-v4"].members, "10.30.0.7")
		step(t, b, fs, big(2000), want{0, 0, 0, 0, 0, 0})
		b.Invalidate()
		step(t, b, fs, big(2000), want{1, 1, 0, 0, 1, 0})

		// A netlink failure: the same Set reads and writes with ipset restore.
		n := fs.writes + 1
		fs.failAt = func(w int) bool { return w == n }
		step(t, b, fs, big(2001), want{1, 1, 0, 1, 1, 0})
		fs.failAt = nil
		// That full read is remembered. A set gone (the kernel refuses the message):
		// the full path recreates it.
		step(t, b, fs, big(2001), want{0, 0, 0, 0, 0, 0})
		delete(fs.sets, "hm-block-br-pupil-v4")
		step(t, b, fs, big(2002), want{1, 1, 0, 1, 2002, 0})
		if got := kernelSnapshot(fs); got != clean(big(2002)) {
			t.Fatalf("kernel after the fallbacks differs from a clean install:\n%s", got)
		}

		// More than membership (an interface's set goes): the full path.
		step(t, b, fs, Desired{}, want{1, 2, 2, 0, 0, 2002})
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := kernelSnapshot(fs), kernelSnapshot(fakeWithAdmin(false)); got != want {
			t.Fatalf("flush left\n%s", got)
		}
		// Flush forgets: the next Set reads.
		step(t, b, fs, big(1), want{1, 1, 2, 0, 1, 0})
	})

	for _, resync := range []time.Duration{-1, time.Nanosecond} {
		t.Run(fmt.Sprintf("Resync %v: every Set reads", resync), func(t *testing.T) {
			fs := fakeWithAdmin(false)
			fs.netlink = true
			b := backend(t, fs, Options{Resync: resync})
			step(t, b, fs, big(10), want{1, 1, 2, 0, 10, 0})
			step(t, b, fs, big(10), want{1, 0, 0, 0, 0, 0})
			step(t, b, fs, big(11), want{1, 1, 0, 0, 1, 0})
			delete(fs.sets["hm-block-br-pupil-v4"].members, "10.30.0.7")
			step(t, b, fs, big(11), want{1, 1, 0, 0, 1, 0})
		})
	}

	t.Run("BinDir without NetNS never uses netlink", func(t *testing.T) {
		for _, c := range []struct {
			bin, netns string
			ok         bool
		}{{"", "", true}, {"/tmp/wrappers", "/run/netns/rtr", true}, {"/tmp/wrappers", "", false}, {"", "/run/netns/rtr", true}} {
			s := &execSystem{r: runner{binDir: c.bin}, netns: c.netns}
			if s.netlinkOK() != c.ok {
				t.Errorf("BinDir %q NetNS %q: netlink %v, want %v", c.bin, c.netns, s.netlinkOK(), c.ok)
			}
		}
	})
}

// TestIPSetMsgEncoding pins the netlink request for one member (ip_set.h).
func TestIPSetMsgEncoding(t *testing.T) {
	for _, c := range []struct {
		op   memberOp
		want string
	}{
		{memberOp{set: "hm-block-br0-v4", typ: typeIP, family: "inet", member: "10.30.0.2"},
			"09060005" + "02000000" + "05000100" + "07000000" + "14000200" + "686d2d626c6f636b2d6272302d763400" +
				"10000780" + "0c000180" + "08000140" + "0a1e0002"},
		{memberOp{set: "s", typ: typeIP, family: "inet6", member: "2001:db8::1", del: true},
			"0a060005" + "0a000000" + "05000100" + "07000000" + "06000200" + "73000000" +
				"1c000780" + "18000180" + "14000240" + "20010db8000000000000000000000001"},
		{memberOp{set: "s", typ: typeMAC, member: "02:00:00:00:00:01"},
			"09060005" + "00000000" + "05000100" + "07000000" + "06000200" + "73000000" +
				"10000780" + "0a001100" + "020000000001" + "0000"},
	} {
		m, err := ipsetMsg(c.op)
		if err != nil {
			t.Fatal(err)
		}
		typ := uint16(m.Header.Type)
		got := fmt.Sprintf("%02x%02x%04x", typ&0xff, typ>>8, uint16(m.Header.Flags)) + hex.EncodeToString(m.Data)
		if got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.op, got, c.want)
		}
	}
	if _, err := ipsetMsg(memberOp{set: "s", typ: typeIP, family: "inet", member: "2001:db8::1"}); err == nil {
		t.Error("an IPv6 address for an inet set was encoded")
	}
}
