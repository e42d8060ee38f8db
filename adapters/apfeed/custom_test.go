package apfeed

import (
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// merakiParser describes Cisco Meraki MR "events" syslog (Meraki's documented
// syslog event format: "<PRI>1 <epoch.ns> <AP name> events type=association
// radio='1' vap='0' client_mac='AA:BB:...' ..."), as an admin would configure it.
var merakiParser = CustomParser{
	Name:    "meraki",
	Pattern: `events type=(?P<event>association|disassociation) .*?client_mac='(?P<mac>[0-9A-Fa-f:]{17})'`,
	Events:  map[string]string{"association": "associate", "disassociation": "disassociate"},
}

func TestCustomParser(t *testing.T) {
	cs, err := compileCustom([]CustomParser{
		merakiParser,
		{
			Name:    "ruckus",
			Pattern: `Client\[(?P<mac>[0-9a-f:]{17})\] (?P<event>joined|left|roamed to) WLAN\[(?P<ssid>[^\]]*)\] from AP\[(?P<ap>[^@\]]+)@(?P<apmac>[0-9a-f:]{17})\]`,
			Events:  map[string]string{"JOINED": "associate", "left": "disassociate", "roamed to": "roam"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		line string
		want daemon.Observation
	}{
		{"meraki association, AP from header",
			`<134>1 1719763200.123456789 Classroom_12 events type=association radio='1' vap='0' client_mac='F8:CF:C5:11:22:33' channel='36' reason='0' rssi='46'`,
			daemon.Observation{MAC: "f8:cf:c5:11:22:33", AP: "Classroom_12", APEvent: "associate", Source: "syslog:meraki"}},
		{"meraki disassociation",
			`<134>1 1719763200.123456789 Classroom_12 events type=disassociation radio='1' vap='0' client_mac='F8:CF:C5:11:22:33' channel='36' reason='8' duration='3600.5'`,
			daemon.Observation{MAC: "f8:cf:c5:11:22:33", AP: "Classroom_12", APEvent: "disassociate", Source: "syslog:meraki"}},
		{"event matched case-insensitively, ap/ssid/apmac groups",
			`<14>Jun 30 18:00:00 zd1 Core: Client[aa:bb:cc:dd:ee:01] joined WLAN[Pupils] from AP[Lab 3@2c:5d:93:00:00:01]`,
			daemon.Observation{MAC: "aa:bb:cc:dd:ee:01", AP: "Lab 3", APMAC: "2c:5d:93:00:00:01", SSID: "Pupils", APEvent: "associate", Source: "syslog:ruckus"}},
		{"roam",
			`<14>Jun 30 18:00:00 zd1 Core: Client[aa:bb:cc:dd:ee:01] roamed to WLAN[Pupils] from AP[Lab 4@2c:5d:93:00:00:02]`,
			daemon.Observation{MAC: "aa:bb:cc:dd:ee:01", AP: "Lab 4", APMAC: "2c:5d:93:00:00:02", SSID: "Pupils", APEvent: "roam", Source: "syslog:ruckus"}},
		{"meraki event type not in the map", `<134>1 1719763200.1 Classroom_12 events type=wpa_auth radio='1' client_mac='F8:CF:C5:11:22:33'`, daemon.Observation{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseSyslog(tc.line, tableNow, time.Local)
			var got daemon.Observation
			res := unknown
			for _, p := range cs {
				if got, res = p.parse(tc.line, &m); res != unknown {
					break
				}
			}
			if tc.want == (daemon.Observation{}) {
				if res == matched {
					t.Fatalf("got %+v; want none", got)
				}
				return
			}
			want := tc.want
			want.Kind = daemon.ObsAP
			if res != matched || got != want {
				t.Fatalf("got %+v (%v)\nwant %+v", got, res, want)
			}
		})
	}
}

// A wrong custom parser must be refused when the configuration is loaded,
// with every problem named, not discovered as silence in a classroom.
func TestCustomParserErrors(t *testing.T) {
	_, err := compileCustom([]CustomParser{
		{Name: "", Pattern: `(?P<mac>x)(?P<event>y)`, Events: map[string]string{"y": "associate"}},
		{Name: "bad-re", Pattern: `(?P<mac>[`, Events: map[string]string{"y": "associate"}},
		{Name: "no-groups", Pattern: `Client joined`, Events: map[string]string{"joined": "associate"}},
		{Name: "bad-event", Pattern: `(?P<mac>x)(?P<event>y)`, Events: map[string]string{"y": "arrived"}},
		{Name: "no-events", Pattern: `(?P<mac>x)(?P<event>y)`},
		{Name: "hostapd", Pattern: `(?P<mac>x)(?P<event>y)`, Events: map[string]string{"y": "associate"}},
		{Name: "dup", Pattern: `(?P<mac>x)(?P<event>y)`, Events: map[string]string{"y": "associate"}},
		{Name: "dup", Pattern: `(?P<mac>x)(?P<event>y)`, Events: map[string]string{"y": "associate"}},
	})
	if err == nil {
		t.Fatal("compileCustom accepted broken parsers")
	}
	for _, want := range []string{
		`custom parser 1 (""): name is empty`,
		`custom parser 2 ("bad-re"): pattern does not compile`,
		`custom parser 3 ("no-groups"): pattern has no (?P<mac>...) group`,
		`custom parser 3 ("no-groups"): pattern has no (?P<event>...) group`,
		`custom parser 4 ("bad-event"): event "y" maps to "arrived"; want associate, roam or disassociate`,
		`custom parser 5 ("no-events"): events is empty`,
		`custom parser 6 ("hostapd"): name "hostapd" is a built-in parser's`,
		`custom parser 8 ("dup"): name used twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := New(Options{Listen: []string{"udp://127.0.0.1:0"}, Allow: allowLoopback, Custom: []CustomParser{{Name: "x", Pattern: "("}}}); err == nil || !strings.Contains(err.Error(), "apfeed: custom parser 1") {
		t.Fatalf("New with a broken custom parser: %v", err)
	}
}
