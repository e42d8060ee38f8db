package notify_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// syslogServer collects RFC 5424 messages over UDP or TCP (octet counting).
type syslogServer struct {
	network string
	addr    string
	wg      sync.WaitGroup
	mu      sync.Mutex
	msgs    []string
	closeFn func()
}

func startSyslog(t testing.TB, network string) *syslogServer {
	t.Helper()
	s := &syslogServer{network: network}
	add := func(m string) {
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	}
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr, s.closeFn = pc.LocalAddr().String(), func() { _ = pc.Close() }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				add(string(buf[:n]))
			}
		}()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr, s.closeFn = ln.Addr().String(), func() { _ = ln.Close() }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					r := bufio.NewReader(c)
					for {
						m, err := readOctetCounted(r)
						if err != nil {
							return
						}
						add(m)
					}
				}()
			}
		}()
	default:
		t.Fatalf("network %q", network)
	}
	t.Cleanup(func() { s.closeFn(); s.wg.Wait() })
	return s
}

// readOctetCounted reads one RFC 6587 "MSG-LEN SP SYSLOG-MSG" frame.
func readOctetCounted(r *bufio.Reader) (string, error) {
	lenStr, err := r.ReadString(' ')
	if err != nil {
		return "", err
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(lenStr), "%d", &n); err != nil || n <= 0 {
		return "", errors.New("bad frame length " + lenStr)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// waitMessages waits until the syslog server has at least n messages.
func (s *syslogServer) waitMessages(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]string(nil), s.msgs...)
		s.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}
