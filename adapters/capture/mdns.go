package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// mdnsObs reports the host names a device announces for itself over mDNS
// (RFC 6762), as Observations of kind ObsDNS with Hostname set and DNSName
// empty. Only address records (A/AAAA "<name>.local") whose address is the
// packet's own source address count, so a Bonjour Sleep Proxy answering for
// another device, or the known-answer list of someone else's query, is never
// taken as the sender's name. Queries count only for their authority section
// (a probe for the name the sender is about to claim). The TTL is not
// reported: mDNS always sends with 255.
//
// The message is decoded with miekg/dns, which allocates: the header is
// checked first, so the usual mDNS traffic (plain queries) costs nothing.
func (d *Decoder) mdnsObs(at time.Time, iface string, vlan uint16, _ bool, emit func(daemon.Observation)) error {
	p := d.payload
	if len(p) < dnsHeaderLen {
		return truncated("mDNS header", len(p), dnsHeaderLen)
	}
	response := p[2]&0x80 != 0
	an, ns, ar := binary.BigEndian.Uint16(p[6:8]), binary.BigEndian.Uint16(p[8:10]), binary.BigEndian.Uint16(p[10:12])
	if (!response && ns == 0) || (response && an+ns+ar == 0) || len(d.src) != 6 || isZero(d.src) {
		return nil
	}
	names, err := MDNSHostnames(p, d.srcAddr())
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	o := daemon.Observation{At: at, Kind: daemon.ObsDNS, MAC: d.mac(d.src), Interface: iface, VLAN: vlan, IP: d.srcAddr()}
	for _, n := range names {
		o.Hostname = n
		emit(o)
	}
	return nil
}

// MDNSHostnames returns the host names (without ".local") that an mDNS
// message sent from src claims for src: the owners of its A/AAAA records whose
// address is src, from the answer, authority and additional sections of a
// response, or the authority section of a query (a probe). At most four,
// without repeats, in message order. The error wraps ErrMalformed.
func MDNSHostnames(msg []byte, src netip.Addr) ([]string, error) {
	var m dns.Msg
	if err := m.Unpack(msg); err != nil {
		return nil, fmt.Errorf("decode mDNS: %w: %w", ErrMalformed, err)
	}
	sections := [][]dns.RR{m.Ns}
	if m.Response {
		sections = [][]dns.RR{m.Answer, m.Ns, m.Extra}
	}
	src = src.Unmap()
	var names []string
	for _, sec := range sections {
		for _, rr := range sec {
			var a netip.Addr
			switch r := rr.(type) {
			case *dns.A:
				a, _ = netip.AddrFromSlice(r.A.To4())
			case *dns.AAAA:
				a, _ = netip.AddrFromSlice(r.AAAA.To16())
			default:
				continue
			}
			if a.Unmap() != src {
				continue
			}
			h := localHostname(rr.Header().Name)
			if h == "" || containsFold(names, h) {
				continue
			}
			names = append(names, h)
			if len(names) == maxMDNSHostnames {
				return names, nil
			}
		}
	}
	return names, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// localHostname turns a presentation-format name ("Alice\226\128\153s-iPhone.local.")
// into the host name it announces ("Alice’s-iPhone"): escapes decoded, the
// ".local" suffix removed, control characters and invalid UTF-8 replaced. It
// returns "" for a name outside .local.
func localHostname(name string) string {
	labels := splitEscaped(name)
	if len(labels) < 2 || !strings.EqualFold(labels[len(labels)-1], "local") {
		return ""
	}
	return cleanString([]byte(strings.Join(labels[:len(labels)-1], ".")))
}

// splitEscaped splits a presentation-format domain name into its raw labels,
// decoding \DDD and \X escapes (as miekg/dns writes them).
func splitEscaped(name string) []string {
	var labels []string
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]):
			v := int(name[i+1]-'0')*100 + int(name[i+2]-'0')*10 + int(name[i+3]-'0')
			cur = append(cur, byte(v))
			i += 3
		case c == '\\' && i+1 < len(name):
			cur = append(cur, name[i+1])
			i++
		case c == '.':
			if len(cur) > 0 {
				labels = append(labels, string(cur))
			}
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		labels = append(labels, string(cur))
	}
	return labels
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
