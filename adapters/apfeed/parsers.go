package apfeed

import (
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Association events (daemon.Observation.APEvent).
const (
	EventAssociate    = "associate"
	EventRoam         = "roam"
	EventDisassociate = "disassociate"
)

// Built-in parser names; an observation's Source is "syslog:" + the name.
const (
	ParserHostapd = "hostapd"
	ParserUniFi   = "unifi"
	ParserAruba   = "aruba"
)

// outcome says what the parsers made of a line.
type outcome uint8

const (
	unknown outcome = iota // no parser recognised the line
	ignored                // a recognised AP program, but not an association event
	matched                // an observation
)

// Parse runs the built-in parsers (hostapd/OpenWrt, UniFi, Aruba) over one
// syslog line (RFC 3164 or RFC 5424, with or without its <PRI>) and returns the
// observation it describes. now is the receive time: At is the message's own
// timestamp when it is within the clock-sanity window (MaxClockBehind,
// MaxClockAhead) of now, else now. RFC 3164 timestamps are read in time.Local.
// AP is the sender's host name from the header (or the AP named in the line);
// it is empty when neither is present (the Receiver then uses the source
// address). APEvent is associate or disassociate (or roam where the vendor
// says so); the Receiver also turns an associate at a different AP into roam.
func Parse(line []byte, now time.Time) (daemon.Observation, bool) {
	m := parseSyslog(string(line), now, time.Local)
	o, _, res := parseBuiltin(&m)
	if res != matched {
		return daemon.Observation{}, false
	}
	o.At = saneTime(m.ts, now)
	return o, true
}

// builtin is what the built-in parsers extract before SSID lookup.
type builtin struct {
	parser, iface string
	o             daemon.Observation
}

// parseBuiltin tries the vendor parsers on m. The observation has Kind, MAC,
// AP, APMAC, SSID (from the line only), APEvent and Source set; At is left
// to the caller. iface is the AP's radio interface (wlan0, ath0, wifi0ap5)
// when the line names it, for the Receiver's SSIDByInterface lookup.
func parseBuiltin(m *message) (o daemon.Observation, iface string, res outcome) {
	var b builtin
	switch {
	case m.app == "stahtd":
		res = parseStahtd(m.msg, &b)
	case m.app == "wevent":
		res = parseWevent(m.msg, &b)
	case m.app == "hostapd":
		res = parseHostapd(m.msg, &b)
		if res == unknown {
			res = ignored // hostapd's other lines: interface state, WPA, RADIUS, ...
		}
	case m.app == "stm" || m.app == "authmgr" || strings.Contains(m.msg, "|AP "):
		res = parseAruba(m.msg, &b)
	default:
		// Relays that lose the tag: recognise the payload itself.
		if res = parseHostapd(m.msg, &b); res == unknown {
			b = builtin{}
			res = parseAruba(m.msg, &b)
		}
	}
	if res != matched {
		return daemon.Observation{}, "", res
	}
	o = b.o
	o.Kind = daemon.ObsAP
	if m.unifiMAC != "" {
		b.parser = ParserUniFi
		if o.APMAC == "" {
			o.APMAC = m.unifiMAC
		}
	}
	if o.AP == "" {
		o.AP = m.host
	}
	if o.AP == "" {
		o.AP = o.APMAC
	}
	o.Source = "syslog:" + b.parser
	return o, b.iface, matched
}

// parseHostapd reads hostapd's own lines (OpenWrt, and UniFi's hostapd):
//
//	wlan0: AP-STA-CONNECTED aa:bb:cc:dd:ee:ff [auth_alg=open] [keyid=...]
//	wlan0: AP-STA-DISCONNECTED aa:bb:cc:dd:ee:ff
//	wlan0: STA aa:bb:cc:dd:ee:ff IEEE 802.11: associated (aid 1)
//	wlan0: STA aa:bb:cc:dd:ee:ff IEEE 802.11: disassociated [due to inactivity]
//	wlan0: STA aa:bb:cc:dd:ee:ff IEEE 802.11: deauthenticated due to local deauth request
//
// (hostapd src/ap/sta_info.c, ieee802_11.c: hostapd_logger(..., "associated
// (aid %d)") and wpa_msg(AP_STA_CONNECTED MACSTR)). The interface prefix is
// absent when hostapd runs without a per-interface log prefix.
func parseHostapd(msg string, b *builtin) outcome {
	b.parser = ParserHostapd
	s := msg
	if i := strings.Index(s, ": "); i > 0 && strings.IndexByte(s[:i], ' ') < 0 {
		b.iface, s = s[:i], s[i+2:]
	}
	switch {
	case strings.HasPrefix(s, "AP-STA-CONNECTED "):
		return hostapdMAC(s[len("AP-STA-CONNECTED "):], EventAssociate, b)
	case strings.HasPrefix(s, "AP-STA-DISCONNECTED "):
		return hostapdMAC(s[len("AP-STA-DISCONNECTED "):], EventDisassociate, b)
	case strings.HasPrefix(s, "AP-STA-"):
		return ignored
	case strings.HasPrefix(s, "STA "):
		mac, n := macPrefix(s[4:])
		if n == 0 {
			return unknown
		}
		rest, ok := strings.CutPrefix(s[4+n:], " IEEE 802.11: ")
		if !ok {
			return ignored // another hostapd module (WPA, RADIUS, IEEE 802.1X)
		}
		var ev string
		switch word, _ := nextField(rest); word {
		case "associated", "reassociated":
			ev = EventAssociate
		case "disassociated", "deauthenticated":
			ev = EventDisassociate
		default:
			return ignored // authenticated, ...
		}
		b.o.MAC, b.o.APEvent = mac, ev
		return matched
	}
	return unknown
}

func hostapdMAC(s, ev string, b *builtin) outcome {
	mac, n := macPrefix(s)
	if n == 0 || (n < len(s) && s[n] != ' ') {
		return unknown
	}
	b.o.MAC, b.o.APEvent = mac, ev
	return matched
}

// stahtdEvent is the part of UniFi's STA_ASSOC_TRACKER record we use, e.g.
//
//	{"message_type":"STA_ASSOC_TRACKER","mac":"c8:3c:85:d3:e2:3f","vap":"ath5",
//	 "event_type":"success","assoc_status":"0","ip_assign_type":"roamed",...}
type stahtdEvent struct {
	MessageType  string `json:"message_type"`
	MAC          string `json:"mac"`
	VAP          string `json:"vap"`
	EventType    string `json:"event_type"`
	IPAssignType string `json:"ip_assign_type"`
}

// parseStahtd reads UniFi's station tracker:
//
//	[STA-TRACKER].stahtd_dump_event(): {"message_type":"STA_ASSOC_TRACKER",...}
//
// event_type "success" is a completed join (roam when ip_assign_type is
// "roamed"), "sta_leave" a departure; "failure", "soft failure", "dns timeout",
// "association" (in progress) and the others say nothing about where a device
// now is and are ignored.
func parseStahtd(msg string, b *builtin) outcome {
	b.parser = ParserUniFi
	i := strings.Index(msg, "stahtd_dump_event(): ")
	if i < 0 {
		return ignored
	}
	var ev stahtdEvent
	if err := json.Unmarshal([]byte(msg[i+len("stahtd_dump_event(): "):]), &ev); err != nil {
		return unknown
	}
	if ev.MessageType != "STA_ASSOC_TRACKER" {
		return ignored
	}
	mac, ok := NormalizeMAC(ev.MAC)
	if !ok {
		return unknown
	}
	switch ev.EventType {
	case "success":
		b.o.APEvent = EventAssociate
		if ev.IPAssignType == "roamed" {
			b.o.APEvent = EventRoam
		}
	case "sta_leave":
		b.o.APEvent = EventDisassociate
	default:
		return ignored
	}
	b.o.MAC, b.iface = mac, ev.VAP
	return matched
}

// parseWevent reads UniFi's wevent lines:
//
//	wevent.ubnt_custom_event(): EVENT_STA_JOIN wifi0ap1: c0:49:ef:8c:07:2c / 1
//	wevent.ubnt_custom_event(): EVENT_STA_LEAVE wifi0ap1: c0:49:ef:8c:07:2c / 1
func parseWevent(msg string, b *builtin) outcome {
	b.parser = ParserUniFi
	i := strings.Index(msg, "EVENT_STA_")
	if i < 0 {
		return ignored
	}
	word, rest := nextField(msg[i:])
	switch word {
	case "EVENT_STA_JOIN":
		b.o.APEvent = EventAssociate
	case "EVENT_STA_LEAVE":
		b.o.APEvent = EventDisassociate
	default:
		return ignored
	}
	iface, rest := nextField(rest)
	mac, n := macPrefix(rest)
	if !strings.HasSuffix(iface, ":") || n == 0 {
		return unknown
	}
	b.o.MAC, b.iface = mac, strings.TrimSuffix(iface, ":")
	return matched
}

// arubaEvents maps ArubaOS / Aruba Instant station-management (stm) message
// IDs to events. The text after the ID names the station MAC and
// "AP <ip>-<bssid>-<ap name>" (see docs/location.md for the full list).
var arubaEvents = map[string]string{
	"501100": EventAssociate,    // Assoc success @ <time>: <mac>: AP <ip>-<bssid>-<name>
	"501102": EventDisassociate, // Disassoc from sta: <mac>: AP ... Reason ...
	"501105": EventDisassociate, // Deauth from sta: <mac>: AP ... Reason ...
	"501080": EventDisassociate, // Deauth to sta: <mac>: Ageout AP ... (reason string)
	"501081": EventDisassociate, // Deauth to sta: <mac>: Ageout AP ... (reason code)
	"501098": EventDisassociate, // Deauth to sta: <mac>: Moved out from AP ... to new AP
	"501099": EventDisassociate, // Deauth to sta: <mac>: ... Reason
	"501106": EventDisassociate, // Deauth to sta: <mac>: Ageout AP ...
	"501107": EventDisassociate, // Deauth to sta: <mac>: AP going down
	"501108": EventDisassociate, // Deauth to sta: <mac>: Configuration change
	"501111": EventDisassociate, // Deauth to sta: <mac>: ... Reason
	"522008": EventAssociate,    // authmgr: User Authentication Successful: username=.. MAC=.. AP=.. SSID=..
}

// parseAruba reads ArubaOS / Aruba Instant lines such as
//
//	stm[2793]: <501100> <NOTI> |AP lib-2f@10.1.2.3 stm|  Assoc success @ 14:49:11.804189: b4:f1:da:01:02:03: AP 10.1.2.3-18:64:72:aa:bb:c0-lib-2f
//	stm[2764]: <501105> <NOTI> |AP hall-1@10.1.2.4 stm|  Deauth from sta: b4:f1:da:01:02:03: AP 10.1.2.4-18:64:72:aa:bb:d0-hall-1 Reason STA has roamed to another AP
//	authmgr[3956]: <522008> <NOTI> |AP lib-2f@10.1.2.3 authmgr|  User Authentication Successful: username=jsmith MAC=b4:f1:da:01:02:03 IP=10.20.0.7 role=staff VLAN=20 AP=lib-2f SSID=School auth method=802.1x
func parseAruba(msg string, b *builtin) outcome {
	b.parser = ParserAruba
	id, body, ok := arubaID(msg)
	if !ok {
		return unknown
	}
	ev, known := arubaEvents[id]
	if !known {
		return ignored // 501093 Auth success, 501095 Assoc request, 501109 Auth request, ...
	}
	// The reporting AP: "|AP <name>@<ip> <process>|" (Instant and AP-hosted stm).
	if i := strings.Index(body, "|AP "); i >= 0 {
		if j := strings.IndexByte(body[i+4:], '@'); j > 0 {
			b.o.AP = body[i+4 : i+4+j]
		}
		if k := strings.IndexByte(body[i+1:], '|'); k >= 0 {
			body = body[i+1+k+1:]
		}
	}
	b.o.APEvent = ev
	if id == "522008" {
		return arubaAuth(body, b)
	}
	mac, end := firstMAC(body)
	if mac == "" {
		return unknown
	}
	b.o.MAC = mac
	if name, bssid, ok := arubaAPField(body[end:]); ok {
		b.o.AP, b.o.APMAC = name, bssid
	}
	return matched
}

// arubaID finds "<NNNNNN>" (six digits) and returns it and the text after it.
func arubaID(s string) (string, string, bool) {
	for i := 0; i+8 <= len(s); i++ {
		if s[i] != '<' || s[i+7] != '>' {
			continue
		}
		ok := true
		for j := i + 1; j < i+7; j++ {
			if s[j] < '0' || s[j] > '9' {
				ok = false
				break
			}
		}
		if ok {
			return s[i+1 : i+7], s[i+8:], true
		}
	}
	return "", s, false
}

// firstMAC returns the first colon-form MAC that starts a word in s, and the
// offset after it.
func firstMAC(s string) (string, int) {
	for i := 0; i+17 <= len(s); i++ {
		if i > 0 && s[i-1] != ' ' {
			continue
		}
		if mac, n := macPrefix(s[i:]); n == 17 && s[i+2] == ':' {
			return mac, i + n
		}
	}
	return "", 0
}

// arubaAPField finds "AP <ip>-<bssid>-<name>" in s.
func arubaAPField(s string) (name, bssid string, ok bool) {
	for {
		i := strings.Index(s, "AP ")
		if i < 0 {
			return "", "", false
		}
		s = s[i+3:]
		dash := strings.IndexByte(s, '-')
		if dash <= 0 {
			continue
		}
		if _, err := netip.ParseAddr(s[:dash]); err != nil {
			continue
		}
		rest := s[dash+1:]
		mac, n := macPrefix(rest)
		if n != 17 || len(rest) <= n+1 || rest[n] != '-' {
			continue
		}
		name, _ = nextField(rest[n+1:])
		if name == "" {
			continue
		}
		return name, mac, true
	}
}

// arubaAuth reads authmgr's "User Authentication Successful: username=U MAC=M
// IP=I role=R VLAN=V AP=A SSID=S AAA profile=P auth method=..." (fields may
// also be comma-separated). SSIDs may contain spaces: the value runs to the
// next known key.
func arubaAuth(body string, b *builtin) outcome {
	if !strings.Contains(body, "Authentication Successful") {
		return ignored
	}
	mac, ok := NormalizeMAC(arubaValue(body, "MAC="))
	if !ok {
		return unknown
	}
	b.o.MAC = mac
	if ap := arubaValue(body, "AP="); ap != "" {
		b.o.AP = ap
	}
	b.o.SSID = arubaValue(body, "SSID=")
	b.o.Identity = arubaValue(body, "username=")
	return matched
}

var arubaKeys = []string{" username=", " MAC=", " IP=", " role=", " VLAN=", " AP=", " SSID=", " AAA profile=", " auth method=", " auth server=", ","}

func arubaValue(body, key string) string {
	i := strings.Index(body, " "+key)
	if i < 0 {
		return ""
	}
	v := body[i+1+len(key):]
	end := len(v)
	for _, k := range arubaKeys {
		if j := strings.Index(v, k); j >= 0 && j < end {
			end = j
		}
	}
	return strings.TrimSpace(v[:end])
}
