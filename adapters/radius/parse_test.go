package radius

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/hallmonitor/hallmonitor/daemon"
)

var secret = []byte("s3cret-for-aps")

var nas = netip.MustParseAddr("10.0.0.2")

// acct builds an Accounting-Request as an AP sends it; attrs sets the
// attributes (Acct-Status-Type first).
func acct(t testing.TB, status rfc2866.AcctStatusType, attrs func(p *radius.Packet)) *radius.Packet {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, secret)
	if err := rfc2866.AcctStatusType_Set(p, status); err != nil {
		t.Fatal(err)
	}
	if attrs != nil {
		attrs(p)
	}
	return p
}

func encode(t testing.TB, p *radius.Packet) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(p *radius.Packet, typ radius.Type, v string) {
	p.Set(typ, radius.Attribute(v))
}

// Attribute spellings as vendors send them: Calling-Station-Id in RFC 3580
// form (UniFi, Meraki, Aruba Instant, Cisco WLC), Cisco's dotted form and
// Aruba controllers' bare hex; Called-Station-Id "AP-MAC:SSID" (RFC 3580
// §3.20) or the MAC alone.
func TestParseAccounting(t *testing.T) {
	now := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status rfc2866.AcctStatusType
		attrs  map[radius.Type]string
		extra  func(p *radius.Packet)
		want   daemon.Observation // zero Kind: no station
	}{
		{"start, RFC 3580 forms", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3C-28-6D-11-22-33", rfc2865.CalledStationID_Type: "18-E8-29-4F-7F-F9:School Staff",
				rfc2865.NASIdentifier_Type: "classroom-12", rfc2865.UserName_Type: "jsmith@staff.school.org"},
			nil,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", APMAC: "18:e8:29:4f:7f:f9", SSID: "School Staff", AP: "classroom-12", Identity: "jsmith@staff.school.org", APEvent: "associate"}},
		{"interim, Cisco dotted MAC, Framed-IP", rfc2866.AcctStatusType_Value_InterimUpdate,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3c28.6d11.2233", rfc2865.CalledStationID_Type: "18e8.294f.7ff9:Pupils",
				rfc2865.NASIdentifier_Type: "lab-3", rfc2865.UserName_Type: "pupil-0042"},
			func(p *radius.Packet) { _ = rfc2865.FramedIPAddress_Set(p, net.IPv4(10, 20, 0, 7)) },
			daemon.Observation{MAC: "3c:28:6d:11:22:33", APMAC: "18:e8:29:4f:7f:f9", SSID: "Pupils", AP: "lab-3", Identity: "pupil-0042", APEvent: "associate", IP: netip.MustParseAddr("10.20.0.7")}},
		{"stop, bare hex, no NAS-Identifier: AP is the AP MAC", rfc2866.AcctStatusType_Value_Stop,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3C286D112233", rfc2865.CalledStationID_Type: "18E8294F7FF9"},
			nil,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", APMAC: "18:e8:29:4f:7f:f9", AP: "18:e8:29:4f:7f:f9", APEvent: "disassociate"}},
		{"no AP MAC or name: NAS-IP-Address", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3c:28:6d:11:22:33", rfc2865.CalledStationID_Type: "School"},
			func(p *radius.Packet) { _ = rfc2865.NASIPAddress_Set(p, net.IPv4(10, 0, 0, 9)) },
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "10.0.0.9", APEvent: "associate"}},
		{"delayed: At is receive time less Acct-Delay-Time", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3c:28:6d:11:22:33", rfc2865.NASIdentifier_Type: "ap"},
			func(p *radius.Packet) { _ = rfc2866.AcctDelayTime_Set(p, 30) },
			daemon.Observation{At: now.Add(-30 * time.Second), MAC: "3c:28:6d:11:22:33", AP: "ap", APEvent: "associate"}},
		{"Event-Timestamp close to now is used", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3c:28:6d:11:22:33", rfc2865.NASIdentifier_Type: "ap"},
			func(p *radius.Packet) { _ = rfc2869.EventTimestamp_Set(p, now.Add(-2*time.Second)) },
			daemon.Observation{At: now.Add(-2 * time.Second), MAC: "3c:28:6d:11:22:33", AP: "ap", APEvent: "associate"}},
		{"Event-Timestamp from a clock in 1970 is not", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "3c:28:6d:11:22:33", rfc2865.NASIdentifier_Type: "ap"},
			func(p *radius.Packet) { _ = rfc2869.EventTimestamp_Set(p, time.Unix(100, 0)) },
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "ap", APEvent: "associate"}},
		{"Accounting-On (NAS restart) names no station", rfc2866.AcctStatusType_Value_AccountingOn,
			map[radius.Type]string{rfc2865.NASIdentifier_Type: "classroom-12"}, nil, daemon.Observation{}},
		{"Calling-Station-Id that is not a MAC", rfc2866.AcctStatusType_Value_Start,
			map[radius.Type]string{rfc2865.CallingStationID_Type: "+441234567890"}, nil, daemon.Observation{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := acct(t, tc.status, func(p *radius.Packet) {
				for typ, v := range tc.attrs {
					set(p, typ, v)
				}
				if tc.extra != nil {
					tc.extra(p)
				}
			})
			req, err := Parse(encode(t, p), secret, nas, now)
			if err != nil {
				t.Fatal(err)
			}
			if req.Status != tc.status {
				t.Errorf("Status %v", req.Status)
			}
			if tc.want.APEvent == "" {
				if req.Station {
					t.Fatalf("got station %+v", req.Observation)
				}
				return
			}
			want := tc.want
			want.Kind, want.Source = daemon.ObsRADIUS, "radius:10.0.0.2"
			if want.At.IsZero() {
				want.At = now
			}
			if !req.Station || req.Observation != want {
				t.Fatalf("got  %+v\nwant %+v", req.Observation, want)
			}
		})
	}
}

// A wrong secret, a non-accounting packet or a truncated one is an error the
// listener counts; none panics.
func TestParseRejects(t *testing.T) {
	good := encode(t, acct(t, rfc2866.AcctStatusType_Value_Start, func(p *radius.Packet) { set(p, rfc2865.CallingStationID_Type, "3c:28:6d:11:22:33") }))
	access := encode(t, radius.New(radius.CodeAccessRequest, secret))
	noStatus := encode(t, radius.New(radius.CodeAccountingRequest, secret))
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	padded := append(append([]byte(nil), good...), 0, 0, 0)
	tests := []struct {
		name   string
		b      []byte
		secret []byte
		want   error
	}{
		{"wrong secret", good, []byte("guess"), ErrBadAuthenticator},
		{"tampered attribute", tampered, secret, ErrBadAuthenticator},
		{"access-request", access, secret, ErrNotAccounting},
		{"no Acct-Status-Type", noStatus, secret, ErrMalformed},
		{"short", good[:19], secret, ErrMalformed},
		{"length field beyond datagram", good[:len(good)-1], secret, ErrMalformed},
		{"padding after Length is ignored", padded, secret, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.b, tc.secret, nas, time.Now())
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err %v; want %v", err, tc.want)
			}
		})
	}
}

func TestCalledStation(t *testing.T) {
	tests := []struct{ in, mac, ssid string }{
		{"AA-BB-CC-DD-EE-FF:School", "aa:bb:cc:dd:ee:ff", "School"},
		{"aa:bb:cc:dd:ee:ff:School: Staff", "aa:bb:cc:dd:ee:ff", "School: Staff"},
		{"AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff", ""},
		{"aabb.ccdd.eeff-Guest", "aa:bb:cc:dd:ee:ff", "Guest"},
		{"School", "", ""},
		{"AABBCCDDEEFFAA", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		mac, ssid := CalledStation(tc.in)
		if mac != tc.mac || ssid != tc.ssid {
			t.Errorf("CalledStation(%q) = %q, %q; want %q, %q", tc.in, mac, ssid, tc.mac, tc.ssid)
		}
	}
}

// The daemon gives a device the role its 802.1X identity implies.
func TestRoleForIdentity(t *testing.T) {
	rules := []RoleRule{
		{Pattern: "*@staff.school.org", Role: "staff"},
		{Pattern: "pupil-*", Role: "pupil"},
		{Pattern: `SCHOOL\*`, Role: "staff"},
		{Pattern: "visitor-????", Role: "visitor"},
		{Pattern: "*@*", Role: "guest"},
	}
	tests := []struct{ id, want string }{
		{"jsmith@staff.school.org", "staff"},
		{"JSmith@Staff.School.ORG", "staff"},
		{"pupil-0042", "pupil"},
		{`SCHOOL\jsmith`, "staff"},
		{"visitor-1234", "visitor"},
		{"visitor-12345", ""}, // five characters after the dash, and no @
		{"x@pupils.school.org", "guest"},
		{"jsmith@staff.school.org.evil.com", "guest"},
		{"", ""},
		{"anonymous", ""},
	}
	for _, tc := range tests {
		if got := RoleForIdentity(rules, tc.id); got != tc.want {
			t.Errorf("RoleForIdentity(%q) = %q; want %q", tc.id, got, tc.want)
		}
	}
	if err := ValidateRoleRules([]RoleRule{{Pattern: "", Role: "x"}, {Pattern: "a*", Role: ""}}); err == nil {
		t.Error("ValidateRoleRules accepted empty fields")
	}
}

// A pathological pattern against a long identity stays linear-ish.
func TestGlobNoBlowUp(t *testing.T) {
	id := ""
	for range 2000 {
		id += "a"
	}
	start := time.Now()
	if globMatch("*a*a*a*a*a*a*a*a*a*a*b", id) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 2*time.Second { // backtracking would take far longer than any loaded machine
		t.Fatalf("took %v", d)
	}
}
