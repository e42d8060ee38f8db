package apfeed

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

var fuzzSeeds = []string{
	`<30>Jun 30 18:00:00 classroom-12 hostapd: wlan0: AP-STA-CONNECTED 3c:28:6d:11:22:33 auth_alg=open`,
	`<30>Jun 30 18:00:00 classroom-12 hostapd: phy0-ap0: STA 3c:28:6d:11:22:33 IEEE 802.11: associated (aid 1)`,
	`<30>1 2026-06-30T18:00:00.123456+00:00 staffroom hostapd 2345 - [a b="c\]"] wlan1: AP-STA-DISCONNECTED 3c:28:6d:11:22:33`,
	`<30>Jun 30 18:00:00 U7PG2,802aa853a30a,v4.0.69.10871: stahtd[16030]: [STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER","mac":"c8:3c:85:d3:e2:3f","vap":"ath5","event_type":"success","ip_assign_type":"roamed"}`,
	`<30>Jun 30 18:00:00 U6-Ext 1c6a1b60baa0,U6-Extender-6.8.2+15592: : wevent: wevent.ubnt_custom_event(): EVENT_STA_JOIN wifi0ap1: c0:49:ef:8c:07:2c / 1`,
	`<134>Jun 30 18:00:00 10.1.2.3 stm[2793]:  <501100> <NOTI> |AP lib-2f@10.1.2.3 stm|  Assoc success @ 18:00:00.804189: b4:f1:da:01:02:03: AP 10.1.2.3-18:64:72:aa:bb:c0-lib-2f`,
	`<134>Jun 30 18:00:00 Aruba_MD3 authmgr[3956]: <522008> <5194> <NOTI> <Aruba_MD3 10.0.0.1>  User Authentication Successful: username=j MAC=b4:f1:da:01:02:03 AP=lib-2f SSID=School Staff AAA profile=x`,
}

// FuzzParse: no input may panic the parsers, and anything they report must be
// a well-formed observation (a normalised MAC, a known event).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 6, 30, 18, 0, 10, 0, time.Local)
	cs, err := compileCustom([]CustomParser{merakiParser})
	if err != nil {
		f.Fatal(err)
	}
	r := &Receiver{log: zap.NewNop(), custom: cs, ssids: map[string]string{"wlan0": "School"}}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, o := range []func() (daemon.Observation, bool){
			func() (daemon.Observation, bool) { return Parse(line, now) },
			func() (daemon.Observation, bool) { return r.parse(line, now) },
		} {
			obs, ok := o()
			if !ok {
				continue
			}
			if m, valid := NormalizeMAC(obs.MAC); !valid || m != obs.MAC {
				t.Fatalf("MAC %q not normalised", obs.MAC)
			}
			if obs.APMAC != "" {
				if m, valid := NormalizeMAC(obs.APMAC); !valid || m != obs.APMAC {
					t.Fatalf("APMAC %q not normalised", obs.APMAC)
				}
			}
			switch obs.APEvent {
			case EventAssociate, EventRoam, EventDisassociate:
			default:
				t.Fatalf("APEvent %q", obs.APEvent)
			}
			if obs.Kind != daemon.ObsAP || !strings.HasPrefix(obs.Source, "syslog:") || obs.At.IsZero() {
				t.Fatalf("bad observation %+v", obs)
			}
			if d := obs.At.Sub(now); d < -MaxClockBehind || d > MaxClockAhead {
				t.Fatalf("At %v outside the sanity window", obs.At)
			}
		}
	})
}

// FuzzReadFrame: any byte stream on a TCP connection yields frames no larger
// than MaxMessage, or an error, never a panic or a hang.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("12 <30>abcdefgh<30>x\n\n5 hello"))
	f.Add([]byte("9999999 x"))
	f.Add([]byte("<30>a\r\n<30>b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64)
		buf := make([]byte, 64)
		for range len(data) + 1 {
			msg, err := readFrame(br, buf)
			if err != nil {
				return
			}
			if len(msg) > 64 {
				t.Fatalf("frame of %d bytes over the 64-byte limit", len(msg))
			}
		}
		t.Fatal("readFrame did not reach the end of the input")
	})
}
