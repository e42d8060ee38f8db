// Package systemd holds the hardened unit file; this test keeps it hardened.
package systemd

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// The unit must stay at an exposure of 2.0 or lower as systemd itself scores it.
func TestUnitExposure(t *testing.T) {
	lab.RequireTools(t, "systemd-analyze")
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "hallmonitor.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for hallmonitor\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure in systemd-analyze output:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if score > 2.0 {
		t.Fatalf("exposure %.1f, want <= 2.0", score)
	}
	t.Logf("exposure %.1f", score)
}

// What systemd-analyze cannot score: the choices the brief asks for.
func TestUnitEssentials(t *testing.T) {
	unit, err := readUnit("hallmonitor.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^Type=notify$`,
		`(?m)^ExecReload=/bin/kill -HUP \$MAINPID$`,
		`(?m)^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE$`,
		`(?m)^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE$`,
		`(?m)^NoNewPrivileges=yes$`,
		`(?m)^ProtectSystem=strict$`,
		`(?m)^StateDirectory=hallmonitor$`,
		`(?m)^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET$`,
		`(?m)^SystemCallFilter=@system-service$`,
		`(?m)^DynamicUser=yes$`,
	} {
		if !regexp.MustCompile(want).MatchString(unit) {
			t.Errorf("unit lacks %s", want)
		}
	}
}
