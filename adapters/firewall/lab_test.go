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

// Lab tests run the real backend against a real kernel, always inside network
// namespaces the test creates: every program the backend runs is a wrapper script in
// a temporary directory (Options.BinDir) that does `ip netns exec ROUTER PROGRAM`.
// Nothing runs in the host's namespace; the test checks the host has none of our
// chains or sets afterwards. Deleting the namespaces (t.Cleanup, also on failure)
// deletes every rule and set with them.

var labPrograms = []string{
	"iptables", "ipset",
	"iptables-legacy", "iptables-legacy-save", "iptables-legacy-restore",
	"ip6tables-legacy", "ip6tables-legacy-save", "ip6tables-legacy-restore",
	"iptables-nft", "iptables-nft-save", "iptables-nft-restore",
	"ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore",
}

// wrappers writes one script per program running it in ns, logging each call.
func wrappers(t *testing.T, ns *lab.Netns) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls.log")
	for _, p := range labPrograms {
		abs, err := exec.LookPath(p)
		if err != nil {
			lab.Missing(t, "the program "+p)
		}
		script := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >> %s\nexec ip netns exec %s %s \"$@\"\n", p, calls, ns.Name, abs)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, calls
}

type labNet struct {
	id                       string
	rtr, pupil, staff, far   *lab.Netns
	pupilIf, staffIf         string // router side
	pupilMAC                 string
	pupil4, pupil6, far4, gw string
	far6                     string
}

// newLabNet: pupil (10.30.0.2, 2001:db8:30::2) and staff (10.40.0.2) clients, and a
// far side (10.50.0.2, 2001:db8:50::2: "the internet", also running a resolver on
// 53), all behind the router namespace, which forwards.
func newLabNet(t *testing.T) *labNet {
	t.Helper()
	id := lab.RandomID(t)
	n := &labNet{id: id,
		rtr: lab.NewNetns(t, id, "rtr"), pupil: lab.NewNetns(t, id, "pupil"),
		staff: lab.NewNetns(t, id, "staff"), far: lab.NewNetns(t, id, "far"),
		pupilIf: "hmp" + id, staffIf: "hms" + id,
		pupil4: "10.30.0.2", pupil6: "2001:db8:30::2", far4: "10.50.0.2", far6: "2001:db8:50::2", gw: "10.30.0.1",
	}
	lab.Veth(t, n.rtr, n.pupilIf, n.pupil, "hmq"+id)
	lab.Veth(t, n.rtr, n.staffIf, n.staff, "hmt"+id)
	lab.Veth(t, n.rtr, "hmf"+id, n.far, "hmg"+id)
	for _, c := range []struct {
		ns           *lab.Netns
		rIf, cIf, v4 string
		v6           string
	}{
		{n.pupil, n.pupilIf, "hmq" + id, "30", "30"},
		{n.staff, n.staffIf, "hmt" + id, "40", "40"},
		{n.far, "hmf" + id, "hmg" + id, "50", "50"},
	} {
		n.rtr.Exec(t, "ip", "addr", "add", "10."+c.v4+".0.1/24", "dev", c.rIf)
		n.rtr.Exec(t, "ip", "addr", "add", "2001:db8:"+c.v6+"::1/64", "dev", c.rIf, "nodad")
		c.ns.Exec(t, "ip", "addr", "add", "10."+c.v4+".0.2/24", "dev", c.cIf)
		c.ns.Exec(t, "ip", "addr", "add", "2001:db8:"+c.v6+"::2/64", "dev", c.cIf, "nodad")
		c.ns.Exec(t, "ip", "route", "add", "default", "via", "10."+c.v4+".0.1")
		c.ns.Exec(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:"+c.v6+"::1")
	}
	n.rtr.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	n.rtr.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	n.pupilMAC = strings.TrimSpace(n.pupil.Exec(t, "cat", "/sys/class/net/hmq"+id+"/address"))
	n.far.Start(t, "busybox", "nc", "-ll", "-p", "53", "-e", "/bin/true")
	n.far.Start(t, "busybox", "nc", "-ll", "-p", "80", "-e", "/bin/true")
	return n
}

// reaches reports whether a command in ns succeeds (ping, nc connect).
func reaches(ns *lab.Netns, args ...string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...).Run() == nil
}

func ping(ns *lab.Netns, addr string) bool {
	// Two tries: the first IPv6 echo can be lost to neighbour discovery.
	return reaches(ns, "busybox", "ping", "-c", "2", "-W", "1", addr)
}

func tcp(ns *lab.Netns, addr, port string) bool {
	return reaches(ns, "busybox", "nc", "-w", "2", addr, port)
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// snapshot is the router's whole firewall as an admin would diff it: iptables-save
// and ip6tables-save without comments and counters, and ipset list.
func snapshot(t *testing.T, ns *lab.Netns, m Mode) string {
	t.Helper()
	var out []string
	for _, f := range []family{v4, v6} {
		for _, l := range strings.Split(ns.Exec(t, binary(m, f, "save")), "\n") {
			if !strings.HasPrefix(l, "#") {
				out = append(out, counters.ReplaceAllString(l, "[0:0]"))
			}
		}
	}
	return strings.Join(out, "\n") + "\n" + ns.Exec(t, "ipset", "list")
}

func countCalls(t *testing.T, log, prefix string) int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestLabIptables(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "iptables", "iptables-restore", "ipset", "ip", "busybox")
	for _, mode := range []Mode{ModeNFT, ModeLegacy} {
		t.Run(string(mode), func(t *testing.T) { labIptables(t, mode) })
	}
	hostIPT, _ := exec.Command("iptables-save").CombinedOutput()
	hostSets, _ := exec.Command("ipset", "list", "-n").CombinedOutput()
	if strings.Contains(string(hostIPT), "HALLMONITOR") || strings.Contains(string(hostSets), SetPrefix) {
		t.Errorf("the host's own firewall has HallMonitor chains or sets:\n%s\n%s", hostIPT, hostSets)
	}
}

func labIptables(t *testing.T, mode Mode) {
	n := newLabNet(t)
	bin, calls := wrappers(t, n.rtr)
	ctx := context.Background()

	// The school's own firewall, written with this mode's binaries: it must survive,
	// and Detect must follow it.
	n.rtr.Exec(t, binary(mode, v4, ""), "-A", "FORWARD", "-s", "10.9.0.0/16", "-j", "ACCEPT")
	n.rtr.Exec(t, binary(mode, v6, ""), "-A", "FORWARD", "-s", "2001:db8:9::/48", "-j", "ACCEPT")
	n.rtr.Exec(t, "ipset", "create", "school-allow", "hash:ip")
	n.rtr.Exec(t, "ipset", "add", "school-allow", "10.9.0.1")
	before := snapshot(t, n.rtr, mode)

	if !ping(n.pupil, n.far4) || !ping(n.staff, n.far4) || !ping(n.pupil, n.far6) {
		t.Fatal("lab network does not forward before any block")
	}

	// NetNS: the steady-state path's netlink socket goes where the wrappers' programs act.
	b, err := New(ctx, Options{BinDir: bin, NetNS: n.rtr.Path, Resolvers: []netip.Addr{netip.MustParseAddr(n.far4)}, Interfaces: []string{n.staffIf}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Flush(context.Background()) }) // the namespace goes too; belt and braces
	if b.Mode() != mode {
		t.Fatalf("Detect chose %s, but the school's rules are in %s", b.Mode(), mode)
	}
	t.Logf("mode %s, hash:mac available: %v", b.Mode(), b.MACSets())

	block := Desired{Blocks: []Block{{MAC: n.pupilMAC, Interface: n.pupilIf, Reason: "phones-in-lessons (OSS-2.1)",
		IPv4: []netip.Addr{netip.MustParseAddr(n.pupil4)}, IPv6: []netip.Addr{netip.MustParseAddr(n.pupil6)}}}}

	t.Run("blocks the pupil, not staff", func(t *testing.T) {
		if err := b.Set(ctx, block); err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			what string
			ok   bool
			want bool
		}{
			{"blocked pupil pings the far side (IPv4)", ping(n.pupil, n.far4), false},
			{"blocked pupil pings the far side (IPv6)", ping(n.pupil, n.far6), false},
			{"blocked pupil opens tcp/80 on the far side", tcp(n.pupil, n.far4, "80"), false},
			{"blocked pupil reaches the resolver on tcp/53", tcp(n.pupil, n.far4, "53"), true},
			{"blocked pupil pings the gateway itself", ping(n.pupil, n.gw), true},
			{"staff pings the far side", ping(n.staff, n.far4), true},
			{"staff opens tcp/80 on the far side", tcp(n.staff, n.far4, "80"), true},
		}
		for _, c := range checks {
			if c.ok != c.want {
				t.Errorf("%s: got %v, want %v", c.what, c.ok, c.want)
			}
		}
		save := n.rtr.Exec(t, binary(mode, v4, "save"))
		for _, rule := range []string{
			"-A FORWARD -j HALLMONITOR-FWD",
			"-A HALLMONITOR-DROP -p udp -m udp --dport 67:68 -j RETURN",
			"-A HALLMONITOR-DROP -d 10.50.0.2/32 -p udp -m udp --dport 53 -j RETURN",
			"-A HALLMONITOR-DROP -d 10.50.0.2/32 -p tcp -m tcp --dport 53 -j RETURN",
			"-A HALLMONITOR-DROP -j DROP",
		} {
			if !strings.Contains(save, rule+"\n") {
				t.Errorf("iptables-save lacks %q:\n%s", rule, save)
			}
		}
		if i, j := strings.Index(save, "-A FORWARD -j HALLMONITOR-FWD"), strings.Index(save, "-A FORWARD -s 10.9.0.0/16"); i < 0 || j < i || strings.Count(save, "-j HALLMONITOR-FWD") != 1 {
			t.Errorf("want exactly one jump, before the school's rules:\n%s", save)
		}
		st, err := b.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Jump || !st.Rules || st.Interfaces[n.pupilIf].Blocked() == 0 || st.Interfaces[n.staffIf].Blocked() != 0 {
			t.Errorf("status %+v: want jump and rules in place, the pupil blocked, nobody on staff", st)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		first := snapshot(t, n.rtr, mode)
		if err := b.Set(ctx, block); err != nil {
			t.Fatal(err)
		}
		if rep := b.LastReport(); rep.IPSetRestores+rep.IPTablesRestores+rep.Netlink != 0 {
			t.Errorf("second identical Set wrote: %+v", rep)
		}
		if again := snapshot(t, n.rtr, mode); again != first {
			t.Errorf("second Set changed the firewall:\n%s\nthen:\n%s", first, again)
		}
	})

	t.Run("repairs a tampered state", func(t *testing.T) {
		n.rtr.Exec(t, binary(mode, v4, ""), "-D", "FORWARD", "-j", ChainForward)
		n.rtr.Exec(t, binary(mode, v4, ""), "-A", "FORWARD", "-j", ChainForward)
		n.rtr.Exec(t, binary(mode, v4, ""), "-A", "FORWARD", "-j", ChainForward)
		n.rtr.Exec(t, binary(mode, v4, ""), "-F", ChainDrop)
		n.rtr.Exec(t, "ipset", "add", setName(n.pupilIf, "v4"), "10.30.0.99")
		// Within Options.Resync of the last full read, Set trusts its memory and does
		// not see this; Invalidate (or the next full read, at most Resync later) does.
		b.Invalidate()
		if err := b.Set(ctx, block); err != nil {
			t.Fatal(err)
		}
		st, _ := b.Status(ctx)
		if !st.Jump || !st.Rules || slices.Contains(st.Interfaces[n.pupilIf].IPv4, "10.30.0.99") {
			t.Errorf("after repair: %+v", st)
		}
		if ping(n.pupil, n.far4) {
			t.Error("pupil not blocked after repair")
		}
	})

	t.Run("unblock", func(t *testing.T) {
		if err := b.Set(ctx, Desired{}); err != nil {
			t.Fatal(err)
		}
		if !ping(n.pupil, n.far4) || !ping(n.pupil, n.far6) {
			t.Error("pupil still blocked after an empty Set")
		}
	})

	t.Run("2,000 devices", func(t *testing.T) {
		many := func(extra int) Desired {
			d := Desired{}
			for i := range 2000 + extra {
				d.Blocks = append(d.Blocks, Block{MAC: fmt.Sprintf("02:30:00:00:%02x:%02x", i/256, i%256), Interface: n.pupilIf,
					IPv4: []netip.Addr{netip.AddrFrom4([4]byte{10, 31, byte(i / 256), byte(i % 256)})}})
			}
			return d
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		restores := countCalls(t, calls, "ipset -exist restore")
		start := time.Now()
		if err := b.Set(ctx, many(0)); err != nil {
			t.Fatal(err)
		}
		full := time.Since(start)
		if got := countCalls(t, calls, "ipset -exist restore") - restores; got != 1 {
			t.Errorf("2,000 devices took %d ipset restore runs, want 1", got)
		}
		if got := strings.Count(n.rtr.Exec(t, "ipset", "list", setName(n.pupilIf, "v4")), "\n10.31."); got != 2000 {
			t.Errorf("set holds %d addresses, want 2000", got)
		}
		rules := strings.Count(n.rtr.Exec(t, binary(mode, v4, "save")), "\n-A HALLMONITOR")
		if rules > 10 {
			t.Errorf("%d rules in our chains for 2,000 devices: rules must not grow with devices", rules)
		}
		// The install changed chains: one more Set reads the kernel (writing nothing),
		// then Sets within Options.Resync run no program at all.
		if err := b.Set(ctx, many(0)); err != nil {
			t.Fatal(err)
		}
		programs := countCalls(t, calls, "")
		const runs = 100
		var took []time.Duration
		for i := 1; i <= runs; i++ {
			start := time.Now()
			if err := b.Set(ctx, many(i)); err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(start))
			if rep := b.LastReport(); rep.IPSetRestores != 0 || rep.IPTablesRestores != 0 || rep.Netlink != 1 || rep.Added != 1 {
				t.Fatalf("one more device: %+v, want one netlink message adding 1, no program", rep)
			}
		}
		if got := countCalls(t, calls, "") - programs; got != 0 {
			t.Errorf("the steady state ran %d programs, want none", got)
		}
		if got := strings.Count(n.rtr.Exec(t, "ipset", "list", setName(n.pupilIf, "v4")), "\n10.31."); got != 2000+runs {
			t.Errorf("set holds %d addresses, want %d", got, 2000+runs)
		}
		slices.Sort(took)
		t.Logf("MEASURED %s: full reconcile of 2,000 devices %v; one more device on top of 2,000+: p50 %v p99 %v (n=%d)",
			mode, full.Round(time.Millisecond), took[runs/2].Round(100*time.Microsecond), took[runs*99/100-1].Round(100*time.Microsecond), runs)
	})

	t.Run("flush restores the school's firewall exactly", func(t *testing.T) {
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(t, n.rtr, mode); after != before {
			t.Errorf("after Flush:\n%s\nbefore the first Set:\n%s", after, before)
		}
	})
}
