package config

import (
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// SMTPChannel is email to the DSL (and whoever the routes name).
type SMTPChannel struct {
	Name          string
	Host          string
	Port          int
	Security      string // starttls (default) | tls | none
	Username      string
	Password      string // from password_file
	From          string
	To            []string
	IncludeDevice bool // device MAC and host name in the message (the DSL's own address only)
}

// WebhookChannel posts alerts to a URL: generic JSON, Microsoft Teams or Slack.
type WebhookChannel struct {
	Name          string
	Kind          string // generic | teams | slack
	URL           string // from url or url_file (a Teams/Slack URL is a secret)
	Secret        string // signs generic bodies (secret_file)
	IncludeDevice bool
}

// SyslogChannel sends RFC 5424 records to the school's log server.
type SyslogChannel struct {
	Name    string
	Network string // udp | tcp
	Addr    string
}

// Channels are the configured notification channels.
type Channels struct {
	SMTP     []SMTPChannel
	Webhooks []WebhookChannel
	Syslog   []SyslogChannel
}

// Names lists every channel's name.
func (c Channels) Names() []string {
	var out []string
	for _, s := range c.SMTP {
		out = append(out, s.Name)
	}
	for _, w := range c.Webhooks {
		out = append(out, w.Name)
	}
	for _, s := range c.Syslog {
		out = append(out, s.Name)
	}
	return out
}

var severities = []string{"info", "low", "medium", "high", "critical", "*"}

func alertingFull(d *yamlstrict.Decoder, n *yaml.Node, a *Alerting, read policy.ReadFile) {
	var routesNode, escalationNode *yaml.Node
	secret := func(v *yaml.Node, what string) string {
		s, ok := d.Scalar(v, what)
		if !ok {
			return ""
		}
		if read == nil {
			d.Errorf(s, "%s: files cannot be read here", what)
			return ""
		}
		data, err := read(s.Value)
		if err != nil {
			d.Errorf(s, "%s: %v", what, err)
			return ""
		}
		return strings.TrimRight(string(data), "\r\n")
	}
	d.Mapping(n, "alerting", yamlstrict.Fields{
		"throttle": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "alerting throttle"); ok {
				a.Throttle = t
			}
		},
		"dashboard_url": func(v *yaml.Node) {
			if s, ok := d.Scalar(v, "alerting dashboard_url"); ok {
				if u, err := url.Parse(s.Value); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					d.Errorf(s, "alerting dashboard_url: %q: want https://HOST/", s.Value)
					return
				}
				a.DashboardURL = s.Value
			}
		},
		"escalate_after": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "alerting escalate_after"); ok {
				a.EscalateAfter = t
			}
		},
		"smtp": func(v *yaml.Node) {
			d.Seq(v, "alerting smtp", func(item *yaml.Node) {
				c := SMTPChannel{Name: "email", Security: "starttls"}
				seen := d.Mapping(item, "smtp channel", yamlstrict.Fields{
					"name":     func(x *yaml.Node) { c.Name = d.String(x, "smtp name") },
					"host":     func(x *yaml.Node) { c.Host = d.String(x, "smtp host") },
					"port":     func(x *yaml.Node) { c.Port = portOf(d, x, "smtp port") },
					"security": func(x *yaml.Node) { c.Security, _ = oneOf(d, x, "smtp security", "starttls", "tls", "none") },
					"username": func(x *yaml.Node) { c.Username = d.String(x, "smtp username") },
					"password_file": func(x *yaml.Node) {
						c.Password = secret(x, "smtp password_file")
					},
					"from":           func(x *yaml.Node) { c.From = d.String(x, "smtp from") },
					"to":             func(x *yaml.Node) { c.To = d.Strings(x, "smtp to") },
					"include_device": func(x *yaml.Node) { c.IncludeDevice, _ = d.Bool(x, "smtp include_device") },
				})
				d.Require(item, seen, "smtp channel", "host", "from", "to")
				a.Channels.SMTP = append(a.Channels.SMTP, c)
			})
		},
		"webhooks": func(v *yaml.Node) {
			d.Seq(v, "alerting webhooks", func(item *yaml.Node) {
				c := WebhookChannel{Kind: "generic"}
				var urlNode *yaml.Node
				seen := d.Mapping(item, "webhook", yamlstrict.Fields{
					"name": func(x *yaml.Node) { c.Name = d.String(x, "webhook name") },
					"kind": func(x *yaml.Node) { c.Kind, _ = oneOf(d, x, "webhook kind", "generic", "teams", "slack") },
					"url":  func(x *yaml.Node) { urlNode = x; c.URL = d.String(x, "webhook url") },
					"url_file": func(x *yaml.Node) {
						urlNode = x
						c.URL = secret(x, "webhook url_file")
					},
					"secret_file":    func(x *yaml.Node) { c.Secret = secret(x, "webhook secret_file") },
					"include_device": func(x *yaml.Node) { c.IncludeDevice, _ = d.Bool(x, "webhook include_device") },
				})
				d.Require(item, seen, "webhook", "name")
				if urlNode == nil {
					d.Errorf(item, "webhook: needs url or url_file")
				} else if u, err := url.Parse(c.URL); c.URL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http")) {
					d.Errorf(urlNode, "webhook url: not an http(s) URL")
				}
				a.Channels.Webhooks = append(a.Channels.Webhooks, c)
			})
		},
		"syslog": func(v *yaml.Node) {
			d.Seq(v, "alerting syslog", func(item *yaml.Node) {
				c := SyslogChannel{Name: "syslog", Network: "udp"}
				seen := d.Mapping(item, "syslog channel", yamlstrict.Fields{
					"name":    func(x *yaml.Node) { c.Name = d.String(x, "syslog name") },
					"network": func(x *yaml.Node) { c.Network, _ = oneOf(d, x, "syslog network", "udp", "tcp") },
					"address": func(x *yaml.Node) { c.Addr = d.String(x, "syslog address") },
				})
				d.Require(item, seen, "syslog channel", "address")
				a.Channels.Syslog = append(a.Channels.Syslog, c)
			})
		},
		"routes":     func(v *yaml.Node) { routesNode = v },
		"escalation": func(v *yaml.Node) { escalationNode = v },
	})
	names := a.Channels.Names()
	for i, nm := range names {
		if slices.Contains(names[:i], nm) {
			d.Errorf(n, "alerting: two channels are named %q: give each a name", nm)
		}
	}
	a.Routes = routes(d, routesNode, "routes", names)
	a.Escalation = routes(d, escalationNode, "escalation", names)
}

// routes reads severity → channel names; nil when absent.
func routes(d *yamlstrict.Decoder, n *yaml.Node, what string, names []string) map[string][]string {
	if n == nil {
		return nil
	}
	out := map[string][]string{}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "alerting %s: want severity: [channel, ...]", what)
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !slices.Contains(severities, k.Value) {
			d.Errorf(k, "alerting %s: unknown severity %q (want one of %s)", what, k.Value, strings.Join(severities, ", "))
			continue
		}
		for _, ch := range d.Strings(val, "alerting "+what) {
			if !slices.Contains(names, ch) {
				d.Errorf(val, "alerting %s %s: no channel is named %q", what, k.Value, ch)
				continue
			}
			out[k.Value] = append(out[k.Value], ch)
		}
	}
	return out

}

func portOf(d *yamlstrict.Decoder, n *yaml.Node, what string) int {
	s, ok := d.Scalar(n, what)
	if !ok {
		return 0
	}
	var p int
	for _, c := range s.Value {
		if c < '0' || c > '9' {
			d.Errorf(s, "%s: %q is not a port number", what, s.Value)
			return 0
		}
		p = p*10 + int(c-'0')
		if p > 65535 {
			d.Errorf(s, "%s: %q is not a port number", what, s.Value)
			return 0
		}
	}
	return p
}
