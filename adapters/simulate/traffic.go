package simulate

import (
	"net/netip"
	"slices"
	"time"
)

// evKind is what one frame is.
type evKind uint8

const (
	evDiscover evKind = iota + 1 // client DHCPDISCOVER
	evOffer                      // server DHCPOFFER
	evRequest                    // client DHCPREQUEST
	evAck                        // server DHCPACK
	evDNS                        // client DNS query to the gateway
	evARP                        // client ARP request for the gateway
)

func (k evKind) String() string {
	switch k {
	case evDiscover:
		return "DHCPDISCOVER"
	case evOffer:
		return "DHCPOFFER"
	case evRequest:
		return "DHCPREQUEST"
	case evAck:
		return "DHCPACK"
	case evDNS:
		return "DNS query"
	case evARP:
		return "ARP request"
	}
	return "unknown"
}

// event is one planned frame; the bytes are built when it is emitted.
type event struct {
	at   time.Time
	dev  int32
	kind evKind
	ip   netip.Addr // the device's address (offered / leased for DHCP)
	xid  uint32     // DHCP transaction ID; the DNS message ID is its low 16 bits
	port uint16     // DNS source port
	ipid uint16     // IPv4 identification
	name string     // DNS query name
}

// traffic plans every frame of the day, in time order.
func (p *planner) traffic() []event {
	quietFrom := p.at(8, 35) // phones are in the lockers once pupils have registered
	quietUntil := p.at(p.cal.pupilUntil.h, p.cal.pupilUntil.m)
	var evs []event
	for di, d := range p.devices {
		for i, v := range d.spec.Visits {
			end := d.spec.Leave
			if i+1 < len(d.spec.Visits) {
				end = d.spec.Visits[i+1].At
			}
			evs = p.stay(evs, int32(di), d, v, end, quietFrom, quietUntil)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	return evs
}

// stay plans one device's frames in one area, from joining it (at v.At) until end: the
// DHCP exchange, an ARP for the gateway, the OS's connectivity check and a few look-ups,
// then a query every few minutes (rarer for a phone in a locker) and an ARP now and then.
func (p *planner) stay(evs []event, di int32, d *device, v Visit, end, quietFrom, quietUntil time.Time) []event {
	add := func(at time.Time, kind evKind, name string) {
		if !at.Before(end) {
			return
		}
		evs = append(evs, event{
			at: at, dev: di, kind: kind, ip: v.IP, name: name,
			xid:  p.rng.Uint32(),
			port: uint16(49152 + p.rng.IntN(16384)), // IANA dynamic ports
			ipid: uint16(p.rng.UintN(1 << 16)),
		})
	}
	// One transaction ID for the whole exchange (RFC 2131 §4.4.1).
	xid := p.rng.Uint32()
	t := v.At
	for i, k := range []evKind{evDiscover, evOffer, evRequest, evAck} {
		if i > 0 {
			t = t.Add([]time.Duration{0, p.jitter(2*time.Millisecond, 40*time.Millisecond),
				p.jitter(10*time.Millisecond, 400*time.Millisecond), p.jitter(2*time.Millisecond, 30*time.Millisecond)}[i])
		}
		evs = append(evs, event{at: t, dev: di, kind: k, ip: v.IP, xid: xid, ipid: uint16(p.rng.UintN(1 << 16))})
	}
	ack := t
	add(ack.Add(p.jitter(50*time.Millisecond, 600*time.Millisecond)), evARP, "")
	add(ack.Add(p.jitter(300*time.Millisecond, 1500*time.Millisecond)), evDNS, d.arch.dnsFirst)
	for range 1 + p.rng.IntN(2) {
		add(ack.Add(p.jitter(2*time.Second, 20*time.Second)), evDNS, p.pick(d.arch.dns))
	}
	for t := ack.Add(p.interval(d, ack, v.Zone, quietFrom, quietUntil)); t.Before(end); t = t.Add(p.interval(d, t, v.Zone, quietFrom, quietUntil)) {
		add(t, evDNS, p.pick(d.arch.dns))
		if p.chance(0.08) {
			add(t.Add(p.jitter(0, 2*time.Second)), evARP, "")
		}
	}
	return evs
}

// interval is the time to a device's next look-up.
func (p *planner) interval(d *device, t time.Time, zone string, quietFrom, quietUntil time.Time) time.Duration {
	locked := zone == "reception" && !t.Before(quietFrom) && t.Before(quietUntil)
	switch d.act {
	case actLocker:
		if locked {
			return p.jitter(20*time.Minute, 40*time.Minute)
		}
	case actConsole:
		if locked {
			return p.jitter(30*time.Minute, 60*time.Minute)
		}
		return p.jitter(10*time.Minute, 20*time.Minute)
	case actWatch:
		return p.jitter(10*time.Minute, 25*time.Minute)
	case actQuietTrack:
		return p.jitter(20*time.Minute, 40*time.Minute)
	case actComputer:
		return p.jitter(4*time.Minute, 10*time.Minute)
	case actReader:
		return p.jitter(30*time.Minute, 60*time.Minute)
	}
	return p.jitter(3*time.Minute, 8*time.Minute)
}
