package apfeed

import (
	"strings"
	"time"
)

// Clock sanity: a message's own timestamp is used only when it lies within
// [receive time - MaxClockBehind, receive time + MaxClockAhead]. An access
// point with no NTP, or one logging in another time zone (RFC 3164 timestamps
// carry none), is hours off; its events are stamped with the receive time.
const (
	MaxClockBehind = 5 * time.Minute
	MaxClockAhead  = time.Minute
)

// message is one syslog message split into header fields. RFC 3164 and RFC
// 5424 both end up here; fields the sender left out are empty.
type message struct {
	ts   time.Time // the header timestamp; zero when absent or unparseable
	host string    // HOSTNAME ("" when absent or "-")
	app  string    // TAG / APP-NAME without any [pid]
	msg  string    // the free text after the tag
	// unifiMAC is the AP's MAC from a UniFi device tag ("U7PG2,802aa853a30a,v4.0.69"
	// in the host slot, or "1c0b8bc42f58,U7-Lite-8.6.11+18870" as the tag).
	unifiMAC string
}

// parseSyslog splits line into header fields. It never fails: text it cannot
// place ends up in msg. loc interprets RFC 3164 timestamps, which have no zone.
func parseSyslog(line string, now time.Time, loc *time.Location) message {
	var m message
	s := strings.TrimRight(line, "\r\n\x00")
	s = skipPRI(s)
	if v, rest, ok := version5424(s); ok && v != "" {
		parse5424(&m, rest)
	} else {
		parse3164(&m, s, now, loc)
	}
	m.resolveUniFi()
	return m
}

// skipPRI removes a leading "<PRI>" (1-3 digits) when there is one.
func skipPRI(s string) string {
	if len(s) < 3 || s[0] != '<' {
		return s
	}
	for i := 1; i < len(s) && i <= 4; i++ {
		if s[i] == '>' {
			if i == 1 {
				return s
			}
			return s[i+1:]
		}
		if s[i] < '0' || s[i] > '9' {
			return s
		}
	}
	return s
}

// version5424 recognises the RFC 5424 VERSION field: 1-2 digits and a space.
func version5424(s string) (string, string, bool) {
	i := 0
	for i < len(s) && i < 3 && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 2 || i >= len(s) || s[i] != ' ' {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// nextField cuts s at the first space.
func nextField(s string) (field, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parse5424: TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
func parse5424(m *message, s string) {
	var ts, procid, msgid string
	ts, s = nextField(s)
	m.host, s = nextField(s)
	m.app, s = nextField(s)
	procid, s = nextField(s)
	msgid, s = nextField(s)
	_, _ = procid, msgid
	m.host, m.app = nilValue(m.host), nilValue(m.app)
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		m.ts = t
	}
	s = skipStructuredData(s)
	s = strings.TrimPrefix(s, " ")
	m.msg = strings.TrimPrefix(s, "\xef\xbb\xbf") // RFC 5424 §6.4 BOM
}

// skipStructuredData skips "-" or one or more SD-ELEMENTs ("[id k=\"v\" ...]"),
// honouring quoted values with \" \\ \] escapes.
func skipStructuredData(s string) string {
	if strings.HasPrefix(s, "-") {
		return s[1:]
	}
	for strings.HasPrefix(s, "[") {
		i, quoted := 1, false
		for ; i < len(s); i++ {
			c := s[i]
			if quoted {
				if c == '\\' {
					i++
				} else if c == '"' {
					quoted = false
				}
				continue
			}
			if c == '"' {
				quoted = true
			} else if c == ']' {
				break
			}
		}
		if i >= len(s) {
			return "" // unterminated: no MSG
		}
		s = s[i+1:]
	}
	return s
}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April,
	"May": time.May, "Jun": time.June, "Jul": time.July, "Aug": time.August,
	"Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

// parse3164: TIMESTAMP HOSTNAME TAG: MSG, as sent by BSD syslog, OpenWrt's
// logd, busybox syslogd (UniFi) and Aruba. The timestamp is "Mmm dd hh:mm:ss"
// (optionally followed by a year, as some vendors send) or RFC 3339 (rsyslog's
// forwarding format); the hostname is taken to be absent when the word after
// the timestamp already looks like a tag ("prog:" or "prog[pid]:").
func parse3164(m *message, s string, now time.Time, loc *time.Location) {
	if t, rest, ok := bsdTimestamp(s, now, loc); ok {
		m.ts, s = t, rest
	} else if f, rest := nextField(s); len(f) >= 20 && f[4] == '-' {
		if t, err := time.Parse(time.RFC3339Nano, f); err == nil {
			m.ts, s = t, rest
		}
	}
	s = strings.TrimLeft(s, " ")
	if f, rest := nextField(s); f != "" && rest != "" && !looksLikeTag(f) {
		m.host, s = strings.TrimSuffix(f, ":"), rest
	}
	m.app, m.msg = splitTag(s)
}

// looksLikeTag reports whether the word after the timestamp is a TAG rather
// than a HOSTNAME. UniFi's legacy "U7PG2,802aa853a30a,v4.0.69.10871:" sits in
// the host slot with a colon; a comma marks it as a host.
func looksLikeTag(f string) bool {
	if strings.IndexByte(f, ',') >= 0 {
		return false
	}
	return strings.HasSuffix(f, ":") || strings.IndexByte(f, '[') >= 0
}

// splitTag splits "prog[pid]: text" or "prog: text" into prog and text. Text
// without such a tag is returned whole with an empty program.
func splitTag(s string) (app, msg string) {
	for i := 0; i < len(s) && i <= 64; i++ {
		switch s[i] {
		case ':':
			if i == 0 {
				return "", s
			}
			if i+1 == len(s) || s[i+1] == ' ' {
				return s[:i], strings.TrimPrefix(s[i+1:], " ")
			}
		case '[':
			if j := strings.IndexByte(s[i:], ']'); j > 0 && i+j+1 < len(s) && s[i+j+1] == ':' {
				return s[:i], strings.TrimPrefix(s[i+j+2:], " ")
			}
			return "", s
		case ' ':
			return "", s
		}
	}
	return "", s
}

// bsdTimestamp parses "Mmm dd hh:mm:ss" with an optional " yyyy" and returns
// the rest after the following space. Without a year the year is the one
// that puts the time nearest to now (December logs read in January).
func bsdTimestamp(s string, now time.Time, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 16 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' {
		return time.Time{}, s, false
	}
	mon, ok := months[s[:3]]
	if !ok {
		return time.Time{}, s, false
	}
	day, ok1 := atoi2(s[4], s[5])
	hh, ok2 := atoi2(s[7], s[8])
	mm, ok3 := atoi2(s[10], s[11])
	ss, ok4 := atoi2(s[13], s[14])
	if !ok1 || !ok2 || !ok3 || !ok4 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, s, false
	}
	rest := s[15:]
	year := 0
	if len(rest) >= 6 && rest[0] == ' ' && rest[5] == ' ' {
		if y, ok := atoi4(rest[1:5]); ok {
			year, rest = y, rest[5:]
		}
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return time.Time{}, s, false
	}
	rest = rest[1:]
	if year != 0 {
		return time.Date(year, mon, day, hh, mm, ss, 0, loc), rest, true
	}
	local := now.In(loc)
	t := time.Date(local.Year(), mon, day, hh, mm, ss, 0, loc)
	switch {
	case t.Sub(local) > 180*24*time.Hour:
		t = t.AddDate(-1, 0, 0)
	case local.Sub(t) > 180*24*time.Hour:
		t = t.AddDate(1, 0, 0)
	}
	return t, rest, true
}

func atoi2(a, b byte) (int, bool) {
	if a == ' ' {
		a = '0'
	}
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

func atoi4(s string) (int, bool) {
	n := 0
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// resolveUniFi recognises UniFi's device tag, which carries the AP's MAC:
//
//	legacy firmware (≤ 4.x), in the host slot:  "U7PG2,802aa853a30a,v4.0.69.10871"
//	later firmware, as the TAG:                 "1c0b8bc42f58,U7-Lite-8.6.11+18870"
//
// and then finds the real program inside the message, which may be preceded
// by an empty field (": wevent: ...") or doubled ("stahtd: stahtd: ...").
func (m *message) resolveUniFi() {
	if mac, ok := unifiDeviceTag(m.host); ok {
		m.unifiMAC, m.host = mac, ""
		return
	}
	mac, ok := unifiDeviceTag(m.app)
	if !ok {
		return
	}
	m.unifiMAC = mac
	rest := strings.TrimLeft(strings.TrimPrefix(m.msg, ":"), " ")
	m.app, m.msg = splitTag(rest)
	if m.app != "" {
		if again, msg := splitTag(m.msg); again == m.app {
			m.msg = msg
		}
	}
}

// unifiDeviceTag extracts the MAC from a UniFi device tag: comma-separated
// fields, one of them 12 hex digits, another the model or firmware.
func unifiDeviceTag(s string) (string, bool) {
	if strings.Count(s, ",") < 1 || strings.Count(s, ",") > 2 || strings.IndexByte(s, ' ') >= 0 {
		return "", false
	}
	for f := range strings.SplitSeq(s, ",") {
		if len(f) == 12 {
			if mac, ok := NormalizeMAC(f); ok {
				return mac, true
			}
		}
	}
	return "", false
}

// saneTime returns ts when it is set and within the clock-sanity window
// around now, else now.
func saneTime(ts, now time.Time) time.Time {
	if ts.IsZero() || ts.Before(now.Add(-MaxClockBehind)) || ts.After(now.Add(MaxClockAhead)) {
		return now
	}
	return ts
}
