package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Netns is a network namespace a test created (ip netns add); it is deleted
// in t.Cleanup, together with every process Start ran in it.
type Netns struct {
	Name string // e.g. hm-1a2b3c-srv
	Path string // /run/netns/<Name>, for setns(2)
}

// RandomID returns a short random hex string for unique names.
func RandomID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random id: %v", err)
	}
	return hex.EncodeToString(b)
}

// NewNetns creates the namespace hm-<id>-<role> with its loopback up. It needs
// root and the ip program (call RequireRoot and RequireTools first).
func NewNetns(t testing.TB, id, role string) *Netns {
	t.Helper()
	n := &Netns{Name: fmt.Sprintf("hm-%s-%s", id, role)}
	n.Path = filepath.Join("/run/netns", n.Name)
	Run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", n.Name, err, out)
		}
	})
	n.Exec(t, "ip", "link", "set", "lo", "up")
	return n
}

// Exec runs a command inside the namespace and returns its output; it fails t
// on error.
func (n *Netns) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Process is a program a test started in a namespace.
type Process struct {
	Cmd    *exec.Cmd
	Output *SyncBuffer // stdout and stderr combined
	done   chan struct{}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits up to d for the process to exit and reports whether it did.
func (p *Process) Wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Start starts a program inside the namespace (ip netns exec replaces itself
// with the program, so the PID is the program's). t.Cleanup kills it by PID
// and reaps it, also when the test fails.
func (n *Netns) Start(t testing.TB, args ...string) *Process {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", args[0], n.Name, err)
	}
	p := &Process{Cmd: cmd, Output: out, done: make(chan struct{})}
	go func() { // owned by the process: ends when it exits (killed in Cleanup at the latest)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Veth creates a veth pair with one end (aName) in a and the other (bName) in
// b, both up. Deleting either namespace deletes the pair.
func Veth(t testing.TB, a *Netns, aName string, b *Netns, bName string) {
	t.Helper()
	Run(t, "ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.Exec(t, "ip", "link", "set", aName, "up")
	b.Exec(t, "ip", "link", "set", bName, "up")
}

// Run runs a host command (ip, ...) with a timeout and returns its output; it
// fails t on error.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SyncBuffer is a bytes.Buffer safe for a process to write while a test reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
