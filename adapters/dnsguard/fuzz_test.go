package dnsguard

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Packets a hostile or broken client sends; none may stop the guard.
func malformedSeeds() map[string][]byte {
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	valid, _ := q.Pack()
	two := new(dns.Msg)
	two.Id = 0x2222
	two.Question = []dns.Question{q.Question[0], q.Question[0]}
	twoQ, _ := two.Pack()
	resp := new(dns.Msg)
	resp.SetReply(q)
	respB, _ := resp.Pack()
	upd := new(dns.Msg)
	upd.SetUpdate("example.test.")
	updB, _ := upd.Pack()
	loop := append([]byte{0x33, 0x33, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, 0xc0, 12, 0, 1, 0, 1) // name is a pointer to itself
	return map[string][]byte{
		"empty":                  {},
		"short header":           {0x12, 0x34, 0x01},
		"header only, qdcount 1": {0x44, 0x44, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0},
		"truncated question":     valid[:len(valid)-3],
		"two questions":          twoQ,
		"a response":             respB,
		"dynamic update":         updB,
		"compression loop":       loop,
		"label over 63":          append([]byte{0x55, 0x55, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 64}, make([]byte, 70)...),
		"random":                 {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"valid":                  valid,
	}
}

// Malformed packets over UDP get no answer or FORMERR/NOTIMP with their ID,
// never crash the guard, and are counted; the next real query is answered.
func TestMalformedPacketsOverUDP(t *testing.T) {
	up := startUpstream(t)
	g := startGuard(t, testOptions(up.Addr))
	before := g.Stats().Malformed
	for name, pkt := range malformedSeeds() {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("udp", g.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(pkt); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			buf := make([]byte, 4096)
			if n, err := c.Read(buf); err == nil && name != "valid" {
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil && n >= 12 {
					r.Id = uint16(buf[0])<<8 | uint16(buf[1])
					r.Rcode = int(buf[3] & 0xf)
				}
				if r.Rcode != dns.RcodeFormatError && r.Rcode != dns.RcodeNotImplemented {
					t.Errorf("reply rcode %s, want FORMERR or NOTIMP (or none)", dns.RcodeToString[r.Rcode])
				}
				if len(pkt) >= 2 && r.Id != uint16(pkt[0])<<8|uint16(pkt[1]) {
					t.Errorf("reply ID %#x does not match the packet's", r.Id)
				}
			}
			if r := query(t, "udp", pupil, g.addr, "www.example.test", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
				t.Errorf("guard stopped answering after %q: %s", name, dns.RcodeToString[r.Rcode])
			}
		})
	}
	if got := g.Stats().Malformed - before; got < 6 {
		t.Errorf("Malformed grew by %d, want at least 6", got)
	}
}

// FuzzUDPPacket sends arbitrary datagrams to a running guard; after each one a
// real query from another socket must still be answered.
func FuzzUDPPacket(f *testing.F) {
	for _, p := range malformedSeeds() {
		f.Add(p)
	}
	up := startUpstream(f)
	g := startGuard(f, testOptions(up.Addr))
	junk, err := net.Dial("udp", g.addr)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = junk.Close() })
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if _, err := junk.Write(pkt); err != nil {
			t.Skip(err)
		}
		m := new(dns.Msg)
		m.SetQuestion("use-application-dns.net.", dns.TypeA)
		r, err := exchangeFrom("udp", pupil, g.addr, m)
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Fatalf("guard not answering after %x: %v %v", pkt, r, err)
		}
	})
}

// FuzzHandler feeds whatever dns.Msg.Unpack accepts (and miekg/dns's server
// would pass on) to the handler: one reply, with the query's ID, that fits the
// client's UDP size, whatever the EDNS0 options, types and names.
func FuzzHandler(f *testing.F) {
	for _, p := range malformedSeeds() {
		f.Add(p)
	}
	for _, s := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{{"big.test.", dns.TypeA, 0}, {"mask.icloud.com.", dns.TypeHTTPS, 4096}, {"x.dns.google.", dns.TypeANY, 512}, {".", dns.TypeNS, 1232}} {
		m := new(dns.Msg)
		m.SetQuestion(s.name, s.qtype)
		if s.edns != 0 {
			m.SetEdns0(s.edns, true)
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	up := startUpstream(f)
	o := testOptions(up.Addr)
	o.Timeout = 300 * time.Millisecond
	g, err := New(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = g.Close() })
	obs := make(chan daemon.Observation, 1)
	g.out = obs
	f.Fuzz(func(t *testing.T, b []byte) {
		r := new(dns.Msg)
		if r.Unpack(b) != nil {
			return
		}
		if r.Response || len(r.Question) != 1 || (r.Opcode != dns.OpcodeQuery && r.Opcode != dns.OpcodeNotify) {
			return // miekg/dns's accept function never passes these on
		}
		select { // keep the observation channel from filling
		case <-obs:
		default:
		}
		w := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
		id := r.Id
		g.ServeDNS(w, r)
		if len(w.msgs) != 1 {
			t.Fatalf("%d replies to %v", len(w.msgs), r)
		}
		reply := w.msgs[0]
		if reply.Id != id || !reply.Response {
			t.Errorf("reply ID %#x response=%v, want %#x true", reply.Id, reply.Response, id)
		}
		if packed, err := reply.Pack(); err == nil && len(packed) > clientUDPSize(r) && !reply.Truncated {
			t.Errorf("reply of %d bytes over the client's %d without TC", len(packed), clientUDPSize(r))
		}
	})
}
