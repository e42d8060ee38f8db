//go:build linux

package corpus

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// labClient is one real DHCP client the lab runs, with the label it gets in
// the corpus.
type labClient struct {
	name, kind, os, source string
	mac                    string // set on the client interface before it runs
	args                   func(dir, ifname string) []string
	needs                  string // program
}

// TestLabClients runs real DHCP clients (BusyBox udhcpc, ISC dhclient,
// dhcpcd) against dnsmasq in two network namespaces the test creates, captures
// their DISCOVER/REQUEST with capture.Live, and checks that what they send
// today is what testdata/lab.yaml recorded (option 55 and option order
// exactly, option 60 up to its version) and that the live fingerprint
// classifies as the recorded one does. With -update it rewrites lab.yaml.
//
// Labels: BusyBox udhcpc is embedded Linux (iot); ISC dhclient with Debian's
// stock dhclient.conf is a Debian/Ubuntu laptop; dhcpcd with Debian's stock
// dhcpcd.conf stands for Raspberry Pi OS (iot), its main user in schools.
func TestLabClients(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "dnsmasq", "udhcpc", "dhclient", "dhcpcd")
	for _, f := range []string{"/etc/dhcp/dhclient.conf", "/etc/dhcpcd.conf"} {
		if _, err := os.Stat(f); err != nil {
			lab.Missing(t, "the stock client configuration "+f)
		}
	}
	dir := t.TempDir()
	// Stock configurations with a fixed host name (not the lab machine's) and,
	// for dhcpcd, "clientid" instead of "duid" so the run writes no DUID file
	// on the host.
	writeConf(t, "/etc/dhcp/dhclient.conf", filepath.Join(dir, "dhclient.conf"), "send host-name = gethostname();", `send host-name "lab-debian-laptop";`)
	writeConf(t, "/etc/dhcpcd.conf", filepath.Join(dir, "dhcpcd.conf"), "\nduid\n", "\nclientid\n")

	clients := []labClient{
		{name: "lab: BusyBox udhcpc", kind: "iot", os: "linux", mac: "02:00:5e:10:00:01", needs: "udhcpc",
			source: "recorded by TestLabClients: busybox udhcpc defaults (-x hostname:lab-busybox)",
			args: func(dir, ifname string) []string {
				return []string{"udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", ifname, "-s", "/bin/true", "-x", "hostname:lab-busybox"}
			}},
		{name: "lab: ISC dhclient (Debian stock config)", kind: "laptop", os: "linux", mac: "02:00:5e:10:00:02", needs: "dhclient",
			source: "recorded by TestLabClients: isc-dhcp-client with Debian's stock /etc/dhcp/dhclient.conf",
			args: func(dir, ifname string) []string {
				return []string{"dhclient", "-4", "-d", "-1", "-v", "-cf", filepath.Join(dir, "dhclient.conf"), "-sf", "/bin/true",
					"-pf", filepath.Join(dir, "dhclient.pid"), "-lf", filepath.Join(dir, "dhclient.leases"), ifname}
			}},
		{name: "lab: dhcpcd (Debian stock config)", kind: "iot", os: "linux", mac: "02:00:5e:10:00:03", needs: "dhcpcd",
			source: "recorded by TestLabClients: dhcpcd with Debian's stock /etc/dhcpcd.conf (test mode, host name lab-pi)",
			args: func(dir, ifname string) []string {
				return []string{"dhcpcd", "-T", "-4", "-t", "10", "-h", "lab-pi", "-f", filepath.Join(dir, "dhcpcd.conf"), ifname}
			}},
	}

	id := lab.RandomID(t)
	srv, cli := lab.NewNetns(t, id, "srv"), lab.NewNetns(t, id, "cli")
	srvIf, cliIf := "hmc"+id+"s", "hmc"+id+"c"
	subnet := fmt.Sprintf("10.98.%d", 1+int(id[0])%250)
	// dhcpcd 9+ forks privilege-separation helpers that Start does not know
	// of: kill every process left in the client namespace, by PID, before the
	// namespace is deleted (cleanups run last-registered first), also on failure.
	killAll := func() {
		for _, pid := range strings.Fields(lab.Run(t, "ip", "netns", "pids", cli.Name)) {
			_ = exec.Command("kill", "-KILL", pid).Run()
		}
	}
	t.Cleanup(killAll)
	lab.Veth(t, srv, srvIf, cli, cliIf)
	srv.Exec(t, "ip", "addr", "add", subnet+".1/24", "dev", srvIf)

	live := &capture.Live{Interfaces: []string{srvIf}, NetNS: srv.Path, Logger: zap.NewNop()}
	out := make(chan daemon.Observation, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- live.Run(ctx, out) }() // owned: ends on cancel in Cleanup
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("capture did not stop within 5 s")
		}
	})
	srv.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+srvIf, "--bind-interfaces", "--dhcp-authoritative",
		"--dhcp-range="+subnet+".50,"+subnet+".150,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	time.Sleep(500 * time.Millisecond) // dnsmasq binds, capture opens

	recorded := map[string]Device{}
	if old, err := LoadFixtures("testdata"); err == nil {
		for _, d := range old {
			if d.Origin == "lab" {
				recorded[d.Name] = d
			}
		}
	}
	var got []Device
	for _, c := range clients {
		cli.Exec(t, "ip", "link", "set", cliIf, "down")
		cli.Exec(t, "ip", "link", "set", cliIf, "address", c.mac)
		cli.Exec(t, "ip", "link", "set", cliIf, "up")
		cli.Exec(t, "ip", "addr", "flush", "dev", cliIf)
		p := cli.Start(t, c.args(dir, cliIf)...)
		o := firstClientMessage(t, out, c.mac, p)
		d := Device{Name: c.name, Source: c.source, Origin: "lab", Kind: c.kind, OS: c.os,
			Signals: fingerprint.Signals{MAC: c.mac, TTL: o.TTL, DHCP: o.DHCP, Hostname: o.DHCP.Hostname}}
		got = append(got, d)
		killAll() // the client and any helpers it forked, by PID
		if !p.Wait(5 * time.Second) {
			t.Fatalf("%s did not exit within 5 s of SIGKILL", c.name)
		}
		t.Logf("%s: options %v, param list %v, vendor class %q, host %q, TTL %d", c.name, o.DHCP.Options, o.DHCP.ParamList, o.DHCP.VendorClass, o.DHCP.Hostname, o.TTL)

		if *update {
			continue
		}
		rec, ok := recorded[c.name]
		if !ok {
			t.Errorf("%s: not in testdata/lab.yaml (run with -update)", c.name)
			continue
		}
		rd := rec.Signals.DHCP
		if !slices.Equal(rd.ParamList, o.DHCP.ParamList) || !slices.Equal(rd.Options, o.DHCP.Options) || vendorFamily(rd.VendorClass) != vendorFamily(o.DHCP.VendorClass) {
			t.Errorf("%s: live fingerprint options %v / 55 %v / 60 %q differs from the recorded %v / %v / %q",
				c.name, o.DHCP.Options, o.DHCP.ParamList, o.DHCP.VendorClass, rd.Options, rd.ParamList, rd.VendorClass)
		}
		if lp, rp := fingerprint.Classify(d.Signals), fingerprint.Classify(rec.Signals); lp.Kind != rp.Kind || lp.OS != rp.OS {
			t.Errorf("%s: live client classifies as %s/%s, the recorded one as %s/%s", c.name, lp.Kind, lp.OS, rp.Kind, rp.OS)
		}
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "lab.yaml"), []byte(labYAML(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// vendorFamily is option 60 without its version: "udhcp", "dhcpcd", "".
func vendorFamily(vc string) string {
	vc = strings.ToLower(vc)
	if i := strings.IndexAny(vc, " :-0123456789"); i >= 0 {
		return vc[:i]
	}
	return vc
}

func firstClientMessage(t *testing.T, out <-chan daemon.Observation, mac string, p *lab.Process) daemon.Observation {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case o := <-out:
			if o.Kind == daemon.ObsDHCP && o.MAC == mac && o.DHCP != nil && (o.DHCP.MessageType == 1 || o.DHCP.MessageType == 3) {
				return o
			}
		case <-deadline:
			t.Fatalf("no DISCOVER/REQUEST from %s within 20 s; client output:\n%s", mac, p.Output)
		}
	}
}

func writeConf(t *testing.T, from, to, old, repl string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, old) {
		t.Logf("%s has no %q; used unchanged", from, strings.TrimSpace(old))
	}
	if err := os.WriteFile(to, []byte(strings.Replace(s, old, repl, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func labYAML(devs []Device) string {
	var b strings.Builder
	b.WriteString("# Real DHCP clients recorded in network namespaces by TestLabClients\n# (go test ./adapters/corpus -run TestLabClients -update, as root). Do not edit.\n")
	list := func(l []uint8) string {
		s := make([]string, len(l))
		for i, v := range l {
			s[i] = fmt.Sprint(v)
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	for _, d := range devs {
		x := d.Signals.DHCP
		fmt.Fprintf(&b, "- name: %q\n  source: %q\n  kind: %s\n  os: %s\n  mac: %s\n  ttl: %d\n", d.Name, d.Source, d.Kind, d.OS, d.Signals.MAC, d.Signals.TTL)
		fmt.Fprintf(&b, "  dhcp: {type: %d, options: %s, param_list: %s, vendor_class: %q, hostname: %q, max_msg_size: %d}\n",
			x.MessageType, list(x.Options), list(x.ParamList), x.VendorClass, x.Hostname, x.MaxMsgSize)
	}
	return b.String()
}
