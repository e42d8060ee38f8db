package radius

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// runTool runs a program to completion with a deadline; on the deadline the
// process is killed by its PID.
func runTool(t testing.TB, stdin, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Cancel = func() error { return syscall.Kill(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The real client: FreeRADIUS radclient sends Start, Interim-Update (same AP,
// then another AP) and Stop with the attribute spellings APs use, and a Start
// with the wrong secret, which must yield no observation, no reply, and a count.
func TestRadclientToListener(t *testing.T) {
	radclient := lab.RequireTools(t, "radclient")[0]
	rr := start(t, Options{}, 16)
	server := rr.l.Addr().(*net.UDPAddr).AddrPort().String()

	attrs := func(status, called, nas string) string {
		return strings.Join([]string{
			"Acct-Status-Type = " + status,
			`User-Name = "jsmith@staff.school.org"`,
			`Calling-Station-Id = "3C-28-6D-11-22-33"`,
			`Called-Station-Id = "` + called + `"`,
			`NAS-Identifier = "` + nas + `"`,
			"NAS-IP-Address = 127.0.0.1",
			`Acct-Session-Id = "5F3A2B1C-00000001"`,
			"Framed-IP-Address = 10.20.0.7",
		}, "\n") + "\n"
	}
	steps := []struct {
		name, status, called, nas string
		ev, ap, apmac, ssid       string
	}{
		{"start", "Start", "18-E8-29-00-00-12:School Staff", "staffroom", "associate", "staffroom", "18:e8:29:00:00:12", "School Staff"},
		{"interim same AP", "Interim-Update", "18-E8-29-00-00-12:School Staff", "staffroom", "associate", "staffroom", "18:e8:29:00:00:12", "School Staff"},
		{"interim new AP", "Interim-Update", "18-E8-29-00-00-13:School Staff", "classroom-12", "roam", "classroom-12", "18:e8:29:00:00:13", "School Staff"},
		{"stop", "Stop", "18-E8-29-00-00-13:School Staff", "classroom-12", "disassociate", "classroom-12", "18:e8:29:00:00:13", "School Staff"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := runTool(t, attrs(s.status, s.called, s.nas), radclient, "-x", "-r", "1", "-t", "3", server, "acct", string(secret))
			if err != nil {
				t.Fatalf("radclient: %v\n%s", err, out)
			}
			if !strings.Contains(out, "Accounting-Response") {
				t.Fatalf("radclient got no Accounting-Response:\n%s", out)
			}
			o := rr.next(t)
			if o.MAC != "3c:28:6d:11:22:33" || o.APEvent != s.ev || o.AP != s.ap || o.APMAC != s.apmac || o.SSID != s.ssid ||
				o.Identity != "jsmith@staff.school.org" || o.IP != netip.MustParseAddr("10.20.0.7") || o.Source != "radius:127.0.0.1" {
				t.Errorf("%+v", o)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		before := rr.l.Stats().BadAuthenticator
		out, err := runTool(t, attrs("Start", "18-E8-29-00-00-12:School Staff", "staffroom"), radclient, "-x", "-r", "1", "-t", "1", server, "acct", "wrong-secret")
		if err == nil || strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("radclient with the wrong secret got an answer:\n%s", out)
		}
		select {
		case o := <-rr.out:
			t.Fatalf("wrong secret produced %+v", o)
		case <-time.After(100 * time.Millisecond):
		}
		if got := rr.l.Stats().BadAuthenticator - before; got < 1 {
			t.Errorf("BadAuthenticator grew by %d", got)
		}
	})
}
