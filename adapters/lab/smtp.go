package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// SelfSigned returns a server certificate for 127.0.0.1 and localhost, made for
// this test, and a pool that trusts it (for TLS servers a test starts).
func SelfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
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

// SMTPMessage is one message the test SMTP server accepted.
type SMTPMessage struct {
	From string
	To   []string
	Data string
	TLS  bool   // the DATA came over TLS
	User string // the AUTH PLAIN identity, "" when not authenticated
}

// SMTPOptions configures StartSMTP.
type SMTPOptions struct {
	STARTTLS bool // offer STARTTLS
	Implicit bool // TLS from the first byte
	User     string
	Pass     string // AUTH PLAIN required when User is set
	Addr     string // listen address; "" for 127.0.0.1:0 (a fixed one lets a test restart the server)
}

// SMTPServer is a mail server on loopback that records what it accepts. It
// speaks enough ESMTP for net/smtp: EHLO/HELO, STARTTLS, AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT. AUTH is offered only over TLS.
type SMTPServer struct {
	t    testing.TB
	ln   net.Listener
	o    SMTPOptions
	cert tls.Certificate
	wg   sync.WaitGroup

	mu    sync.Mutex
	msgs  []SMTPMessage
	conns map[net.Conn]bool
}

// StartSMTP starts an SMTP server (cert is used for STARTTLS and implicit TLS;
// a zero one for a plain server); it is stopped in t.Cleanup.
func StartSMTP(t testing.TB, cert tls.Certificate, o SMTPOptions) *SMTPServer {
	t.Helper()
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtp listen %s: %v", addr, err)
	}
	if o.Implicit {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	s := &SMTPServer{t: t, ln: ln, o: o, cert: cert, conns: map[net.Conn]bool{}}
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
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *SMTPServer) Addr() string { return s.ln.Addr().String() }

// Port is the server's TCP port.
func (s *SMTPServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Stop closes the listener and every connection and waits for the handlers
// (an outage, for tests of delivery retries); it may be called more than once.
func (s *SMTPServer) Stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

func (s *SMTPServer) serve(conn net.Conn) {
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
		cur  *SMTPMessage
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
			if s.o.STARTTLS && !isTLS {
				lines = append(lines, "STARTTLS")
			}
			if isTLS && s.o.User != "" {
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
			if !s.o.STARTTLS || isTLS {
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
			if err != nil || len(parts) != 3 || parts[1] != s.o.User || parts[2] != s.o.Pass {
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			user = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.o.User != "" && user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			cur = &SMTPMessage{From: addrArg(arg), TLS: isTLS, User: user}
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
