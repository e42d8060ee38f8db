// Package sdnotify speaks systemd's notify protocol (sd_notify(3)) for services
// with Type=notify: READY=1, RELOADING=1 (with MONOTONIC_USEC), STOPPING=1, STATUS=.
// Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Notifier sends state changes to the service manager.
type Notifier struct {
	addr *net.UnixAddr // nil when not under systemd
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET (abstract sockets start with '@').
func FromEnv() *Notifier {
	s := os.Getenv("NOTIFY_SOCKET")
	if s == "" {
		return &Notifier{}
	}
	return &Notifier{addr: &net.UnixAddr{Name: s, Net: "unixgram"}}
}

// Enabled reports whether a service manager is listening.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Send sends raw newline-separated assignments, e.g. "READY=1\nSTATUS=running".
func (n *Notifier) Send(state string) error {
	if n == nil || n.addr == nil { // a nil Notifier: not under systemd
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: dial %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: send: %w", err)
	}
	return nil
}

// Ready tells systemd the service is up.
func (n *Notifier) Ready(status string) error { return n.Send(join("READY=1", status)) }

// Reloading tells systemd a reload started; it must be followed by Ready.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("sd_notify: monotonic clock: %w", err)
	}
	usec := ts.Sec*1_000_000 + ts.Nsec/1000
	return n.Send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec))
}

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Status sets the free-form status line shown by systemctl status.
func (n *Notifier) Status(status string) error {
	if status == "" {
		return errors.New("sd_notify: empty status")
	}
	return n.Send("STATUS=" + status)
}

func join(state, status string) string {
	if status == "" {
		return state
	}
	return state + "\nSTATUS=" + strings.ReplaceAll(status, "\n", " ")
}
