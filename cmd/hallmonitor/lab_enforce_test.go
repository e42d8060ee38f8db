//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// TestLabEnforceEndToEnd is the enforcement lab of deploy/lab/README.md, run for
// both firewall backends: HallMonitor (the real binary) runs in enforce mode in a
// router namespace with a bridge per VLAN (this kernel has no 802.1Q devices; the
// capture is told which VLAN each bridge carries), dnsmasq hands out leases on
// the pupil (30) and staff (20) VLANs, and real DHCP clients join:
// ISC dhclient configured as an iPhone on a random private MAC, BusyBox udhcpc,
// dhcpcd, a registered school laptop, and an iPhone-like staff phone. Everything
// the test creates (namespaces, processes, firewall state) lives in namespaces it
// deletes in t.Cleanup, also on failure; traffic never leaves them.
func TestLabEnforceEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and runs a network-namespace lab")
	}
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "dnsmasq", "dhclient", "udhcpc", "dhcpcd", "dig", "busybox", "nft", "iptables", "ip6tables", "ipset")
	if _, err := os.Stat("/etc/dhcp/dhclient.conf"); err != nil {
		lab.Missing(t, "ISC dhclient's stock /etc/dhcp/dhclient.conf (the school laptop's client)")
	}
	bin := binary(t)
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) { labEndToEnd(t, bin, backend) })
	}
}

const (
	labUpstream = "198.51.100.53" // the "internet's" resolver (TEST-NET-2, inside the upstream namespace)
	labWeb      = "198.51.100.80" // a web server on the "internet"
	labPupilGW  = "10.30.8.1"
	labAPI      = "http://127.0.0.1:18080" // the dashboard, on the router namespace's loopback
)

// labClientNS is one client device: a namespace with eth0 on an access port of the
// lab switch.
type labClientNS struct {
	ns    *lab.Netns
	mac   string
	bound string // file the client script writes the bind time to
}

type e2eLab struct {
	id                             string
	dir, cfg, token                string
	backend                        string
	rtr, up                        *lab.Netns
	phone, sensor, pi, laptop, stf labClientNS
}

func labEndToEnd(t *testing.T, bin, backend string) {
	l := &e2eLab{id: lab.RandomID(t), dir: t.TempDir(), backend: backend}
	l.network(t)
	before := l.firewallSnapshot(t)

	l.configure(t, bin)
	d := l.startDaemon(t, bin)

	// Clients join. The laptop, the sensor (udhcpc) and the staff phone first, so
	// that the pupil VLAN has devices before the phone's block is judged by the
	// safety valve (max_block_share).
	l.dhclient(t, l.laptop, "/etc/dhcp/dhclient.conf")
	l.udhcpc(t, l.sensor)
	l.dhcpcdTest(t, l.pi)
	l.dhclient(t, l.stf, l.iphoneConf(t, "Mr-Khans-iPhone"))
	for _, c := range []labClientNS{l.laptop, l.sensor, l.stf} {
		l.waitBound(t, c, d)
	}
	l.waitDevices(t, d, 5)

	// The pupil's iPhone joins: it must lose forwarding within 1 s of its DHCP ACK.
	l.dhclient(t, l.phone, l.iphoneConf(t, "Amelias-iPhone"))
	ack := l.waitBound(t, l.phone, d)
	blockedAt := l.waitBlocked(t, l.phone, d, ack.Add(5*time.Second))
	t.Logf("%s: phone's DHCP ACK (client bound) -> its MAC/IP in the kernel set: %v", backend, blockedAt.Sub(ack).Round(time.Millisecond))
	if lag := blockedAt.Sub(ack); lag > time.Second {
		t.Errorf("the phone was blocked %v after its DHCP ACK (want within 1 s)", lag)
	}
	if web(l.phone.ns, labWeb) {
		t.Errorf("the blocked pupil phone still reaches the upstream web server")
	}
	for name, c := range map[string]labClientNS{"registered school laptop": l.laptop, "pupil-VLAN sensor": l.sensor, "staff phone": l.stf} {
		if !web(c.ns, labWeb) {
			t.Errorf("the %s lost forwarding to upstream", name)
		}
	}
	// What a blocked device still gets: DNS from the gateway's guard, which answers
	// with the block page, and the block page itself (the clause, the OSS-3 notice).
	if got := l.dig(t, l.phone, labPupilGW, "www.example.lab"); got != labPupilGW {
		t.Errorf("the DNS guard answered the blocked phone's lookup with %q, want the block page %s", got, labPupilGW)
	}
	if got := l.dig(t, l.laptop, labPupilGW, "www.example.lab"); got != labWeb {
		t.Errorf("the DNS guard answered the laptop's lookup with %q, want %s (forwarded upstream)", got, labWeb)
	}
	page := httpGet(l.phone.ns, labPupilGW, "www.example.lab")
	for _, want := range []string{"403", "OSS-2.1", "monitored"} {
		if !strings.Contains(page, want) {
			t.Errorf("the block page the phone gets does not say %q:\n%s", want, page)
		}
	}

	// Filter bypass: the sensor asks the internet's resolver directly.
	l.digNoWait(l.sensor, labUpstream, "bypass.example.lab")
	l.waitBlocked(t, l.sensor, d, time.Now().Add(5*time.Second))
	alerts := l.alerts(t)
	if n := countAlerts(alerts, l.sensor.mac, "pupil-device-unfiltered"); n != 1 {
		t.Errorf("dig @%s from the pupil VLAN: %d alerts for rule pupil-device-unfiltered, want 1 (alerts: %s)", labUpstream, n, summarize(alerts))
	}
	if n := countAlerts(alerts, l.phone.mac, "pupil-personal-device"); n != 1 {
		t.Errorf("the pupil phone has %d pupil-personal-device alerts, want 1 (alerts: %s)", n, summarize(alerts))
	}
	for _, c := range []labClientNS{l.laptop, l.stf, l.pi} {
		if n := countAlerts(alerts, c.mac, ""); n != 0 {
			t.Errorf("%s (never to be blocked) has %d alerts: %s", c.mac, n, summarize(alerts))
		}
	}
	if l.inKernelSet(t, l.laptop) || l.inKernelSet(t, l.stf) {
		t.Errorf("the registered laptop or the staff phone is in the block set")
	}

	// kill -9: the kernel keeps the blocks (fail-open keeps who was blocked); a
	// restarted daemon restores them, and the phone coming back does not open a
	// second alert.
	if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !d.Wait(10 * time.Second) {
		t.Fatal("the daemon did not die of SIGKILL within 10 s")
	}
	if !l.inKernelSet(t, l.phone) || web(l.phone.ns, labWeb) {
		t.Errorf("after kill -9 the phone is no longer blocked")
	}
	d = l.startDaemon(t, bin)
	if !l.inKernelSet(t, l.phone) || !l.inKernelSet(t, l.sensor) {
		t.Errorf("after the restart the blocks are not all back (phone %v, sensor %v)", l.inKernelSet(t, l.phone), l.inKernelSet(t, l.sensor))
	}
	l.killClient(t, l.phone)
	l.dhclient(t, l.phone, l.iphoneConf(t, "Amelias-iPhone")) // rejoins: REQUEST for its lease, ACK
	l.waitBound(t, l.phone, d)
	time.Sleep(time.Second) // let the engine judge it and the store commit
	if web(l.phone.ns, labWeb) {
		t.Errorf("the phone rejoined after the restart and reaches upstream")
	}
	if !web(l.laptop.ns, labWeb) {
		t.Errorf("the laptop lost forwarding after the restart")
	}
	alerts = l.alerts(t)
	if n := countAlerts(alerts, l.phone.mac, "pupil-personal-device"); n != 1 {
		t.Errorf("after kill -9, restart and the phone rejoining: %d alerts for it, want still 1 (alerts: %s)", n, summarize(alerts))
	}
	if n := countAlerts(alerts, l.sensor.mac, "pupil-device-unfiltered"); n != 1 {
		t.Errorf("after the restart the bypass alert count is %d, want 1", n)
	}

	// SIGTERM, then `hallmonitor firewall flush`: the router's firewall is exactly as
	// it was before the daemon first started.
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !d.Wait(15 * time.Second) {
		t.Fatalf("the daemon did not stop within 15 s of SIGTERM; log:\n%s", tail(d.Output.String(), 30))
	}
	if out, err := nsCmd(l.rtr, 30*time.Second, bin, "firewall", "flush", "--config", l.cfg); err != nil {
		t.Fatalf("firewall flush: %v\n%s", err, out)
	}
	if after := l.firewallSnapshot(t); after != before {
		t.Errorf("firewall flush did not restore the router's firewall.\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !web(l.phone.ns, labWeb) {
		t.Errorf("after flush the phone still cannot reach upstream")
	}
}

// network builds the lab: a router with a bridge per VLAN (the pupil and staff
// Wi-Fi, as an AP's per-SSID VLANs arrive on a gateway), an upstream "internet"
// with a resolver and a web server, five client namespaces on access ports.
func (l *e2eLab) network(t *testing.T) {
	t.Helper()
	l.rtr, l.up = lab.NewNetns(t, l.id, "rtr"), lab.NewNetns(t, l.id, "up")
	for _, v := range []struct{ br, addr string }{{"br-pupil", labPupilGW + "/21"}, {"br-staff", "10.20.8.1/21"}} {
		l.rtr.Exec(t, "ip", "link", "add", v.br, "type", "bridge")
		l.rtr.Exec(t, "ip", "addr", "add", v.addr, "dev", v.br)
		l.rtr.Exec(t, "ip", "link", "set", v.br, "up")
	}
	l.rtr.Exec(t, "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "wan", "netns", l.up.Name)
	l.rtr.Exec(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "uplink")
	l.rtr.Exec(t, "ip", "link", "set", "uplink", "up")
	for _, a := range []string{labUpstream + "/24", labWeb + "/24"} {
		l.up.Exec(t, "ip", "addr", "add", a, "dev", "wan")
	}
	l.up.Exec(t, "ip", "link", "set", "wan", "up")
	l.up.Exec(t, "ip", "route", "add", "10.0.0.0/8", "via", "198.51.100.1")
	l.rtr.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	// The upstream: an authoritative answer for the lab's names, and a web server.
	www := filepath.Join(l.dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("upstream says hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l.up.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--user=root", "--no-resolv", "--no-hosts",
		"--listen-address="+labUpstream, "--bind-interfaces", "--address=/example.lab/"+labWeb,
		"--pid-file="+filepath.Join(l.dir, "up-dnsmasq.pid"))
	l.up.Start(t, "busybox", "httpd", "-f", "-p", labWeb+":80", "-h", www)

	// The school's DHCP server on both VLANs (DNS is the HallMonitor guard on the
	// pupil VLAN, port=0 here).
	l.rtr.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=br-pupil", "--interface=br-staff", "--bind-interfaces", "--dhcp-authoritative",
		"--dhcp-range=set:pupil,10.30.8.50,10.30.8.150,255.255.248.0,1h",
		"--dhcp-range=set:staff,10.20.8.50,10.20.8.150,255.255.248.0,1h",
		"--dhcp-option=tag:pupil,option:dns-server,"+labPupilGW,
		"--dhcp-option=tag:staff,option:dns-server,10.20.8.1",
		"--dhcp-leasefile="+filepath.Join(l.dir, "leases"), "--pid-file="+filepath.Join(l.dir, "dnsmasq.pid"))

	// The school's own firewall rules, which the daemon must leave as they are.
	if l.backend == "nftables" {
		l.rtr.Exec(t, "nft", "add table inet school; add chain inet school school_forward { type filter hook forward priority 0; policy accept; }; add rule inet school school_forward ct state established,related counter accept")
	} else {
		l.rtr.Exec(t, "iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		l.rtr.Exec(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "uplink", "-j", "MASQUERADE")
	}

	client := func(role, bridge, mac string) labClientNS {
		c := labClientNS{ns: lab.NewNetns(t, l.id, role), mac: mac, bound: filepath.Join(l.dir, role+".bound")}
		port := "p" + role
		c.ns.Exec(t, "ip", "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", port, "netns", l.rtr.Name)
		l.rtr.Exec(t, "ip", "link", "set", port, "master", bridge)
		l.rtr.Exec(t, "ip", "link", "set", port, "up")
		c.ns.Exec(t, "ip", "link", "set", "eth0", "up")
		// dhcpcd forks helpers Start does not know of: kill every process left in the
		// client's namespace, by PID, before it is deleted (also on failure).
		t.Cleanup(func() { killNetnsPIDs(c.ns) })
		return c
	}
	l.phone = client("phone", "br-pupil", privateMAC(t))
	l.sensor = client("sensor", "br-pupil", "02:00:5e:30:00:21")
	l.pi = client("pi", "br-pupil", "02:00:5e:30:00:22")
	l.laptop = client("laptop", "br-pupil", "8c:04:ba:30:00:07")
	l.stf = client("staff", "br-staff", privateMAC(t))
}

// privateMAC is a random locally administered unicast MAC, as iOS's "private Wi-Fi
// address" uses.
func privateMAC(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0] = b[0]&0xfc | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

func killNetnsPIDs(ns *lab.Netns) {
	out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
	for _, pid := range strings.Fields(string(out)) {
		_ = exec.Command("kill", "-KILL", pid).Run()
	}
}

// configure writes the daemon's configuration from deploy/lab and an API token.
func (l *e2eLab) configure(t *testing.T, bin string) {
	t.Helper()
	cfg := string(mustReadFile(t, "../../deploy/lab/hallmonitor-lab.yaml"))
	cfg = strings.NewReplacer("@LAPTOP_MAC@", l.laptop.mac, "@BACKEND@", l.backend, "@DATA_DIR@", filepath.Join(l.dir, "data")).Replace(cfg)
	l.cfg = filepath.Join(l.dir, "hallmonitor.yaml")
	if err := os.WriteFile(l.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "users", "token", "--config", l.cfg, "--role", "dsl", "lab-test").Output()
	if err != nil {
		t.Fatalf("users token: %v", err)
	}
	l.token = strings.TrimSpace(string(out))
}

// startDaemon runs `hallmonitor run` in the router namespace and waits until it
// serves /healthz.
func (l *e2eLab) startDaemon(t *testing.T, bin string) *lab.Process {
	t.Helper()
	p := l.rtr.Start(t, bin, "run", "--config", l.cfg)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done():
			t.Fatalf("the daemon exited while starting:\n%s", tail(p.Output.String(), 40))
		default:
		}
		if strings.Contains(p.Output.String(), "HallMonitor running") {
			if out, err := nsCmd(l.rtr, 5*time.Second, "busybox", "wget", "-q", "-O-", labAPI+"/healthz"); err == nil && strings.Contains(out, "ok") {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the daemon was not healthy within 30 s:\n%s", tail(p.Output.String(), 40))
	return nil
}

// iphoneConf is deploy/lab/iphone-dhclient.conf with the phone's host name.
func (l *e2eLab) iphoneConf(t *testing.T, host string) string {
	t.Helper()
	f := filepath.Join(l.dir, host+".conf")
	conf := strings.ReplaceAll(string(mustReadFile(t, "../../deploy/lab/iphone-dhclient.conf")), "@HOSTNAME@", host)
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// script is deploy/lab/client-script writing c's bind time.
func (l *e2eLab) script(t *testing.T, c labClientNS) string {
	t.Helper()
	f := c.bound + ".sh"
	s := strings.ReplaceAll(string(mustReadFile(t, "../../deploy/lab/client-script")), "@BOUND_FILE@", c.bound)
	if err := os.WriteFile(f, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(c.bound)
	return f
}

func (l *e2eLab) dhclient(t *testing.T, c labClientNS, conf string) {
	t.Helper()
	base := c.bound
	c.ns.Start(t, "dhclient", "-4", "-d", "-v", "-cf", conf, "-sf", l.script(t, c),
		"-pf", base+".pid", "-lf", base+".leases", "eth0")
}

func (l *e2eLab) udhcpc(t *testing.T, c labClientNS) {
	t.Helper()
	c.ns.Start(t, "busybox", "udhcpc", "-f", "-i", "eth0", "-t", "10", "-T", "1", "-s", l.script(t, c), "-x", "hostname:lab-sensor")
}

// dhcpcdTest runs dhcpcd in test mode (it discovers, is offered a lease, applies
// nothing and runs no hooks): a Raspberry Pi joining.
func (l *e2eLab) dhcpcdTest(t *testing.T, c labClientNS) {
	t.Helper()
	conf := filepath.Join(l.dir, "dhcpcd.conf")
	if err := os.WriteFile(conf, []byte("clientid\noption domain_name_servers, domain_name, host_name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ns.Start(t, "dhcpcd", "-T", "-4", "-t", "10", "-h", "lab-pi", "-f", conf, "eth0")
}

func (l *e2eLab) killClient(t *testing.T, c labClientNS) {
	t.Helper()
	killNetnsPIDs(c.ns)
	c.ns.Exec(t, "ip", "addr", "flush", "dev", "eth0")
	time.Sleep(200 * time.Millisecond)
}

// waitBound waits for c's client script to record a lease and returns when.
func (l *e2eLab) waitBound(t *testing.T, c labClientNS, d *lab.Process) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(c.bound); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			if err != nil {
				t.Fatalf("bound file %s: %v", c.bound, err)
			}
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s got no lease within 20 s; daemon log:\n%s", c.ns.Name, tail(d.Output.String(), 20))
	return time.Time{}
}

// waitDevices waits until the daemon's API lists at least n devices.
func (l *e2eLab) waitDevices(t *testing.T, d *lab.Process, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got int
	for time.Now().Before(deadline) {
		var devs []json.RawMessage
		if err := json.Unmarshal([]byte(l.api(t, "/api/v1/devices")), &devs); err == nil {
			if got = len(devs); got >= n {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the daemon knows %d devices after 20 s, want %d; log:\n%s", got, n, tail(d.Output.String(), 20))
}

// waitBlocked polls the kernel until c is in the block set and returns when it
// was first seen there.
func (l *e2eLab) waitBlocked(t *testing.T, c labClientNS, d *lab.Process, until time.Time) time.Time {
	t.Helper()
	for {
		if l.inKernelSet(t, c) {
			return time.Now()
		}
		if time.Now().After(until) {
			t.Fatalf("%s (%s) is not in the kernel's block set; daemon log:\n%s", c.ns.Name, c.mac, tail(d.Output.String(), 30))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var ipv4RE = regexp.MustCompile(`inet (\d+\.\d+\.\d+\.\d+)/`)

// inKernelSet reports whether the router's kernel holds c in a block set: its MAC
// in the nftables ether_addr set, or (iptables backend on a kernel without
// hash:mac) its address in the hash:ip set.
func (l *e2eLab) inKernelSet(t *testing.T, c labClientNS) bool {
	t.Helper()
	if l.backend == "nftables" {
		out, _ := nsCmd(l.rtr, 5*time.Second, "nft", "list", "table", "inet", "hallmonitor")
		return strings.Contains(out, c.mac)
	}
	m := ipv4RE.FindStringSubmatch(c.ns.Exec(t, "ip", "-4", "addr", "show", "dev", "eth0"))
	out, _ := nsCmd(l.rtr, 5*time.Second, "ipset", "list")
	if strings.Contains(out, c.mac) {
		return true
	}
	return m != nil && regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(m[1])+`(\s|$)`).MatchString(out)
}

// firewallSnapshot is the router's whole firewall as an admin would diff it.
func (l *e2eLab) firewallSnapshot(t *testing.T) string {
	t.Helper()
	counters := regexp.MustCompile(`counter packets \d+ bytes \d+|\[\d+:\d+\]`)
	var b strings.Builder
	b.WriteString(l.rtr.Exec(t, "nft", "list", "ruleset"))
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		for _, line := range strings.Split(l.rtr.Exec(t, save), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(line + "\n")
			}
		}
	}
	b.WriteString(l.rtr.Exec(t, "ipset", "list"))
	return counters.ReplaceAllString(b.String(), "counter")
}

// api GETs path from the dashboard's JSON API with the lab's token.
func (l *e2eLab) api(t *testing.T, path string) string {
	t.Helper()
	out, err := nsCmd(l.rtr, 10*time.Second, "busybox", "wget", "-q", "-O-", "--header", "Authorization: Bearer "+l.token, labAPI+path)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, out)
	}
	return out
}

func (l *e2eLab) alerts(t *testing.T) []daemon.Alert {
	t.Helper()
	body := l.api(t, "/api/v1/alerts")
	var list []daemon.Alert
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		var wrapped struct{ Alerts []daemon.Alert }
		if err2 := json.Unmarshal([]byte(body), &wrapped); err2 != nil {
			t.Fatalf("alerts: %v: %s", err, body)
		}
		list = wrapped.Alerts
	}
	return list
}

func countAlerts(list []daemon.Alert, mac, rule string) int {
	n := 0
	for _, a := range list {
		if strings.EqualFold(a.Device.MAC, mac) && (rule == "" || a.Rule == rule) {
			n++
		}
	}
	return n
}

func summarize(list []daemon.Alert) string {
	var s []string
	for _, a := range list {
		s = append(s, fmt.Sprintf("%s/%s/%s", a.Device.MAC, a.Rule, a.State))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// dig asks server for name's A record from c's namespace and returns the answer.
func (l *e2eLab) dig(t *testing.T, c labClientNS, server, name string) string {
	t.Helper()
	out, err := nsCmd(c.ns, 10*time.Second, "dig", "+short", "+tries=2", "+time=2", "@"+server, name, "A")
	if err != nil {
		t.Errorf("dig @%s %s from %s: %v\n%s", server, name, c.ns.Name, err, out)
	}
	return strings.TrimSpace(out)
}

// digNoWait sends one query and does not care whether an answer comes.
func (l *e2eLab) digNoWait(c labClientNS, server, name string) {
	_, _ = nsCmd(c.ns, 10*time.Second, "dig", "+tries=1", "+time=1", "@"+server, name, "A")
}

// web reports whether ns fetches the upstream web server's page.
func web(ns *lab.Netns, addr string) bool {
	// (BusyBox 1.35's wget crashes with -T; nc's -w bounds the wait instead.)
	return strings.Contains(httpGet(ns, addr, addr), "upstream says hello")
}

// httpGet sends one HTTP/1.0 request for host to addr:80 and returns the raw
// response.
func httpGet(ns *lab.Netns, addr, host string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "busybox", "nc", "-w", "3", addr, "80")
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: lab\r\n\r\n")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// nsCmd runs a program in ns with a timeout, without failing the test.
func nsCmd(ns *lab.Netns, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...).CombinedOutput()
	return string(out), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
