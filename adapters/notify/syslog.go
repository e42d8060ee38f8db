package notify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// SDID is the structured-data ID of HallMonitor's syslog messages. 32473 is the
// private enterprise number IANA reserves for documentation (RFC 5612); a site
// with its own PEN can set Syslog.SDID.
const SDID = "hallmonitor@32473"

// Syslog sends one RFC 5424 message per alert over UDP (RFC 5426: one message
// per datagram) or TCP (RFC 6587 octet counting), to a SIEM or a log server.
type Syslog struct {
	ChannelName   string // default "syslog"
	Network       string // udp (default) | tcp
	Addr          string // host:port
	Facility      int    // 0..23; default 16 (local0)
	Hostname      string // HOSTNAME field; default os.Hostname()
	SDID          string // default SDID
	IncludeDevice bool   // device MAC and host name as SD parameters
}

// Name returns the channel's name.
func (s *Syslog) Name() string { return nameOr(s.ChannelName, "syslog") }

// maxUDP keeps a datagram within what RFC 5426 receivers should accept.
const maxUDP = 2048

// Send writes one message per alert of the notification on one connection.
func (s *Syslog) Send(ctx context.Context, n Notification) error {
	if !s.IncludeDevice {
		n = n.withoutDevice()
	}
	network := s.Network
	if network == "" {
		network = "udp"
	}
	if network != "udp" && network != "tcp" {
		return errorf(s.Name(), fmt.Errorf("%w: network %q: want udp or tcp", ErrNotConfigured, network))
	}
	if s.Addr == "" {
		return errorf(s.Name(), fmt.Errorf("%w: addr is required", ErrNotConfigured))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, s.Addr)
	if err != nil {
		return errorf(s.Name(), fmt.Errorf("connect: %w", err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	now := time.Now()
	for _, a := range n.members() {
		msg := s.Format(n, a, now)
		if network == "udp" && len(msg) > maxUDP {
			msg = msg[:maxUDP]
		}
		if network == "tcp" {
			msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
		}
		if _, err := conn.Write(msg); err != nil {
			return errorf(s.Name(), fmt.Errorf("write: %w", err))
		}
	}
	return nil
}

// Format returns the RFC 5424 message for alert a of notification n:
//
//	<PRI>1 TIMESTAMP HOSTNAME hallmonitor PROCID alert|escalation [hallmonitor@32473 id=".." site=".." severity=".." rule=".." zone=".." clauses=".." action=".." kind=".." role=".." grouped=".."] BOM subject: reason
//
// PRI is Facility*8 plus the syslog severity of the alert's severity (critical 2,
// high 3, medium 4, low 5, anything else 6). clauses is comma-separated.
func (s *Syslog) Format(n Notification, a daemon.Alert, now time.Time) []byte {
	fac := s.Facility
	if fac <= 0 || fac > 23 {
		fac = 16
	}
	host := s.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	sdid := s.SDID
	if sdid == "" {
		sdid = SDID
	}
	msgid := "alert"
	if n.Escalation {
		msgid = "escalation"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s hallmonitor %d %s [%s", fac*8+syslogSeverity(a.Severity),
		now.UTC().Format("2006-01-02T15:04:05.000000Z"), header(host, 255), os.Getpid(), msgid, sdName(sdid))
	param := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, ` %s="%s"`, k, sdEscape(v))
		}
	}
	param("id", a.ID)
	param("site", a.SiteID)
	param("severity", a.Severity)
	param("rule", a.Rule)
	param("zone", a.Zone)
	param("clauses", strings.Join(a.Clauses, ","))
	param("action", a.Action)
	param("opened", a.OpenedAt.UTC().Format(time.RFC3339))
	param("kind", a.Device.Kind)
	param("role", a.Device.Role)
	param("mac", a.Device.MAC)
	param("hostname", a.Device.Hostname)
	if c := n.count(); c > 1 {
		param("grouped", strconv.Itoa(c))
	}
	param("link", n.Link(a.ID))
	b.WriteString("] \ufeff")
	b.WriteString(oneLine(n.Subject() + ": " + a.Reason))
	return []byte(b.String())
}

func syslogSeverity(sev string) int {
	switch strings.ToLower(sev) {
	case "critical":
		return 2
	case "high":
		return 3
	case "medium":
		return 4
	case "low":
		return 5
	}
	return 6
}

// header makes s a valid RFC 5424 header field: printable US-ASCII without
// spaces, at most max characters, "-" when empty.
func header(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, s)
	if len(s) > limit {
		s = s[:limit]
	}
	if s == "" {
		return "-"
	}
	return s
}

// sdName makes s a valid SD-NAME: header characters except '=', ']', '"', at most 32.
func sdName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '=' || r == ']' || r == '"' {
			return -1
		}
		return r
	}, header(s, 32))
	return s
}

// sdEscape escapes a PARAM-VALUE ('"', '\' and ']' take a backslash) and removes
// control characters.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(oneLine(s))
}
