package apfeed

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
)

// runTool runs a program to completion with a deadline; on the deadline, or
// if the test ends first, the process is killed by its PID.
func runTool(t testing.TB, stdin string, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Cancel = func() error { return syscall.Kill(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hostnames returns what util-linux logger puts in the HOSTNAME field: the
// short name for RFC 3164, the full one for RFC 5424.
func hostnames(t testing.TB) (h3164, h5424 string) {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := strings.Cut(h, ".")
	return short, h
}

// The real sender: util-linux logger over UDP and TCP (LF and octet-counted
// framing), RFC 3164 and RFC 5424, one case per built-in parser, each
// asserting the observation the daemon would get.
func TestLoggerToReceiver(t *testing.T) {
	logger := lab.RequireTools(t, "logger")[0]
	rr := start(t, Options{SSIDByInterface: map[string]string{"wlan0": "School", "wifi0ap5": "Staff"}})
	udpPort := fmt.Sprint(rr.udp.(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	tcpPort := fmt.Sprint(rr.tcp.(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	h3164, h5424 := hostnames(t)
	const unifiTag = "1c0b8bc42f58,U7-Lite-8.6.11+18870"

	tests := []struct {
		name      string
		transport []string // logger flags
		tag, msg  string
		mac, ap   string
		apmac     string
		ssid, ev  string
		source    string
	}{
		{"hostapd rfc3164 udp", []string{"--udp", "--rfc3164"}, "hostapd", "wlan0: AP-STA-CONNECTED 3C:28:6D:11:22:33 auth_alg=open",
			"3c:28:6d:11:22:33", h3164, "", "School", "associate", "syslog:hostapd"},
		{"hostapd rfc5424 tcp (LF)", []string{"--tcp", "--rfc5424"}, "hostapd", "wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: disassociated",
			"3c:28:6d:11:22:33", h5424, "", "School", "disassociate", "syslog:hostapd"},
		{"hostapd rfc5424 tcp octet-count", []string{"--tcp", "--octet-count", "--rfc5424"}, "hostapd", "wlan0: STA 3c:28:6d:11:22:33 IEEE 802.11: associated (aid 1)",
			"3c:28:6d:11:22:33", h5424, "", "School", "associate", "syslog:hostapd"},
		{"unifi hostapd rfc3164 udp", []string{"--udp", "--rfc3164"}, unifiTag, "hostapd: wifi0ap5: STA c0:49:ef:8c:07:2c IEEE 802.11: associated",
			"c0:49:ef:8c:07:2c", h3164, "1c:0b:8b:c4:2f:58", "Staff", "associate", "syslog:unifi"},
		{"unifi stahtd rfc5424 tcp", []string{"--tcp", "--rfc5424"}, unifiTag,
			`stahtd: stahtd: [STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER","mac":"c0:49:ef:8c:07:2c","vap":"wifi0ap5","event_type":"success","assoc_status":"0","ip_assign_type":"roamed"}`,
			"c0:49:ef:8c:07:2c", h5424, "1c:0b:8b:c4:2f:58", "Staff", "roam", "syslog:unifi"},
		{"aruba stm rfc3164 udp", []string{"--udp", "--rfc3164"}, "stm",
			" <501100> <NOTI> |AP lib-2f@10.1.2.3 stm|  Assoc success @ 18:00:00.804189: b4:f1:da:01:02:03: AP 10.1.2.3-18:64:72:aa:bb:c0-lib-2f",
			"b4:f1:da:01:02:03", "lib-2f", "18:64:72:aa:bb:c0", "", "associate", "syslog:aruba"},
		{"aruba stm rfc5424 tcp octet-count", []string{"--tcp", "--octet-count", "--rfc5424"}, "stm",
			" <501105> <NOTI> |AP hall-1@10.1.2.4 stm|  Deauth from sta: b4:f1:da:01:02:03: AP 10.1.2.4-18:64:72:aa:bb:d0-hall-1 Reason STA has roamed to another AP",
			"b4:f1:da:01:02:03", "hall-1", "18:64:72:aa:bb:d0", "", "disassociate", "syslog:aruba"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := udpPort
			if tc.transport[0] == "--tcp" {
				port = tcpPort
			}
			args := append([]string{"--server", "127.0.0.1", "--port", port, "-t", tc.tag}, tc.transport...)
			args = append(args, tc.msg)
			before := time.Now()
			if out, err := runTool(t, "", logger, args...); err != nil {
				t.Fatalf("logger %v: %v\n%s", args, err, out)
			}
			o := rr.next(t)
			if o.MAC != tc.mac || o.AP != tc.ap || o.APMAC != tc.apmac || o.SSID != tc.ssid || o.APEvent != tc.ev || o.Source != tc.source {
				t.Errorf("got  MAC %s AP %s APMAC %s SSID %q %s %s\nwant MAC %s AP %s APMAC %s SSID %q %s %s",
					o.MAC, o.AP, o.APMAC, o.SSID, o.APEvent, o.Source, tc.mac, tc.ap, tc.apmac, tc.ssid, tc.ev, tc.source)
			}
			// logger stamps the message; its clock is ours, so At is the
			// message's time (RFC 3164 to the second).
			if o.At.Before(before.Add(-time.Second)) || o.At.After(time.Now()) {
				t.Errorf("At %v not between %v and now", o.At, before)
			}
		})
	}
	if st := rr.r.Stats(); st.Unparsed != 0 || st.FramingErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}
