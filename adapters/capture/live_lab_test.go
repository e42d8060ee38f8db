//go:build linux

package capture

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// TestLiveCapturesRealDHCP runs a real DHCP server (dnsmasq) and real clients
// (BusyBox udhcpc, ISC dhclient when installed) in two fresh network
// namespaces joined by a veth, captures on the server's end with Live, and
// checks the observations a gateway needs: the client's fingerprint (MAC,
// host name, option 55) and the server's ACK with the leased address. It also
// checks that capture waits for a missing interface, re-opens one that was
// deleted and re-created, and stops promptly when cancelled.
func TestLiveCapturesRealDHCP(t *testing.T) {
	lab.RequireRoot(t)
	lab.RequireTools(t, "ip", "dnsmasq", "udhcpc")
	id := lab.RandomID(t)
	srv, cli := lab.NewNetns(t, id, "srv"), lab.NewNetns(t, id, "cli")
	srvIf, cliIf := "hmv"+id+"s", "hmv"+id+"c"
	subnet := fmt.Sprintf("10.99.%d", 1+int(id[0])%250)

	// Start capturing before the interface exists: Live must wait for it.
	core, logs := observer.New(zap.InfoLevel)
	live := &Live{Interfaces: []string{srvIf}, NetNS: srv.Path, Logger: zap.New(core), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	out := make(chan daemon.Observation, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return live.Run(gctx, out) })
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		done := make(chan error, 1)
		go func() { done <- g.Wait() }() // owned: ends when Run returns
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Live.Run: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("Live.Run did not return within 3 s of cancellation")
		}
	}
	t.Cleanup(stop)
	waitLog(t, logs, "capture interface unavailable")
	if is := ifaceStats(t, live); is.State != StateWaiting || is.LastError == "" {
		t.Errorf("before the interface exists: %+v, want state %q with the reason", is, StateWaiting)
	}

	lab.Veth(t, srv, srvIf, cli, cliIf)
	srv.Exec(t, "ip", "addr", "add", subnet+".1/24", "dev", srvIf)
	waitLog(t, logs, "capture started")
	cliMAC := strings.TrimSpace(cli.Exec(t, "cat", "/sys/class/net/"+cliIf+"/address"))

	dir := t.TempDir()
	dnsmasq := srv.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+srvIf, "--bind-interfaces", "--dhcp-authoritative",
		"--dhcp-range="+subnet+".50,"+subnet+".150,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	time.Sleep(300 * time.Millisecond) // dnsmasq binds its DHCP socket

	udhcpc := cli.Start(t, "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", cliIf, "-s", "/bin/true", "-x", "hostname:lab-client")
	if !udhcpc.Wait(20 * time.Second) {
		t.Fatalf("udhcpc got no lease in 20 s; udhcpc:\n%s\ndnsmasq:\n%s", udhcpc.Output, dnsmasq.Output)
	}
	client, ack := collectDHCP(t, out, cliMAC, "lab-client")
	if client.DHCP.VendorClass == "" || !strings.HasPrefix(client.DHCP.VendorClass, "udhcp ") {
		t.Errorf("udhcpc vendor class %q, want \"udhcp <version>\"", client.DHCP.VendorClass)
	}
	if len(client.DHCP.ParamList) == 0 {
		t.Error("udhcpc message without option 55")
	}
	if client.TTL != 64 {
		t.Errorf("udhcpc TTL %d, want 64 (Linux)", client.TTL)
	}
	if !netip.MustParsePrefix(subnet + ".0/24").Contains(ack.IP) {
		t.Errorf("ACK IP %v not in %s.0/24", ack.IP, subnet)
	}
	t.Logf("udhcpc fingerprint: options %v, param list %v, vendor class %q; leased %v",
		client.DHCP.Options, client.DHCP.ParamList, client.DHCP.VendorClass, ack.IP)

	if _, err := exec.LookPath("dhclient"); err == nil {
		cli.Exec(t, "ip", "addr", "flush", "dev", cliIf)
		dhclient := cli.Start(t, "dhclient", "-4", "-d", "-1", "-v", "-sf", "/bin/true",
			"-pf", filepath.Join(dir, "dhclient.pid"), "-lf", filepath.Join(dir, "dhclient.leases"), cliIf)
		c, a := collectDHCP(t, out, cliMAC, "")
		if len(c.DHCP.ParamList) == 0 || c.DHCP.VendorClass != "" {
			t.Errorf("dhclient: param list %v, vendor class %q; want a list and no vendor class", c.DHCP.ParamList, c.DHCP.VendorClass)
		}
		t.Logf("dhclient fingerprint: options %v, param list %v; leased %v\n%s", c.DHCP.Options, c.DHCP.ParamList, a.IP, dhclient.Output)
	} else {
		t.Log("dhclient not installed: ISC client not exercised")
	}

	// The interface disappears and comes back: Live re-opens it.
	srv.Exec(t, "ip", "link", "del", srvIf)
	waitLog(t, logs, "capture interface went away")
	if is := ifaceStats(t, live); is.State != StateLost || is.LastError == "" || is.Reopens != 0 {
		t.Errorf("after the interface went away: %+v, want state %q with the reason", is, StateLost)
	}
	lab.Veth(t, srv, srvIf, cli, cliIf)
	waitLog(t, logs, "capture interface re-opened")
	if st := live.Stats(); st.Reopens != 1 || st.Packets == 0 || st.Observations == 0 || st.DecodeErrors != 0 {
		t.Errorf("stats %+v: want 1 reopen, some packets and observations, no decode errors", st)
	}
	if is := ifaceStats(t, live); is.State != StateCapturing || is.Reopens != 1 || is.LastError != "" {
		t.Errorf("after re-opening: %+v, want state %q and 1 reopen", is, StateCapturing)
	}
	stop()
}

// ifaceStats returns the only interface's stats.
func ifaceStats(t *testing.T, l *Live) InterfaceStats {
	t.Helper()
	st := l.Stats()
	if len(st.Interfaces) != 1 {
		t.Fatalf("stats for %d interfaces, want 1: %+v", len(st.Interfaces), st)
	}
	return st.Interfaces[0]
}

// collectDHCP waits for a client message from mac (with host name host, when
// set) and then for the server's ACK to mac.
func collectDHCP(t *testing.T, out <-chan daemon.Observation, mac, host string) (client, ack daemon.Observation) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	var seen []string
	for {
		select {
		case o := <-out:
			if o.Kind != daemon.ObsDHCP || o.MAC != mac || o.DHCP == nil {
				continue
			}
			seen = append(seen, fmt.Sprintf("type %d ip %v", o.DHCP.MessageType, o.IP))
			switch o.DHCP.MessageType {
			case 1, 3:
				if host == "" || o.DHCP.Hostname == host {
					client = o
				} else {
					t.Errorf("client message host name %q, want %q", o.DHCP.Hostname, host)
				}
			case 5:
				if client.DHCP != nil && client.DHCP.MessageType == 3 {
					return client, o
				}
			}
		case <-deadline:
			t.Fatalf("no DHCP REQUEST + ACK for %s within 20 s; saw %v", mac, seen)
		}
	}
}

func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if logs.FilterMessageSnippet(msg).Len() > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var all []string
	for _, e := range logs.All() {
		all = append(all, e.Message)
	}
	t.Fatalf("no log %q within 15 s; logs: %v", msg, all)
}
