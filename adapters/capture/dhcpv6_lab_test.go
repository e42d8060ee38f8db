//go:build linux

package capture

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// TestLabDHCPv6TiesAddressesToMAC runs a real DHCPv6 client (ISC dhclient -6)
// against dnsmasq in two namespaces the test creates, captures on the server's
// end with Live (the kernel filter included), and checks what the gateway needs
// to follow a device over IPv6: its SOLICIT/REQUEST ties the link-local address
// and the Client FQDN to the MAC, and, once the client uses its leased address,
// neighbour discovery ties the global address to the same MAC.
func TestLabDHCPv6TiesAddressesToMAC(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "dnsmasq", "dhclient", "busybox")
	id := lab.RandomID(t)
	srv, cli := lab.NewNetns(t, id, "srv6"), lab.NewNetns(t, id, "cli6")
	for _, ns := range []*lab.Netns{srv, cli} { // no duplicate address detection: addresses usable at once
		ns.Exec(t, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
		ns.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0")
	}
	srvIf, cliIf := "hm6"+id+"s", "hm6"+id+"c"
	const mac = "02:00:5e:60:00:06"
	lab.Veth(t, srv, srvIf, cli, cliIf)
	cli.Exec(t, "ip", "link", "set", cliIf, "down")
	cli.Exec(t, "ip", "link", "set", cliIf, "address", mac)
	cli.Exec(t, "ip", "link", "set", cliIf, "up")
	srv.Exec(t, "ip", "-6", "addr", "add", "2001:db8:66::1/64", "dev", srvIf, "nodad")

	live := &Live{Interfaces: []string{srvIf}, NetNS: srv.Path, Logger: zap.NewNop()}
	out := make(chan daemon.Observation, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx, out) }() // owned: ends on cancel in Cleanup
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Live.Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("capture did not stop within 5 s")
		}
	})
	dir := t.TempDir()
	srv.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+srvIf, "--bind-interfaces", "--dhcp-authoritative",
		"--dhcp-range=2001:db8:66::100,2001:db8:66::1ff,64,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	conf := filepath.Join(dir, "dhclient6.conf")
	if err := os.WriteFile(conf, []byte("send fqdn.fqdn \"lab-v6-laptop.\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // dnsmasq binds, capture opens
	// dhclient -6 needs the client's link-local address to be usable.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		a := cli.Exec(t, "ip", "-6", "addr", "show", "dev", cliIf, "scope", "link")
		if strings.Contains(a, "fe80:") && !strings.Contains(a, "tentative") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client has no usable link-local address after 10 s:\n%s", a)
		}
	}
	leases := filepath.Join(dir, "dhclient6.leases")
	client := cli.Start(t, "dhclient", "-6", "-d", "-1", "-v", "-cf", conf, "-sf", "/bin/true",
		"-pf", filepath.Join(dir, "dhclient6.pid"), "-lf", leases, cliIf)

	want := func(what string, ok func(o daemon.Observation) bool) daemon.Observation {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case o := <-out:
				if o.Kind == daemon.ObsIPv6 && o.MAC == mac && ok(o) {
					return o
				}
			case <-deadline:
				t.Fatalf("no observation of %s within 20 s; dhclient:\n%s", what, client.Output)
			}
		}
	}
	// Router/neighbour solicitations tie the link-local address too; the DHCPv6
	// message is the one carrying the Client FQDN.
	o := want("the DHCPv6 client's link-local address with its Client FQDN lab-v6-laptop", func(o daemon.Observation) bool {
		return o.IP.IsLinkLocalUnicast() && o.Hostname == "lab-v6-laptop"
	})
	if o.Interface != srvIf {
		t.Errorf("observation interface %q, want %q", o.Interface, srvIf)
	}

	// The lease dhclient took (-sf /bin/true applies nothing): use it, then talk.
	var leased netip.Addr
	re := regexp.MustCompile(`iaaddr (2001:db8:66::[0-9a-f]+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(leases); err == nil {
			if m := re.FindSubmatch(b); m != nil {
				leased = netip.MustParseAddr(string(m[1]))
				break
			}
		}
	}
	if !leased.IsValid() {
		t.Fatalf("dhclient -6 wrote no lease within 20 s:\n%s", client.Output)
	}
	cli.Exec(t, "ip", "-6", "addr", "add", leased.String()+"/64", "dev", cliIf, "nodad")
	cli.Exec(t, "busybox", "ping", "-6", "-c", "1", "-W", "2", "2001:db8:66::1")
	g := want("the leased global address by neighbour discovery", func(o daemon.Observation) bool { return o.IP == leased })
	t.Logf("DHCPv6: %s → link-local %s (%s), lease %s seen by ND at %s", mac, o.IP, o.Hostname, leased, g.At.Format(time.RFC3339Nano))
}
