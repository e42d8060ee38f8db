// Package notify tells people about alerts outside the dashboard: e-mail (SMTP
// with STARTTLS and AUTH PLAIN), generic JSON webhooks, Microsoft Teams, Slack and
// syslog (RFC 5424), through a durable outbox (see Outbox) kept in the store, so
// an unreachable mail server delays an alert but never loses it.
//
// Personal data. A device's MAC and host name go only to channels configured with
// IncludeDevice (the DSL's own e-mail, typically); every other channel gets the
// device's kind and role. Logs above debug never carry either.
package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Channel delivers notifications somewhere. Send returns nil only when the far
// end accepted the notification; the outbox retries on any error.
type Channel interface {
	Name() string
	Send(ctx context.Context, n Notification) error
}

// Notification is what a channel sends: one alert, or several that breached the
// same rule in the same zone together (Grouped > 1, Alerts lists them, Alert is
// the first).
type Notification struct {
	Alert        daemon.Alert
	SiteName     string
	DashboardURL string // the dashboard's base URL ("https://hallmonitor.school.example"); "" for no links
	Grouped      int    // >1 when several devices breached together in one zone
	Alerts       []daemon.Alert
	Escalation   bool           // the alert stayed unacknowledged: this goes to the escalation route
	Location     *time.Location // for the times people read; nil means UTC
}

// Link returns the dashboard address of the alert with id, or "" without a
// dashboard URL.
func (n Notification) Link(id string) string {
	if n.DashboardURL == "" {
		return ""
	}
	return strings.TrimRight(n.DashboardURL, "/") + "/alerts#alert-" + id
}

// members returns the alerts the notification is about (at least Alert).
func (n Notification) members() []daemon.Alert {
	if len(n.Alerts) > 0 {
		return n.Alerts
	}
	return []daemon.Alert{n.Alert}
}

// count is how many devices the notification covers.
func (n Notification) count() int {
	return max(1, n.Grouped, len(n.Alerts))
}

// withoutDevice returns n with every device MAC and host name removed, for
// channels not configured to carry them.
func (n Notification) withoutDevice() Notification {
	strip := func(a daemon.Alert) daemon.Alert {
		a.Device.MAC, a.Device.Hostname = "", ""
		return a
	}
	n.Alert = strip(n.Alert)
	n.Alerts = slices.Clone(n.Alerts)
	for i := range n.Alerts {
		n.Alerts[i] = strip(n.Alerts[i])
	}
	return n
}

func (n Notification) local(t time.Time) string {
	loc := n.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("Mon 2 Jan 2006 15:04:05 MST")
}

// Subject is "[HallMonitor] <severity> <rule> in <zone>", with "ESCALATED" before
// the severity for an escalation and "(N devices)" after a group.
func (n Notification) Subject() string {
	var b strings.Builder
	b.WriteString("[HallMonitor] ")
	if n.Escalation {
		b.WriteString("ESCALATED ")
	}
	fmt.Fprintf(&b, "%s %s in %s", n.Alert.Severity, n.Alert.Rule, n.Alert.Zone)
	if c := n.count(); c > 1 {
		fmt.Fprintf(&b, " (%d devices)", c)
	}
	return oneLine(b.String())
}

// Text is the plain-text body people read (e-mail; the other channels' fallback):
// the reason, the clauses, the device(s) and a link to each alert. The device MAC
// and host name appear only if n still carries them.
func (n Notification) Text() string {
	var b strings.Builder
	a := n.Alert
	if n.Escalation {
		fmt.Fprintf(&b, "ESCALATION: this alert has not been acknowledged since it opened at %s.\n\n", n.local(a.OpenedAt))
	}
	if c := n.count(); c > 1 {
		fmt.Fprintf(&b, "%d devices breached %s in %s together.\n\n", c, a.Rule, a.Zone)
	}
	fmt.Fprintf(&b, "%s\n\n", a.Reason)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", v)
		}
	}
	row("Severity", a.Severity)
	row("Rule", a.Rule)
	row("Clauses", strings.Join(a.Clauses, ", "))
	row("Zone", a.Zone)
	row("Action", a.Action)
	row("Site", n.SiteName)
	for i, m := range n.members() {
		b.WriteString("\n")
		if n.count() > 1 {
			fmt.Fprintf(&b, "Device %d of %d\n", i+1, n.count())
		}
		row("Opened", n.local(m.OpenedAt))
		row("Device", deviceLine(m.Device))
		row("MAC", m.Device.MAC)
		row("Host name", m.Device.Hostname)
		row("Alert", m.ID)
		row("Open", n.Link(m.ID))
	}
	b.WriteString("\nAcknowledge and record the outcome on the dashboard. This message was sent by HallMonitor.\n")
	return b.String()
}

func deviceLine(d daemon.AlertDevice) string {
	s := d.Kind
	if d.OS != "" && d.OS != "unknown" {
		s += " (" + d.OS + ")"
	}
	if d.Role != "" {
		s += ", " + d.Role
	}
	return s
}

// oneLine replaces control characters (CR, LF among them) with spaces, so names
// from the configuration cannot break a header or a syslog line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Group splits alerts into groups of the same zone and rule whose members opened
// within window of the group's first alert: thirty phones coming online in one
// classroom at 08:30 make one notification, not thirty. Each group is ordered by
// opening time, and the groups by their first alert; a window <= 0 puts every
// alert in a group of its own.
func Group(alerts []daemon.Alert, window time.Duration) [][]daemon.Alert {
	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b daemon.Alert) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	type key struct{ zone, rule string }
	open := map[key]int{} // the group index still accepting members
	var groups [][]daemon.Alert
	for _, a := range sorted {
		k := key{a.Zone, a.Rule}
		if i, ok := open[k]; ok && window > 0 && a.OpenedAt.Sub(groups[i][0].OpenedAt) <= window {
			groups[i] = append(groups[i], a)
			continue
		}
		groups = append(groups, []daemon.Alert{a})
		open[k] = len(groups) - 1
	}
	return groups
}

// errorf wraps err with the channel's name.
func errorf(channel string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("notify %s: %w", channel, err)
}

// ErrNotConfigured is returned (wrapped) for a channel missing required settings.
var ErrNotConfigured = errors.New("channel not configured")
