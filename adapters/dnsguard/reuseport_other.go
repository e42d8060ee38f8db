//go:build !linux

package dnsguard

import "syscall"

const haveReusePort = false

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
