package notify_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// selfSigned returns a server certificate for 127.0.0.1 and localhost, made for
// this test, and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hallmonitor test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpMsg is one message the test server accepted.
type smtpMsg struct {
	From string
	To   []string
	Data string
	TLS  bool   // the DATA came over TLS
	User string // the AUTH PLAIN identity, "" when not authenticated
}

type smtpOpts struct {
	starttls bool // offer STARTTLS
	implicit bool // TLS from the first byte
	user     string
	pass     string // AUTH PLAIN required when user is set
	addr     string // listen address; "" for 127.0.0.1:0
}

// smtpServer speaks enough ESMTP for net/smtp: EHLO/HELO, STARTTLS, AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT. AUTH is offered only over TLS.
type smtpServer struct {
	t    testing.TB
	ln   net.Listener
	o    smtpOpts
	cert tls.Certificate
	wg   sync.WaitGroup

	mu    sync.Mutex
	msgs  []smtpMsg
	conns map[net.Conn]bool
}

func startSMTP(t testing.TB, cert tls.Certificate, o smtpOpts) *smtpServer {
	t.Helper()
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtp listen %s: %v", addr, err)
	}
	if o.implicit {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	s := &smtpServer{t: t, ln: ln, o: o, cert: cert, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// stop closes the listener and every connection and waits for the handlers.
func (s *smtpServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *smtpServer) messages() []smtpMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMsg(nil), s.msgs...)
}

func (s *smtpServer) serve(conn net.Conn) {
	orig := conn
	defer func() {
		_ = conn.Close()
		s.mu.Lock()
		delete(s.conns, orig)
		s.mu.Unlock()
	}()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, isTLS := conn.(*tls.Conn)
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) bool { return tp.PrintfLine(format, args...) == nil }
	var (
		user string
		cur  *smtpMsg
	)
	if !reply("220 test.invalid ESMTP ready") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"test.invalid greets " + arg}
			if s.o.starttls && !isTLS {
				lines = append(lines, "STARTTLS")
			}
			if isTLS && s.o.user != "" {
				lines = append(lines, "AUTH PLAIN")
			}
			lines = append(lines, "8BITMIME")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				if !reply("250%s%s", sep, l) {
					return
				}
			}
		case "STARTTLS":
			if !s.o.starttls || isTLS {
				reply("502 not offered")
				continue
			}
			if !reply("220 go ahead") {
				return
			}
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if err := tc.Handshake(); err != nil {
				return // the client refused our certificate
			}
			conn, isTLS, user, cur = tc, true, "", nil
			tp = textproto.NewConn(conn)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !isTLS {
				reply("538 encryption required")
				continue
			}
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 unknown mechanism")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.o.user || parts[2] != s.o.pass {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			user = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.o.user != "" && user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			cur = &smtpMsg{From: addrArg(arg), TLS: isTLS, User: user}
			reply("250 ok")
		case "RCPT":
			if cur == nil {
				reply("503 MAIL first")
				continue
			}
			cur.To = append(cur.To, addrArg(arg))
			reply("250 ok")
		case "DATA":
			if cur == nil || len(cur.To) == 0 {
				reply("503 RCPT first")
				continue
			}
			if !reply("354 end with .") {
				return
			}
			b, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			cur.Data = string(b)
			s.mu.Lock()
			s.msgs = append(s.msgs, *cur)
			s.mu.Unlock()
			cur = nil
			reply("250 queued")
		case "RSET", "NOOP":
			cur = nil
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// addrArg extracts the address from "FROM:<a@b>" / "TO:<a@b> ...".
func addrArg(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	a, _, _ := strings.Cut(rest, ">")
	return a
}

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
