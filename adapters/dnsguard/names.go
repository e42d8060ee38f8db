package dnsguard

import (
	"slices"
	"strings"
)

// What a name is to the guard.
type nameKind uint8

const (
	nameOther    nameKind = iota
	nameCanary            // a vendor's documented "this network filters" signal
	nameResolver          // a public DoH/DoT resolver's host name
)

// canaries are answered NXDOMAIN for every client, as each vendor documents:
//
//   - mask.icloud.com, mask-h2.icloud.com: Apple, "Prepare your network or web
//     server for iCloud Private Relay", section "Allow for network traffic
//     audits" (https://developer.apple.com/support/prepare-your-network-for-icloud-private-relay/):
//     networks that must audit traffic can block Private Relay by returning a
//     negative answer (NXDOMAIN or "no error, no answer") for these two names;
//     the device then tells the user Private Relay is off on this network.
//   - use-application-dns.net: Mozilla's canary domain
//     (https://support.mozilla.org/en-US/kb/canary-domain-use-application-dnsnet):
//     a response other than NOERROR (NXDOMAIN) disables Firefox's default-on
//     DNS over HTTPS. It does not apply when the user turned DoH on themselves;
//     the resolver names below cover that case.
var canaries = []string{
	"mask.icloud.com",
	"mask-h2.icloud.com",
	"use-application-dns.net",
}

// resolverNames are public DNS-over-HTTPS / DNS-over-TLS resolvers, answered
// NXDOMAIN (with every name under them) so that a browser or OS configured to
// use one by name cannot bootstrap it and falls back to the system resolver,
// which on the pupil VLAN is this guard and hence the school's filtered
// resolvers. Sources:
//
//   - Chromium's DoH provider table, net/dns/public/doh_provider_entry.cc
//     (Google, Cloudflare, CleanBrowsing, Quad9, OpenDNS, NextDNS, ...), the
//     list Chrome's "secure DNS" menu and auto-upgrade use;
//   - Firefox's TRR providers (network.trr.resolvers / remote settings
//     "doh-providers": Cloudflare's mozilla.cloudflare-dns.com, NextDNS's
//     firefox.dns.nextdns.io, ...);
//   - Android's Private DNS documentation, which names dns.google and
//     one.one.one.one as provider host names;
//   - the curl project's list of public DoH servers
//     (https://github.com/curl/curl/wiki/DNS-over-HTTPS) for AdGuard, Mullvad,
//     Control D, DNS.SB and dns0.eu.
//
// Only names whose whole subtree is a resolver service are listed (never, say,
// google.com or quad9.net, which carry websites). Schools whose own filtered
// resolver is one of these (a CleanBrowsing or OpenDNS filtering plan used by
// managed devices over DoH) remove it with Options.AllowResolvers.
var resolverNames = []string{
	// Google Public DNS
	"dns.google", "dns.google.com", "8888.google",
	// Cloudflare 1.1.1.1 (incl. mozilla., chrome., security., family. ...)
	"cloudflare-dns.com", "one.one.one.one", "1dot1dot1dot1.cloudflare-dns.com",
	// Quad9
	"dns.quad9.net", "dns9.quad9.net", "dns10.quad9.net", "dns11.quad9.net", "dns12.quad9.net",
	// Cisco OpenDNS / Umbrella public DoH
	"doh.opendns.com", "doh.familyshield.opendns.com",
	// NextDNS (incl. firefox., chromium., anycast. ...)
	"dns.nextdns.io",
	// CleanBrowsing
	"doh.cleanbrowsing.org",
	// AdGuard DNS
	"dns.adguard.com", "dns.adguard-dns.com", "unfiltered.adguard-dns.com", "family.adguard-dns.com",
	// Mullvad
	"dns.mullvad.net", "doh.mullvad.net",
	// Control D
	"dns.controld.com", "freedns.controld.com",
	// Comcast Xfinity (Firefox TRR), CIRA Canadian Shield (Firefox TRR)
	"doh.xfinity.com", "private.canadianshield.cira.ca",
	// DNS.SB, dns0.eu, LibreDNS, Digitale Gesellschaft, Hurricane Electric
	"doh.dns.sb", "dns0.eu", "doh.libredns.gr", "dns.digitale-gesellschaft.ch", "ordns.he.net",
	// Alibaba, DNSPod (Chromium table)
	"dns.alidns.com", "doh.pub", "dot.pub",
}

// Canaries returns the names answered NXDOMAIN for vendor opt-out signals.
func Canaries() []string { return slices.Clone(canaries) }

// ResolverNames returns the built-in DoH/DoT resolver names (each with every
// name under it) answered NXDOMAIN.
func ResolverNames() []string { return slices.Clone(resolverNames) }

// nameSet matches a name or any name under one of its members.
type nameSet map[string]nameKind

func (s nameSet) add(name string, k nameKind) { s[normalize(name)] = k }

// match returns the kind of the member that name is or is under, and that
// member (the zone of a negative answer); "" when none.
func (s nameSet) match(name string) (nameKind, string) {
	for n := name; n != ""; {
		if k, ok := s[n]; ok {
			return k, n
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[i+1:]
	}
	return nameOther, ""
}

// normalize lower-cases a DNS name and drops its trailing dot. ASCII only: DNS
// names are case-insensitive only in ASCII (RFC 4343), and strings.ToLower
// returns its argument unchanged (no allocation) when already lower case.
func normalize(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}
