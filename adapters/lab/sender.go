package lab

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered the namespace; the thread is
// discarded afterwards (never returned to the Go scheduler in the namespace).
func (n *Netns) Do(fn func() error) error {
	done := make(chan error, 1)
	go func() { // owned: runs fn once on a dedicated thread and returns
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		target, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open netns %s: %w", n.Path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("enter netns %s: %w", n.Path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// Sender writes prebuilt frames on an AF_PACKET socket opened in a namespace
// (the socket keeps it), bypassing the qdisc: a traffic generator for labs.
type Sender struct{ fd int }

// OpenSender opens a sender on iface inside n.
func OpenSender(n *Netns, iface string) (*Sender, error) {
	var s *Sender
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("find interface: %w", err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: send only
		if err != nil {
			return fmt.Errorf("open sender socket: %w", err)
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind sender socket: %w", err)
		}
		s = &Sender{fd: fd}
		return nil
	})
	return s, err
}

// Blast sends frames round-robin at rate frames/s for d and returns how many it
// sent. It paces in bursts of 64; ENOBUFS (a full device queue) is retried.
func (s *Sender) Blast(frames [][]byte, rate int, d time.Duration) (int, error) {
	const burst = 64
	start := time.Now()
	sent := 0
	for time.Since(start) < d {
		for i := 0; i < burst; i++ {
			f := frames[sent%len(frames)]
			if _, err := unix.Write(s.fd, f); err != nil {
				if err == unix.ENOBUFS || err == unix.EAGAIN {
					i--
					continue
				}
				return sent, fmt.Errorf("send frame %d: %w", sent, err)
			}
			sent++
		}
		if ahead := time.Duration(float64(sent)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return sent, nil
}

// Close closes the socket.
func (s *Sender) Close() { unix.Close(s.fd) }
