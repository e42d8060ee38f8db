package lab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNetnsPairIsolatedAndCleanedUp: two namespaces joined by a veth can reach
// each other, the host does not see the veth, and cleanup removes everything.
func TestNetnsPairIsolatedAndCleanedUp(t *testing.T) {
	RequireRoot(t)
	RequireTools(t, "ip", "busybox")
	id := RandomID(t)
	var srv, cli *Netns
	var proc *Process
	t.Run("setup", func(t *testing.T) {
		srv, cli = NewNetns(t, id, "srv"), NewNetns(t, id, "cli")
		Veth(t, srv, "hmv"+id+"s", cli, "hmv"+id+"c")
		srv.Exec(t, "ip", "addr", "add", "10.99.7.1/24", "dev", "hmv"+id+"s")
		cli.Exec(t, "ip", "addr", "add", "10.99.7.2/24", "dev", "hmv"+id+"c")
		if out := cli.Exec(t, "busybox", "ping", "-c", "1", "-W", "2", "10.99.7.1"); !strings.Contains(out, "1 packets received") {
			t.Errorf("ping across the veth: %s", out)
		}
		if _, err := os.Stat(srv.Path); err != nil {
			t.Errorf("netns path %s: %v", srv.Path, err)
		}
		if out, _ := exec.Command("ip", "link", "show", "hmv"+id+"s").CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("veth visible on the host: %s", out)
		}
		proc = srv.Start(t, "sleep", "60")
	})
	// The subtest's cleanups have run: namespaces gone, process killed.
	for _, n := range []*Netns{srv, cli} {
		if n == nil {
			t.Fatal("setup failed")
		}
		if _, err := os.Stat(n.Path); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after cleanup (%v)", n.Name, err)
		}
	}
	if proc == nil || !proc.Wait(5*time.Second) {
		t.Error("process started in the namespace still running after cleanup")
	}
}
