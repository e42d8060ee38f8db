package apfeed

import (
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// now is the receive time for the table: the lines' own "Jun 30 18:00:00"
// (read in time.Local, as RFC 3164 has no zone) is 10 s before it.
var tableNow = time.Date(2026, 6, 30, 18, 0, 10, 0, time.Local)
var lineTime = time.Date(2026, 6, 30, 18, 0, 0, 0, time.Local)

// Real line formats, with where each comes from:
//
//   - OpenWrt: logd's remote format "<PRI>Mmm dd hh:mm:ss HOST prog: msg"
//     (ubox log/logread.c), hostapd's AP-STA-CONNECTED/DISCONNECTED control
//     events (wpa_msg, with the auth_alg= suffix of hostapd ≥ 2.10) and its
//     "STA <mac> IEEE 802.11: associated (aid N)" hostapd_logger lines.
//   - UniFi: lines captured from U6/U7 APs on 6.x/8.x firmware ("<AP name>
//     <mac>,<model>-<fw>: prog: msg", with the ": wevent:" empty field and the
//     doubled "stahtd: stahtd:") and from 4.x firmware (model,mac,version in
//     the host slot), as quoted in public UniFi syslog parsers' test suites.
//   - Aruba: ArubaOS / Instant stm and authmgr lines as exported from a
//     campus syslog (IDs 501100, 501105, 501080, 501093, 522008), with the
//     anonymised fields filled in.
func TestParseVendorLines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want daemon.Observation // zero: no observation
	}{
		{"openwrt AP-STA-CONNECTED",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: AP-STA-CONNECTED 3c:28:6d:11:22:33 auth_alg=open`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "associate", Source: "syslog:hostapd"}},
		{"openwrt AP-STA-CONNECTED, upper-case MAC, no suffix",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: AP-STA-CONNECTED 3C:28:6D:11:22:33`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "associate", Source: "syslog:hostapd"}},
		{"openwrt AP-STA-DISCONNECTED",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: AP-STA-DISCONNECTED 3c:28:6d:11:22:33`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "disassociate", Source: "syslog:hostapd"}},
		{"openwrt 802.11 associated (aid), new interface naming",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: phy0-ap0: STA 3c:28:6d:11:22:33 IEEE 802.11: associated (aid 1)`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "associate", Source: "syslog:hostapd"}},
		{"openwrt 802.11 disassociated due to inactivity",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: disassociated due to inactivity`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "disassociate", Source: "syslog:hostapd"}},
		{"openwrt 802.11 deauthenticated",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: deauthenticated due to local deauth request`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "classroom-12", APEvent: "disassociate", Source: "syslog:hostapd"}},
		{"hostapd with pid, no host in header",
			`<30>Jun 30 18:00:00 hostapd[1432]: wlan1: AP-STA-CONNECTED 3c:28:6d:11:22:33`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", APEvent: "associate", Source: "syslog:hostapd"}},
		{"hostapd RFC 5424 (rsyslog on an AP)",
			`<30>1 2026-06-30T18:00:00.123456+00:00 staffroom hostapd 2345 - - wlan1: AP-STA-CONNECTED 3c:28:6d:11:22:33`,
			daemon.Observation{MAC: "3c:28:6d:11:22:33", AP: "staffroom", APEvent: "associate", Source: "syslog:hostapd"}},
		{"hostapd 802.11 authenticated is not an association",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: authenticated`, daemon.Observation{}},
		{"hostapd WPA handshake line is not an association",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: STA 3c:28:6d:11:22:33 WPA: pairwise key handshake completed (RSN)`, daemon.Observation{}},
		{"hostapd interface state",
			`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: interface state UNINITIALIZED->ENABLED`, daemon.Observation{}},

		{"unifi 4.x hostapd (model,mac,version in host slot)",
			`<30>Jun 30 18:00:00 U7PG2,802aa853a30a,v4.0.69.10871: hostapd: ath0: STA c8:3c:85:d3:e2:3f IEEE 802.11: associated`,
			daemon.Observation{MAC: "c8:3c:85:d3:e2:3f", AP: "80:2a:a8:53:a3:0a", APMAC: "80:2a:a8:53:a3:0a", APEvent: "associate", Source: "syslog:unifi"}},
		{"unifi 4.x stahtd success after roaming",
			`<30>Jun 30 18:00:00 U7PG2,802aa853a30a,v4.0.69.10871: stahtd[16030]: [STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER","mac":"c8:3c:85:d3:e2:3f","wpa_auth_delta":"20000","vap":"ath5","assoc_status":"0","event_type":"success","assoc_delta":"0","dns_resp_seen":"yes","ip_assign_type":"roamed","auth_delta":"0","event_id":"2","auth_ts":"2416527.903485"}`,
			daemon.Observation{MAC: "c8:3c:85:d3:e2:3f", AP: "80:2a:a8:53:a3:0a", APMAC: "80:2a:a8:53:a3:0a", APEvent: "roam", Source: "syslog:unifi"}},
		{"unifi stahtd soft failure says nothing about location",
			`<30>Jun 30 18:00:00 U7PG2,802aa853a30a,v4.0.69.10871: stahtd[16030]: [STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER","mac":"c8:3c:85:d3:e2:3f","vap":"ath5","event_type":"soft failure","assoc_status":"0","ip_assign_type":"roamed","event_id":"2"}`,
			daemon.Observation{}},
		{"unifi 6.x/8.x hostapd (AP name, then mac,model-fw tag)",
			`<30>Jun 30 18:00:00 U7-Lite 1c0b8bc42f58,U7-Lite-8.6.11+18870: hostapd: wifi0ap5: STA c0:49:ef:8c:07:2c IEEE 802.11: disassociated`,
			daemon.Observation{MAC: "c0:49:ef:8c:07:2c", AP: "U7-Lite", APMAC: "1c:0b:8b:c4:2f:58", APEvent: "disassociate", Source: "syslog:unifi"}},
		{"unifi wevent EVENT_STA_JOIN (empty middle field)",
			`<30>Jun 30 18:00:00 U6-Ext 1c6a1b60baa0,U6-Extender-6.8.2+15592: : wevent: wevent.ubnt_custom_event(): EVENT_STA_JOIN wifi0ap1: c0:49:ef:8c:07:2c / 1`,
			daemon.Observation{MAC: "c0:49:ef:8c:07:2c", AP: "U6-Ext", APMAC: "1c:6a:1b:60:ba:a0", APEvent: "associate", Source: "syslog:unifi"}},
		{"unifi wevent EVENT_STA_LEAVE",
			`<30>Jun 30 18:00:00 U6-Ext 1c6a1b60baa0,U6-Extender-6.8.2+15592: : wevent: wevent.ubnt_custom_event(): EVENT_STA_LEAVE wifi0ap1: c0:49:ef:8c:07:2c / 1`,
			daemon.Observation{MAC: "c0:49:ef:8c:07:2c", AP: "U6-Ext", APMAC: "1c:6a:1b:60:ba:a0", APEvent: "disassociate", Source: "syslog:unifi"}},
		{"unifi doubled stahtd success",
			`<30>Jun 30 18:00:00 U6-Ext 1c6a1b60c3c0,U6-Extender-6.8.2+15592: stahtd: stahtd: [STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER","mac":"c0:49:ef:8c:07:2c","vap":"wifi1ap3","event_type":"success","assoc_status":"0"}`,
			daemon.Observation{MAC: "c0:49:ef:8c:07:2c", AP: "U6-Ext", APMAC: "1c:6a:1b:60:c3:c0", APEvent: "associate", Source: "syslog:unifi"}},

		{"aruba instant 501100 assoc success",
			`<134>Jun 30 18:00:00 10.1.2.3 stm[2793]:  <501100> <NOTI> |AP lib-2f@10.1.2.3 stm|  Assoc success @ 18:00:00.804189: b4:f1:da:01:02:03: AP 10.1.2.3-18:64:72:aa:bb:c0-lib-2f`,
			daemon.Observation{MAC: "b4:f1:da:01:02:03", AP: "lib-2f", APMAC: "18:64:72:aa:bb:c0", APEvent: "associate", Source: "syslog:aruba"}},
		{"aruba instant 501105 deauth from sta (roamed away)",
			`<134>Jun 30 18:00:00 10.1.2.4 stm[2764]:  <501105> <NOTI> |AP hall-1@10.1.2.4 stm|  Deauth from sta: b4:f1:da:01:02:03: AP 10.1.2.4-18:64:72:aa:bb:d0-hall-1 Reason STA has roamed to another AP`,
			daemon.Observation{MAC: "b4:f1:da:01:02:03", AP: "hall-1", APMAC: "18:64:72:aa:bb:d0", APEvent: "disassociate", Source: "syslog:aruba"}},
		{"arubaos controller 501080 deauth to sta (ageout)",
			`<134>Jun 30 18:00:00 Aruba_MD3 stm[30085]: <501080> <30085> <NOTI> <Aruba_MD3 10.0.0.1>  Deauth to sta: b4:f1:da:01:02:03: Ageout AP 10.1.2.4-18:64:72:aa:bb:d0-hall-1 STA has roamed to another AP`,
			daemon.Observation{MAC: "b4:f1:da:01:02:03", AP: "hall-1", APMAC: "18:64:72:aa:bb:d0", APEvent: "disassociate", Source: "syslog:aruba"}},
		{"aruba 522008 authmgr gives SSID (with a space) and identity",
			`<134>Jun 30 18:00:00 Aruba_MD3 authmgr[3956]: <522008> <5194> <NOTI> <Aruba_MD3 10.0.0.1>  User Authentication Successful: username=jsmith@staff.school.org MAC=b4:f1:da:01:02:03 IP=10.20.0.7 role=staff VLAN=111 AP=lib-2f SSID=School Staff AAA profile=staff-aaa auth method=802.1x auth server=nps-1`,
			daemon.Observation{MAC: "b4:f1:da:01:02:03", AP: "lib-2f", SSID: "School Staff", Identity: "jsmith@staff.school.org", APEvent: "associate", Source: "syslog:aruba"}},
		{"aruba 501093 auth success precedes association",
			`<134>Jun 30 18:00:00 10.1.2.3 stm[3319]:  <501093> <NOTI> |AP lib-2f@10.1.2.3 stm|  Auth success: cc:61:e5:01:02:03: AP 10.1.2.3-7c:57:3c:aa:bb:c0-lib-2f`,
			daemon.Observation{}},
		{"aruba 501095 assoc request",
			`<134>Jun 30 18:00:00 10.1.2.3 stm[3319]:  <501095> <NOTI> |AP lib-2f@10.1.2.3 stm|  Assoc request @ 18:00:00.968934: cc:61:e5:01:02:03 (SN 0): AP 10.1.2.3-7c:57:3c:aa:bb:c0-lib-2f`,
			daemon.Observation{}},

		{"unrelated daemon on the AP",
			`<30>Jun 30 18:00:00 classroom-12 dnsmasq-dhcp[1234]: DHCPACK(br-lan) 10.0.0.5 3c:28:6d:11:22:33 phone`, daemon.Observation{}},
		{"kernel line mentioning a station", `<4>Jun 30 18:00:00 U6-Ext 1c6a1b60baa0,U6-Extender-6.8.2+15592: kernel: [947552.028975] [wifi0ap1] ieee80211_set_node_vid node c0:49:ef:8c:07:2c lan[0] dvlan stas 0`, daemon.Observation{}},
		{"empty", ``, daemon.Observation{}},
		{"garbage", `<999999>\x00\xff AP-STA-CONNECTED`, daemon.Observation{}},
		{"MAC too long", `<30>Jun 30 18:00:00 ap hostapd: wlan0: AP-STA-CONNECTED 3c:28:6d:11:22:33:44`, daemon.Observation{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse([]byte(tc.line), tableNow)
			if tc.want == (daemon.Observation{}) {
				if ok {
					t.Fatalf("Parse gave %+v; want no observation", got)
				}
				return
			}
			if !ok {
				t.Fatalf("Parse found no event in %q", tc.line)
			}
			want := tc.want
			want.Kind = daemon.ObsAP
			want.At = lineTime
			if strings.Contains(tc.line, "2026-06-30T18:00:00.123456+00:00") {
				want.At = time.Date(2026, 6, 30, 18, 0, 0, 123456000, time.UTC)
				// the table's now is local; only compare when the window admits it
				if d := tableNow.Sub(want.At); d > MaxClockBehind || d < -MaxClockAhead {
					want.At = tableNow
				}
			}
			if !got.At.Equal(want.At) {
				t.Errorf("At = %v, want %v", got.At, want.At)
			}
			got.At, want.At = time.Time{}, time.Time{}
			if got != want {
				t.Errorf("Parse =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

// A station's location must not be timestamped by a broken AP clock: a
// message hours off (no NTP, or another time zone) gets the receive time.
func TestParseClockSanity(t *testing.T) {
	now := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name, ts string
		want     time.Time
	}{
		{"in window", "2026-06-30T17:58:00Z", time.Date(2026, 6, 30, 17, 58, 0, 0, time.UTC)},
		{"3 h behind (time zone)", "2026-06-30T15:00:00Z", now},
		{"ahead", "2026-06-30T18:05:00Z", now},
		{"1970 (no RTC, no NTP)", "1970-01-01T00:01:00Z", now},
		{"nil timestamp", "-", now},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := "<30>1 " + tc.ts + " ap hostapd - - - wlan0: AP-STA-CONNECTED 3c:28:6d:11:22:33"
			o, ok := Parse([]byte(line), now)
			if !ok || !o.At.Equal(tc.want) {
				t.Fatalf("Parse(%q) = %v, %v; want At %v", line, o.At, ok, tc.want)
			}
		})
	}
}

// What util-linux logger and common relays put on the wire must split into
// the right fields: a wrong split loses the AP name or the program.
func TestParseSyslogHeader(t *testing.T) {
	now := time.Date(2026, 11, 22, 22, 25, 50, 0, time.UTC)
	tests := []struct {
		name, line     string
		host, app, msg string
		ts             time.Time
	}{
		{"logger --rfc3164", "<13>Nov 22 22:25:48 vm hostapd: wlan0: x", "vm", "hostapd", "wlan0: x", time.Date(2026, 11, 22, 22, 25, 48, 0, time.UTC)},
		{"logger --rfc5424 with timeQuality SD", `<13>1 2026-11-22T22:25:51.593378+00:00 vm hostapd - - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="123"] wlan0: x`,
			"vm", "hostapd", "wlan0: x", time.Date(2026, 11, 22, 22, 25, 51, 593378000, time.UTC)},
		{"rfc5424 SD with escaped bracket and quote", `<13>1 2026-11-22T22:25:51Z h app - - [a b="x\]y\"z"][c d="e"] text`, "h", "app", "text", time.Date(2026, 11, 22, 22, 25, 51, 0, time.UTC)},
		{"rfc5424 BOM, nil fields", "<13>1 - - - - - - \xef\xbb\xbfhello", "", "", "hello", time.Time{}},
		{"single-digit day", "<13>Nov  2 22:25:48 vm prog[12]: text", "vm", "prog", "text", time.Date(2026, 11, 2, 22, 25, 48, 0, time.UTC)},
		{"year after time", "<13>Nov 22 22:25:48 2026 10.1.2.3 stm[1]: text", "10.1.2.3", "stm", "text", time.Date(2026, 11, 22, 22, 25, 48, 0, time.UTC)},
		{"December line read in January", "<13>Dec 31 23:59:59 ap prog: x", "ap", "prog", "x", time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"rsyslog RFC 3339 in 3164", "<13>2026-11-22T22:25:48.5+00:00 ap prog: x", "ap", "prog", "x", time.Date(2026, 11, 22, 22, 25, 48, 500000000, time.UTC)},
		{"no PRI", "Nov 22 22:25:48 ap prog: x", "ap", "prog", "x", time.Date(2026, 11, 22, 22, 25, 48, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := now
			if strings.Contains(tc.name, "January") {
				n = time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)
			}
			m := parseSyslog(tc.line, n, time.UTC)
			if m.host != tc.host || m.app != tc.app || m.msg != tc.msg || !m.ts.Equal(tc.ts) {
				t.Fatalf("parseSyslog = host %q app %q msg %q ts %v; want %q %q %q %v", m.host, m.app, m.msg, m.ts, tc.host, tc.app, tc.msg, tc.ts)
			}
		})
	}
}

func TestNormalizeMAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"},
		{"AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"},
		{"aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"},
		{"AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff"},
		{"aa:bb-cc:dd:ee:ff", ""},
		{"aa:bb:cc:dd:ee", ""},
		{"aabbccddeeff0", ""},
		{"gg:bb:cc:dd:ee:ff", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, ok := NormalizeMAC(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if mac, rest, ok := SplitMAC("AA-BB-CC-DD-EE-FF:School Staff"); !ok || mac != "aa:bb:cc:dd:ee:ff" || rest != ":School Staff" {
		t.Errorf("SplitMAC = %q %q %v", mac, rest, ok)
	}
}
