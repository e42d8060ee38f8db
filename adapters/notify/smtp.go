package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// SMTP security modes.
const (
	SecuritySTARTTLS = "starttls" // default: plain connection upgraded with STARTTLS, which is required
	SecurityTLS      = "tls"      // implicit TLS from the first byte (port 465)
	SecurityNone     = "none"     // no TLS at all: only when explicitly configured
)

// SMTP sends a plain-text e-mail per notification.
type SMTP struct {
	ChannelName string // default "email"
	Host        string
	Port        int    // default 587 (starttls), 465 (tls), 25 (none)
	Security    string // starttls (default) | tls | none
	Username    string // AUTH PLAIN when set
	Password    string
	From        string
	To          []string
	// IncludeDevice puts the device MAC and host name in the message: for the
	// DSL's own address, not for a shared mailbox.
	IncludeDevice bool
	TLSConfig     *tls.Config // nil: system roots, ServerName = Host
	LocalName     string      // EHLO name; default "localhost"
}

// Name returns the channel's name.
func (s *SMTP) Name() string {
	if s.ChannelName != "" {
		return s.ChannelName
	}
	return "email"
}

// Validate reports missing or unsafe settings.
func (s *SMTP) Validate() error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, errors.New("host is required"))
	}
	switch s.Security {
	case "", SecuritySTARTTLS, SecurityTLS, SecurityNone:
	default:
		errs = append(errs, fmt.Errorf("security %q: want starttls, tls or none", s.Security))
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		errs = append(errs, fmt.Errorf("from %q: %w", s.From, err))
	}
	if len(s.To) == 0 {
		errs = append(errs, errors.New("at least one recipient (to) is required"))
	}
	for _, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			errs = append(errs, fmt.Errorf("to %q: %w", to, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify %s: %w: %w", s.Name(), ErrNotConfigured, err)
	}
	return nil
}

func (s *SMTP) security() string {
	if s.Security == "" {
		return SecuritySTARTTLS
	}
	return s.Security
}

func (s *SMTP) addr() string {
	port := s.Port
	if port == 0 {
		switch s.security() {
		case SecurityTLS:
			port = 465
		case SecurityNone:
			port = 25
		default:
			port = 587
		}
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

func (s *SMTP) tlsConfig() *tls.Config {
	var c *tls.Config
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = s.Host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// Send delivers one message to every recipient. It returns nil once the server
// has accepted the DATA; a failure after that (QUIT) does not count, so the
// message is not sent twice.
func (s *SMTP) Send(ctx context.Context, n Notification) error {
	if err := s.Validate(); err != nil {
		return err
	}
	msg, err := s.message(n)
	if err != nil {
		return errorf(s.Name(), err)
	}
	return errorf(s.Name(), s.send(ctx, msg))
}

func (s *SMTP) send(ctx context.Context, msg []byte) error {
	d := &net.Dialer{}
	var (
		conn net.Conn
		err  error
	)
	if s.security() == SecurityTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.addr())
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr())
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation unblocks a server that stopped answering mid-conversation.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if s.security() == SecuritySTARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS, which is required (set security: none to send unencrypted)")
		}
		if err := c.StartTLS(s.tlsConfig()); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.Username != "" {
		if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(" "+strings.ToUpper(mechs)+" ", " PLAIN ") {
			return fmt.Errorf("server does not offer AUTH PLAIN (offers %q)", mechs)
		}
		// PlainAuth itself refuses to send the password over an unencrypted
		// connection to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	from, _ := mail.ParseAddress(s.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range s.To {
		addr, _ := mail.ParseAddress(to)
		if err := c.Rcpt(addr.Address); err != nil {
			return fmt.Errorf("RCPT TO <%s>: %w", addr.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	_ = c.Quit() // accepted: a failing QUIT must not cause a second copy
	return nil
}

// message builds the RFC 5322 message: plain text, UTF-8, quoted-printable.
func (s *SMTP) message(n Notification) ([]byte, error) {
	if !s.IncludeDevice {
		n = n.withoutDevice()
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	domain := "hallmonitor.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	var tos []string
	for _, t := range s.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
		tos = append(tos, a.String())
	}
	kind := "alert"
	if n.Escalation {
		kind = "escalation"
	}
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(tos, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", n.Subject()))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	// One Message-ID per alert and kind: if a crash between sending and recording
	// the delivery makes the outbox send again, mail systems can spot the copy.
	hdr("Message-ID", "<"+oneLine(n.Alert.ID)+"."+kind+"@"+oneLine(domain)+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-HallMonitor-Alert", oneLine(n.Alert.ID))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(n.Text(), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
