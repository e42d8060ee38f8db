package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A pupil's phone walks from reception into a classroom. The access points say
// so over syslog (sent by the real util-linux logger); after the dwell time the
// device's zone follows its AP and the policy's alert opens — not before.
func TestAPFeedsMoveDeviceAfterDwell(t *testing.T) {
	tools := lab.RequireTools(t, "logger", "radclient")
	loggerPath, radclientPath := tools[0], tools[1]
	port, radiusPort := freeUDPPort(t), freeUDPPort(t)
	dir := t.TempDir()
	cfgText := fmt.Sprintf(`school: {name: Test School, site_id: test}
timezone: Europe/London
interfaces: [{name: hmtest-absent0}]
zones:
  - {name: reception, type: reception, aps: ["ap-reception*"]}
  - {name: classroom-12, type: teaching, aps: ["ap-class-12"]}
  - {name: staffroom, type: staffroom, aps: ["ap-staffroom-*"]}
register:
  - {mac: "aa:bb:cc:00:00:01", role: pupil, kind: phone, managed: false}
rules:
  - name: pupil-device-beyond-reception
    when: {roles: [pupil], managed: false, not_zone_types: [reception]}
    then: {action: alert, severity: high, clauses: [OSS-2.1], message: Pupil's personal device beyond reception.}
default: {action: allow, message: No rule applies.}
location: {dwell: 2s}
feeds:
  syslog:
    listen: ["udp://127.0.0.1:%d"]
    allow: [127.0.0.1/32]
    custom:
      - name: school-aps
        pattern: 'AP (?P<ap>\S+): station (?P<mac>[0-9a-f:]{17}) (?P<event>joined|left)'
        events: {joined: associate, left: disassociate}
  radius:
    listen: "127.0.0.1:%d"
    clients: [{prefix: 127.0.0.1/32, secret: "testing-secret-123"}]
    roles: [{pattern: "*@pupils.school.test", role: pupil}]
storage: {data_dir: %s}
`, port, radiusPort, dir)
	cfg, err := config.Parse(filepath.Join(dir, "hallmonitor.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := zap.NewNop()
	sources, roleFor, err := feedSources(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(dir, "hm.db"), "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := daemon.New(daemon.Options{SiteID: "test", Policy: cfg.Policy, Classify: cfg.Fingerprints.Classify,
		Store: st, History: st, Sources: sources, Dwell: cfg.Location.Dwell, RoleForIdentity: roleFor, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	send := func(msg string) {
		t.Helper()
		out, err := exec.Command(loggerPath, "--server", "127.0.0.1", "--port", fmt.Sprint(port), "--udp", "--rfc3164", "-t", "wifid", msg).CombinedOutput()
		if err != nil {
			t.Fatalf("logger: %v\n%s", err, out)
		}
	}
	zoneOf := func() (string, string) {
		for _, d := range eng.Devices() {
			if d.MAC == "aa:bb:cc:00:00:01" {
				return d.Zone, d.Decision.Action
			}
		}
		return "", ""
	}
	waitZone := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			if z, _ := zoneOf(); z == want {
				return time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		z, a := zoneOf()
		t.Fatalf("zone %q (decision %q) after %v, want %q", z, a, within, want)
		return 0
	}

	send("AP ap-reception-1: station aa:bb:cc:00:00:01 joined")
	waitZone("reception", 5*time.Second) // the first zone is immediate
	if _, action := zoneOf(); action != "allow" {
		t.Fatalf("in reception: %q, want allow", action)
	}
	send("AP ap-class-12: station aa:bb:cc:00:00:01 joined")
	time.Sleep(500 * time.Millisecond)
	if z, _ := zoneOf(); z != "reception" {
		t.Fatalf("zone %q half a second after the roam: the 2 s dwell must hold it in reception", z)
	}
	took := waitZone("classroom-12", 6*time.Second)
	t.Logf("moved to classroom-12 %.1fs after the roam (dwell 2s)", took.Seconds()+0.5)
	if _, action := zoneOf(); action != "alert" {
		t.Fatalf("in the classroom: %q, want alert", action)
	}
	alerts, err := st.ListAlerts(ctx, daemon.AlertFilter{})
	if err != nil || len(alerts) != 1 || alerts[0].Zone != "classroom-12" || alerts[0].Clauses[0] != "OSS-2.1" {
		t.Fatalf("alerts = %+v, %v; want one OSS-2.1 alert in classroom-12", alerts, err)
	}

	// The staff-room AP reports the phone over RADIUS accounting (the real
	// FreeRADIUS radclient): after the dwell time the zone follows again.
	attrs := strings.Join([]string{
		"Acct-Status-Type = Interim-Update",
		`User-Name = "p123@pupils.school.test"`,
		`Calling-Station-Id = "AA-BB-CC-00-00-01"`,
		`Called-Station-Id = "18-E8-29-00-00-20:School"`,
		`NAS-Identifier = "ap-staffroom-1"`,
		"NAS-IP-Address = 127.0.0.1",
		`Acct-Session-Id = "5F3A2B1C-00000042"`,
	}, "\n") + "\n"
	rc := exec.Command(radclientPath, "-x", "-r", "2", "-t", "3", fmt.Sprintf("127.0.0.1:%d", radiusPort), "acct", "testing-secret-123")
	rc.Stdin = strings.NewReader(attrs)
	if out, err := rc.CombinedOutput(); err != nil || !strings.Contains(string(out), "Accounting-Response") {
		t.Fatalf("radclient: %v\n%s", err, out)
	}
	took = waitZone("staffroom", 6*time.Second)
	t.Logf("moved to staffroom %.1fs after the RADIUS interim update", took.Seconds())
	visits, err := st.ZoneVisits(ctx, "aa:bb:cc:00:00:01", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(visits) != 2 || visits[0].Zone != "reception" || visits[1].Zone != "classroom-12" {
		t.Fatalf("zone history = %+v, %v; want the stays in reception and classroom-12", visits, err)
	}
}
