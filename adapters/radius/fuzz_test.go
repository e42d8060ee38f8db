package radius

import (
	"crypto/md5"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/hallmonitor/hallmonitor/adapters/apfeed"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// signed wraps attrs in an Accounting-Request with a correct authenticator,
// so the fuzzer reaches attribute decoding rather than stopping at MD5.
func signed(attrs []byte) []byte {
	if len(attrs) > radius.MaxPacketLength-20 {
		attrs = attrs[:radius.MaxPacketLength-20]
	}
	b := make([]byte, 20+len(attrs))
	b[0], b[1] = byte(radius.CodeAccountingRequest), 7
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	copy(b[20:], attrs)
	h := md5.New()
	h.Write(b[:4])
	h.Write(make([]byte, 16))
	h.Write(b[20:])
	h.Write(secret)
	copy(b[4:20], h.Sum(nil))
	return b
}

// FuzzParse: no datagram panics Parse, and a station it reports is a
// well-formed observation.
func FuzzParse(f *testing.F) {
	for _, status := range []rfc2866.AcctStatusType{1, 2, 3, 7} {
		p := radius.New(radius.CodeAccountingRequest, secret)
		_ = rfc2866.AcctStatusType_Set(p, status)
		_ = rfc2865.CallingStationID_SetString(p, "3C-28-6D-11-22-33")
		_ = rfc2865.CalledStationID_SetString(p, "18-E8-29-00-00-12:School Staff")
		_ = rfc2865.NASIdentifier_SetString(p, "classroom-12")
		b, _ := p.Encode()
		f.Add(b)
		f.Add(b[20:])
	}
	now := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	client := netip.MustParseAddr("10.0.0.2")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, signed(data)} {
			req, err := Parse(b, secret, client, now)
			if err != nil || !req.Station {
				continue
			}
			o := req.Observation
			if m, ok := apfeed.NormalizeMAC(o.MAC); !ok || m != o.MAC {
				t.Fatalf("MAC %q", o.MAC)
			}
			if o.APMAC != "" {
				if m, ok := apfeed.NormalizeMAC(o.APMAC); !ok || m != o.APMAC {
					t.Fatalf("APMAC %q", o.APMAC)
				}
			}
			if o.Kind != daemon.ObsRADIUS || o.AP == "" || (o.APEvent != "associate" && o.APEvent != "disassociate") {
				t.Fatalf("%+v", o)
			}
			if d := now.Sub(o.At); d < 0 || d > maxDelay+eventSkew {
				t.Fatalf("At %v", o.At)
			}
		}
	})
}

// FuzzRoleForIdentity: glob matching never panics and "*" matches anything.
func FuzzRoleForIdentity(f *testing.F) {
	f.Add("*@staff.school.org", "jsmith@staff.school.org")
	f.Add(`SCHOOL\*`, `school\x`)
	f.Add("p?pil-*", "püpil-1")
	f.Fuzz(func(t *testing.T, pattern, id string) {
		RoleForIdentity([]RoleRule{{Pattern: pattern, Role: "r"}}, id)
		if id != "" && RoleForIdentity([]RoleRule{{Pattern: "*", Role: "any"}}, id) != "any" {
			t.Fatalf("* did not match %q", id)
		}
		if id != "" && RoleForIdentity([]RoleRule{{Pattern: id, Role: "self"}}, id) != "self" && !containsGlob(id) {
			t.Fatalf("%q does not match itself", id)
		}
	})
}

func containsGlob(s string) bool {
	for i := range len(s) {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}
