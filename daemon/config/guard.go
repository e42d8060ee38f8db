package config

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// Bypass configures filter-bypass detection on the capture interfaces.
type Bypass struct {
	Detect          bool
	SchoolResolvers []netip.Addr   // the filtered resolvers DHCP hands out
	Allowed         []netip.Prefix // destinations never reported (the trust's VPN, the filter's own DoH)
}

// DNSGuard configures the optional DNS forwarder for the pupil VLAN.
type DNSGuard struct {
	Listen      []string // "10.30.0.1:53"
	Upstreams   []string // the school's filtered resolvers, "10.0.0.53:53"
	BlockPageV4 netip.Addr
	BlockPageV6 netip.Addr
	Allow       []string // DoH resolver names the school's own filter uses (kept working)
}

func addrs(d *yamlstrict.Decoder, n *yaml.Node, what string) []netip.Addr {
	var out []netip.Addr
	d.Seq(n, what, func(item *yaml.Node) {
		if s, ok := d.Scalar(item, what); ok {
			a, err := netip.ParseAddr(s.Value)
			if err != nil {
				d.Errorf(s, "%s: %q is not an IP address", what, s.Value)
				return
			}
			out = append(out, a)
		}
	})
	return out
}

func hostPorts(d *yamlstrict.Decoder, n *yaml.Node, what string) []string {
	var out []string
	d.Seq(n, what, func(item *yaml.Node) {
		if s, ok := d.Scalar(item, what); ok {
			if _, err := netip.ParseAddrPort(s.Value); err != nil {
				d.Errorf(s, "%s: %q: want ADDRESS:PORT, e.g. 10.30.0.1:53", what, s.Value)
				return
			}
			out = append(out, s.Value)
		}
	})
	return out
}

func bypass(d *yamlstrict.Decoder, n *yaml.Node, b *Bypass) {
	d.Mapping(n, "bypass", yamlstrict.Fields{
		"detect": func(v *yaml.Node) {
			if on, ok := d.Bool(v, "bypass detect"); ok {
				b.Detect = on
			}
		},
		"school_resolvers": func(v *yaml.Node) { b.SchoolResolvers = addrs(d, v, "bypass school_resolvers") },
		"allowed":          func(v *yaml.Node) { b.Allowed = prefixes(d, v, "bypass allowed") },
	})
}

func dnsGuard(d *yamlstrict.Decoder, n *yaml.Node, g *DNSGuard) {
	seen := d.Mapping(n, "dnsguard", yamlstrict.Fields{
		"listen":    func(v *yaml.Node) { g.Listen = hostPorts(d, v, "dnsguard listen") },
		"upstreams": func(v *yaml.Node) { g.Upstreams = hostPorts(d, v, "dnsguard upstreams") },
		"block_page": func(v *yaml.Node) {
			for _, a := range addrs(d, v, "dnsguard block_page") {
				if a.Is4() {
					g.BlockPageV4 = a
				} else {
					g.BlockPageV6 = a
				}
			}
		},
		"allow": func(v *yaml.Node) {
			for _, s := range d.Strings(v, "dnsguard allow") {
				g.Allow = append(g.Allow, strings.ToLower(strings.TrimSuffix(s, ".")))
			}
		},
	})
	d.Require(n, seen, "dnsguard", "listen", "upstreams")
}
