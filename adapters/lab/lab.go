// Package lab helps tests that need real parts: root, network namespaces, and tools
// such as dnsmasq, udhcpc, iptables or chromium.
//
// A missing part skips the test with a clear message, unless HALLMONITOR_REQUIRE_LAB=1
// (set by .ci/run), in which case it fails the test: in CI a skip is a failure.
package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireEnv is the environment variable that turns lab skips into failures.
const RequireEnv = "HALLMONITOR_REQUIRE_LAB"

// Required reports whether missing lab parts must fail tests instead of skipping them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing skips t (or fails it when Required) with a message naming what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("lab test needs %s", what)
	if Required() {
		t.Fatalf("%s (%s=1: a skip is a failure here)", msg, RequireEnv)
	}
	t.Skipf("%s; skipping (set %s=1 to make this a failure)", msg, RequireEnv)
}

// RequireRoot skips or fails t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root (network namespaces, raw sockets, firewall)")
	}
}

// RequireTools skips or fails t unless every named program is on PATH (or an absolute
// path that exists). It returns their resolved paths in order.
func RequireTools(t testing.TB, tools ...string) []string {
	t.Helper()
	var paths, missing []string
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			missing = append(missing, tool)
			continue
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		Missing(t, "the program(s) "+strings.Join(missing, ", ")+" (see .ci/run for the Debian packages)")
	}
	return paths
}
