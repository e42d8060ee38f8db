package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A real unixgram socket stands in for systemd: the daemon's lifecycle messages
// must arrive in the exact form systemd parses.
func TestMessagesReachTheServiceManager(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if !n.Enabled() {
		t.Fatal("notifier disabled with NOTIFY_SOCKET set")
	}
	read := func() string {
		t.Helper()
		buf := make([]byte, 512)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:k])
	}
	if err := n.Ready("watching 2 interfaces"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "READY=1\nSTATUS=watching 2 interfaces" {
		t.Fatalf("ready = %q", got)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading = %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("stopping = %q", got)
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Ready(""); err != nil {
		t.Fatalf("Ready outside systemd: %v, want nil", err)
	}
}
