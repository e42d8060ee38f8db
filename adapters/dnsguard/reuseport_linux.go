package dnsguard

import (
	"syscall"

	"golang.org/x/sys/unix"
)

const haveReusePort = true

// reusePort sets SO_REUSEPORT, so several sockets (of this process's user)
// can bind the same address and the kernel spreads clients over them.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
