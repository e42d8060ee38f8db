package apfeed

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// CustomParser describes another vendor's association lines with a regular
// expression (Go RE2 syntax: linear time, no back-references), matched
// unanchored against the whole syslog line as received (header included,
// framing removed). Named groups:
//
//	mac    required: the station's MAC, in any usual spelling
//	event  required: the vendor's word for what happened, looked up in Events
//	ap     optional: the AP's name (default: the syslog header's HOSTNAME, else the sender's address)
//	ssid   optional: the SSID
//	apmac  optional: the AP's (BSSID) MAC
//
// Events maps each raw event value (exact, then case-insensitive) to
// associate, roam or disassociate; a value not in the map is ignored.
// Custom parsers run, in order, only on lines no built-in parser recognised.
type CustomParser struct {
	Name    string            // observation Source is "syslog:<Name>"
	Pattern string            // with named groups mac, event (required), ap, ssid, apmac
	Events  map[string]string // raw event → associate | roam | disassociate
}

type customParser struct {
	name                       string
	re                         *regexp.Regexp
	mac, event, ap, ssid, apmc int // submatch indexes, -1 when absent
	events                     map[string]string
}

var builtinNames = map[string]bool{ParserHostapd: true, ParserUniFi: true, ParserAruba: true}

// compileCustom checks and compiles the custom parsers, reporting every
// problem at once, each naming the parser.
func compileCustom(cs []CustomParser) ([]*customParser, error) {
	var errs []error
	seen := map[string]bool{}
	out := make([]*customParser, 0, len(cs))
	for i, c := range cs {
		where := fmt.Sprintf("custom parser %d (%q)", i+1, c.Name)
		fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
		switch {
		case c.Name == "":
			fail("name is empty")
		case builtinNames[c.Name]:
			fail("name %q is a built-in parser's", c.Name)
		case seen[c.Name]:
			fail("name used twice")
		}
		seen[c.Name] = true
		re, err := regexp.Compile(c.Pattern)
		if err != nil {
			fail("pattern does not compile: %w", err)
			continue
		}
		p := &customParser{name: c.Name, re: re, events: map[string]string{},
			mac: re.SubexpIndex("mac"), event: re.SubexpIndex("event"), ap: re.SubexpIndex("ap"),
			ssid: re.SubexpIndex("ssid"), apmc: re.SubexpIndex("apmac")}
		if p.mac < 0 {
			fail("pattern has no (?P<mac>...) group")
		}
		if p.event < 0 {
			fail("pattern has no (?P<event>...) group")
		}
		if len(c.Events) == 0 {
			fail("events is empty: map the vendor's words to associate, roam or disassociate")
		}
		for raw, ev := range c.Events {
			switch ev {
			case EventAssociate, EventRoam, EventDisassociate:
				p.events[raw] = ev
			default:
				fail("event %q maps to %q; want associate, roam or disassociate", raw, ev)
			}
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parse applies p to line; ok is false when the pattern does not match, and
// res tells a match with an unmapped event (ignored) from an observation.
func (p *customParser) parse(line string, m *message) (daemon.Observation, outcome) {
	sm := p.re.FindStringSubmatchIndex(line)
	if sm == nil {
		return daemon.Observation{}, unknown
	}
	group := func(i int) string {
		if i < 0 || sm[2*i] < 0 {
			return ""
		}
		return line[sm[2*i]:sm[2*i+1]]
	}
	raw := group(p.event)
	ev, ok := p.events[raw]
	if !ok {
		for k, v := range p.events {
			if strings.EqualFold(k, raw) {
				ev, ok = v, true
				break
			}
		}
	}
	if !ok {
		return daemon.Observation{}, ignored
	}
	mac, ok := NormalizeMAC(group(p.mac))
	if !ok {
		return daemon.Observation{}, unknown
	}
	o := daemon.Observation{Kind: daemon.ObsAP, MAC: mac, APEvent: ev, AP: group(p.ap),
		SSID: group(p.ssid), Source: "syslog:" + p.name}
	if apmac, ok := NormalizeMAC(group(p.apmc)); ok {
		o.APMAC = apmac
	}
	if o.AP == "" {
		o.AP = m.host
	}
	if o.AP == "" {
		o.AP = o.APMAC
	}
	return o, matched
}
