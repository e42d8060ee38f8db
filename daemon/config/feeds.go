package config

import (
	"net/netip"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// Feeds are the location feeds: where access points say each device is.
type Feeds struct {
	Syslog *SyslogFeed // nil when not configured
	Radius *RadiusFeed // nil when not configured
}

// SyslogFeed receives access-point association events (hostapd/OpenWrt, UniFi,
// Aruba Instant, or custom named regular expressions).
type SyslogFeed struct {
	Listen          []string // "udp://10.0.0.1:514", "tcp://10.0.0.1:514"
	Allow           []netip.Prefix
	SSIDByInterface map[string]string
	Custom          []CustomParser
}

// CustomParser describes another vendor's lines with named groups (mac, event;
// optional ap, ssid, apmac) and how its event words map to associate | roam |
// disassociate.
type CustomParser struct {
	Name    string
	Pattern string
	Events  map[string]string
}

// RadiusFeed receives RADIUS accounting from the APs or the controller.
type RadiusFeed struct {
	Listen  string // "10.0.0.1:1813"
	Clients []RadiusClient
	Roles   []IdentityRole
}

// RadiusClient is a RADIUS client network and its shared secret.
type RadiusClient struct {
	Prefix netip.Prefix
	Secret []byte
}

// IdentityRole maps 802.1X identities (globs) to a role.
type IdentityRole struct {
	Pattern string
	Role    string
}

var apEvents = []string{"associate", "roam", "disassociate"}

func feeds(d *yamlstrict.Decoder, n *yaml.Node, f *Feeds, read policy.ReadFile) {
	d.Mapping(n, "feeds", yamlstrict.Fields{
		"syslog": func(v *yaml.Node) {
			f.Syslog = &SyslogFeed{}
			syslogFeed(d, v, f.Syslog)
		},
		"radius": func(v *yaml.Node) {
			f.Radius = &RadiusFeed{}
			radiusFeed(d, v, f.Radius, read)
		},
	})
}

func prefixes(d *yamlstrict.Decoder, n *yaml.Node, what string) []netip.Prefix {
	var out []netip.Prefix
	d.Seq(n, what, func(item *yaml.Node) {
		s, ok := d.Scalar(item, what)
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(s.Value)
		if err != nil {
			if a, aerr := netip.ParseAddr(s.Value); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				d.Errorf(s, "%s: %q is not an address or CIDR prefix", what, s.Value)
				return
			}
		}
		out = append(out, p.Masked())
	})
	return out
}

func syslogFeed(d *yamlstrict.Decoder, n *yaml.Node, f *SyslogFeed) {
	seen := d.Mapping(n, "feeds syslog", yamlstrict.Fields{
		"listen": func(v *yaml.Node) {
			d.Seq(v, "feeds syslog listen", func(item *yaml.Node) {
				s, ok := d.Scalar(item, "feeds syslog listen")
				if !ok {
					return
				}
				if !strings.HasPrefix(s.Value, "udp://") && !strings.HasPrefix(s.Value, "tcp://") {
					d.Errorf(s, "feeds syslog listen: %q: want udp://ADDRESS:PORT or tcp://ADDRESS:PORT", s.Value)
					return
				}
				f.Listen = append(f.Listen, s.Value)
			})
		},
		"allow": func(v *yaml.Node) { f.Allow = prefixes(d, v, "feeds syslog allow") },
		"ssid_by_interface": func(v *yaml.Node) {
			f.SSIDByInterface = map[string]string{}
			fields := yamlstrict.Fields{}
			if v.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(v.Content); i += 2 {
					k := v.Content[i].Value
					fields[k] = func(val *yaml.Node) {
						if s, ok := d.Scalar(val, "feeds syslog ssid_by_interface "+k); ok {
							f.SSIDByInterface[k] = s.Value
						}
					}
				}
			}
			d.Mapping(v, "feeds syslog ssid_by_interface", fields)
		},
		"custom": func(v *yaml.Node) {
			d.Seq(v, "feeds syslog custom", func(item *yaml.Node) {
				var c CustomParser
				var patNode *yaml.Node
				seen := d.Mapping(item, "custom parser", yamlstrict.Fields{
					"name":    func(x *yaml.Node) { c.Name = d.String(x, "custom parser name") },
					"pattern": func(x *yaml.Node) { patNode = x; c.Pattern = d.String(x, "custom parser pattern") },
					"events": func(x *yaml.Node) {
						c.Events = map[string]string{}
						if x.Kind != yaml.MappingNode {
							d.Errorf(x, "custom parser events: want a mapping of the vendor's words to associate, roam or disassociate")
							return
						}
						for i := 0; i+1 < len(x.Content); i += 2 {
							k, val := x.Content[i].Value, x.Content[i+1]
							if ev, ok := oneOf(d, val, "custom parser event "+k, apEvents...); ok {
								c.Events[k] = ev
							}
						}
					},
				})
				d.Require(item, seen, "custom parser", "name", "pattern", "events")
				if patNode != nil && c.Pattern != "" {
					re, err := regexp.Compile(c.Pattern)
					switch {
					case err != nil:
						d.Errorf(patNode, "custom parser pattern: %v", err)
					case re.SubexpIndex("mac") < 0 || re.SubexpIndex("event") < 0:
						d.Errorf(patNode, "custom parser pattern: needs the named groups (?P<mac>...) and (?P<event>...)")
					}
				}
				f.Custom = append(f.Custom, c)
			})
		},
	})
	d.Require(n, seen, "feeds syslog", "listen", "allow")
}

func radiusFeed(d *yamlstrict.Decoder, n *yaml.Node, f *RadiusFeed, read policy.ReadFile) {
	seen := d.Mapping(n, "feeds radius", yamlstrict.Fields{
		"listen": func(v *yaml.Node) { f.Listen = d.String(v, "feeds radius listen") },
		"clients": func(v *yaml.Node) {
			d.Seq(v, "feeds radius clients", func(item *yaml.Node) {
				var c RadiusClient
				var secretNode *yaml.Node
				seen := d.Mapping(item, "radius client", yamlstrict.Fields{
					"prefix": func(x *yaml.Node) {
						if ps := prefixes(d, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{x}, Line: x.Line, Column: x.Column}, "radius client prefix"); len(ps) == 1 {
							c.Prefix = ps[0]
						}
					},
					"secret": func(x *yaml.Node) { secretNode = x; c.Secret = []byte(d.String(x, "radius client secret")) },
					"secret_file": func(x *yaml.Node) {
						secretNode = x
						s, ok := d.Scalar(x, "radius client secret_file")
						if !ok {
							return
						}
						if read == nil {
							d.Errorf(s, "radius client secret_file: files cannot be read here")
							return
						}
						data, err := read(s.Value)
						if err != nil {
							d.Errorf(s, "radius client secret_file: %v", err)
							return
						}
						c.Secret = []byte(strings.TrimRight(string(data), "\r\n"))
					},
				})
				d.Require(item, seen, "radius client", "prefix")
				if secretNode == nil {
					d.Errorf(item, "radius client: needs secret or secret_file (the shared secret)")
				} else if len(c.Secret) < 8 {
					d.Errorf(secretNode, "radius client: the shared secret must have at least 8 characters")
				}
				f.Clients = append(f.Clients, c)
			})
		},
		"roles": func(v *yaml.Node) {
			d.Seq(v, "feeds radius roles", func(item *yaml.Node) {
				var r IdentityRole
				seen := d.Mapping(item, "identity role", yamlstrict.Fields{
					"pattern": func(x *yaml.Node) { r.Pattern = d.String(x, "identity role pattern") },
					"role": func(x *yaml.Node) {
						if role, ok := oneOf(d, x, "identity role", policy.Roles...); ok {
							r.Role = role
						}
					},
				})
				d.Require(item, seen, "identity role", "pattern", "role")
				f.Roles = append(f.Roles, r)
			})
		},
	})
	d.Require(n, seen, "feeds radius", "listen", "clients")
}
