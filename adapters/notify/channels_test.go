package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/adapters/notify"
	"github.com/hallmonitor/hallmonitor/daemon"
)

const (
	testSite = "st-marys"
	mac1     = "da:a1:19:00:00:01"
	host1    = "Jamies-iPhone"
)

var opened = time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)

func alertFor(mac, rule, zone string, at time.Time) daemon.Alert {
	return daemon.Alert{
		ID:       ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
		SiteID:   testSite,
		State:    daemon.AlertNew,
		Severity: "high",
		Action:   "alert",
		OpenedAt: at.UTC(),
		Device:   daemon.AlertDevice{MAC: mac, Kind: "phone", OS: "ios", Hostname: host1, Role: "pupil"},
		Zone:     zone,
		Rule:     rule,
		Clauses:  []string{"OSS-2.1", "SPT-13"},
		Reason:   "A pupil's personal phone is online in a teaching area during pupil hours.",
	}
}

func note(a daemon.Alert) notify.Notification {
	return notify.Notification{Alert: a, SiteName: "St Mary's", DashboardURL: "https://hm.school.example/", Grouped: 1}
}

const wantSubject = "[HallMonitor] high phones-away in teaching-3"

// readMail parses a message the test SMTP server received: decoded subject and body.
func readMail(t *testing.T, data string) (mail.Header, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, data)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	m.Header["Subject"] = []string{subj}
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header, string(body)
}

func TestSMTP(t *testing.T) {
	cert, pool := lab.SelfSigned(t)
	a := alertFor(mac1, "phones-away", "teaching-3", opened)
	for _, tc := range []struct {
		name       string
		server     lab.SMTPOptions
		client     func(*notify.SMTP)
		wantErr    string // "" for delivered
		wantTLS    bool
		wantDevice bool
	}{
		{name: "STARTTLS and AUTH PLAIN, DSL's copy with the device", server: lab.SMTPOptions{STARTTLS: true, User: "hm", Pass: "s3cret"},
			client: func(s *notify.SMTP) { s.IncludeDevice = true }, wantTLS: true, wantDevice: true},
		{name: "shared mailbox gets no MAC or host name", server: lab.SMTPOptions{STARTTLS: true, User: "hm", Pass: "s3cret"},
			wantTLS: true},
		{name: "implicit TLS (port 465 style)", server: lab.SMTPOptions{Implicit: true, User: "hm", Pass: "s3cret"},
			client: func(s *notify.SMTP) { s.Security = notify.SecurityTLS }, wantTLS: true},
		{name: "STARTTLS required but not offered: password never sent", server: lab.SMTPOptions{User: "hm", Pass: "s3cret"},
			wantErr: "does not offer STARTTLS"},
		{name: "untrusted certificate refused", server: lab.SMTPOptions{STARTTLS: true, User: "hm", Pass: "s3cret"},
			client: func(s *notify.SMTP) { s.TLSConfig = &tls.Config{} }, wantErr: "certificate"},
		{name: "wrong password", server: lab.SMTPOptions{STARTTLS: true, User: "hm", Pass: "other"},
			wantErr: "535"},
		{name: "TLS explicitly disabled, relay without auth", server: lab.SMTPOptions{},
			client: func(s *notify.SMTP) { s.Security, s.Username, s.Password = notify.SecurityNone, "", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := lab.StartSMTP(t, cert, tc.server)
			c := &notify.SMTP{
				Host: "127.0.0.1", Port: srv.Port(), Username: "hm", Password: "s3cret",
				From: "HallMonitor <hallmonitor@school.example>", To: []string{"dsl@school.example", "Deputy <deputy@school.example>"},
				TLSConfig: &tls.Config{RootCAs: pool},
			}
			if tc.client != nil {
				tc.client(c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := c.Send(ctx, note(a))
			msgs := srv.Messages()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send = %v, want an error containing %q", err, tc.wantErr)
				}
				if len(msgs) != 0 {
					t.Fatalf("server accepted %d messages despite the error", len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.TLS != tc.wantTLS {
				t.Errorf("sent over TLS = %v, want %v", m.TLS, tc.wantTLS)
			}
			if tc.server.User != "" && m.User != "hm" {
				t.Errorf("authenticated as %q, want hm", m.User)
			}
			if m.From != "hallmonitor@school.example" || strings.Join(m.To, ",") != "dsl@school.example,deputy@school.example" {
				t.Errorf("envelope from %q to %v", m.From, m.To)
			}
			h, body := readMail(t, m.Data)
			if got := h.Get("Subject"); got != wantSubject {
				t.Errorf("Subject = %q, want %q", got, wantSubject)
			}
			if !strings.Contains(h.Get("Message-Id"), a.ID) {
				t.Errorf("Message-ID %q does not name the alert (duplicate detection)", h.Get("Message-Id"))
			}
			for _, want := range []string{a.Reason, "OSS-2.1, SPT-13", "teaching-3", "https://hm.school.example/alerts#alert-" + a.ID, "phone (ios), pupil", "St Mary's"} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			for _, personal := range []string{mac1, host1} {
				if strings.Contains(m.Data, personal) != tc.wantDevice {
					t.Errorf("message contains %q = %v, want %v", personal, !tc.wantDevice, tc.wantDevice)
				}
			}
		})
	}
}

func TestSMTPGroupedAndEscalationSubjects(t *testing.T) {
	a := alertFor(mac1, "phones-away", "teaching-3", opened)
	b := alertFor("da:a1:19:00:00:02", "phones-away", "teaching-3", opened.Add(time.Second))
	for _, tc := range []struct {
		name string
		n    notify.Notification
		want string
	}{
		{"single", note(a), wantSubject},
		{"three devices in one room", notify.Notification{Alert: a, Grouped: 3, Alerts: []daemon.Alert{a, b, b}}, wantSubject + " (3 devices)"},
		{"escalation", notify.Notification{Alert: a, Escalation: true}, "[HallMonitor] ESCALATED high phones-away in teaching-3"},
		{"header injection in a zone name", notify.Notification{Alert: func() daemon.Alert { x := a; x.Zone = "t3\r\nBcc: x@evil.example"; return x }()},
			"[HallMonitor] high phones-away in t3  Bcc: x@evil.example"},
	} {
		if got := tc.n.Subject(); got != tc.want {
			t.Errorf("%s: Subject = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// receiver is an httptest webhook endpoint that records requests.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	status int
}

func startReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := r.status
		if status < 300 {
			r.bodies = append(r.bodies, b)
			r.heads = append(r.heads, req.Header.Clone())
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *receiver) received() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func TestWebhooks(t *testing.T) {
	a := alertFor(mac1, "phones-away", "teaching-3", opened)
	link := "https://hm.school.example/alerts#alert-" + a.ID
	for _, tc := range []struct {
		name    string
		channel func(url string) notify.Channel
		check   func(t *testing.T, body []byte, h http.Header)
	}{
		{"generic JSON is the API's alert plus the site, signed", func(u string) notify.Channel {
			return &notify.Webhook{URL: u, Secret: "k", Headers: map[string]string{"Authorization": "Bearer t"}}
		}, func(t *testing.T, body []byte, h http.Header) {
			var got notify.WebhookBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Type != "alert.opened" || got.Site.ID != testSite || got.Site.Name != "St Mary's" || got.Link != link || got.Grouped != 1 {
				t.Errorf("envelope = %+v", got)
			}
			if got.Alert.ID != a.ID || got.Alert.Rule != a.Rule || got.Alert.Reason != a.Reason || strings.Join(got.Alert.Clauses, ",") != "OSS-2.1,SPT-13" || !got.Alert.OpenedAt.Equal(a.OpenedAt) {
				t.Errorf("alert = %+v", got.Alert)
			}
			mac := hmac.New(sha256.New, []byte("k"))
			mac.Write(body)
			if h.Get(notify.SignatureHeader) != "sha256="+hex.EncodeToString(mac.Sum(nil)) || h.Get("Authorization") != "Bearer t" {
				t.Errorf("signature %q, authorization %q", h.Get(notify.SignatureHeader), h.Get("Authorization"))
			}
		}},
		{"Teams adaptive card", func(u string) notify.Channel { return &notify.Teams{URL: u} }, func(t *testing.T, body []byte, _ http.Header) {
			var got struct {
				Type        string
				Attachments []struct {
					ContentType string
					Content     struct {
						Type, Version string
						Body          []struct {
							Type, Text string
							Facts      []struct{ Title, Value string }
						}
						Actions []struct{ Type, URL string }
					}
				}
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Type != "message" || len(got.Attachments) != 1 || got.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
				t.Fatalf("envelope = %s", body)
			}
			c := got.Attachments[0].Content
			if c.Type != "AdaptiveCard" || len(c.Body) != 3 || c.Body[0].Text != wantSubject || c.Body[1].Text != a.Reason {
				t.Errorf("card = %+v", c)
			}
			facts := map[string]string{}
			for _, f := range c.Body[2].Facts {
				facts[f.Title] = f.Value
			}
			if facts["Clauses"] != "OSS-2.1, SPT-13" || facts["Zone"] != "teaching-3" || facts["Severity"] != "high" {
				t.Errorf("facts = %v", facts)
			}
			if len(c.Actions) != 1 || c.Actions[0].Type != "Action.OpenUrl" || c.Actions[0].URL != link {
				t.Errorf("actions = %+v", c.Actions)
			}
		}},
		{"Slack text and blocks", func(u string) notify.Channel { return &notify.Slack{URL: u} }, func(t *testing.T, body []byte, _ http.Header) {
			var got struct {
				Text   string
				Blocks []struct {
					Type     string
					Text     struct{ Type, Text string }
					Fields   []struct{ Text string }
					Elements []struct{ URL string }
				}
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Text != wantSubject || len(got.Blocks) != 5 || got.Blocks[0].Type != "header" || got.Blocks[0].Text.Text != wantSubject {
				t.Fatalf("message = %s", body)
			}
			if got.Blocks[1].Text.Text != a.Reason {
				t.Errorf("reason block = %q", got.Blocks[1].Text.Text)
			}
			if len(got.Blocks[2].Fields) != 4 || !strings.Contains(got.Blocks[2].Fields[2].Text, "OSS-2.1, SPT-13") {
				t.Errorf("fields = %+v", got.Blocks[2].Fields)
			}
			if got.Blocks[4].Type != "actions" || got.Blocks[4].Elements[0].URL != link {
				t.Errorf("link button = %+v", got.Blocks[4])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t)
			ch := tc.channel(r.srv.URL + "/hooks/T000/SECRETPATH")
			if err := ch.Send(context.Background(), note(a)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := r.received()
			if len(got) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(got))
			}
			if r.heads[0].Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", r.heads[0].Get("Content-Type"))
			}
			for _, personal := range []string{mac1, host1} {
				if strings.Contains(string(got[0]), personal) {
					t.Errorf("%s leaked %q without IncludeDevice", ch.Name(), personal)
				}
			}
			tc.check(t, got[0], r.heads[0])

			// A refusal is an error for the outbox to retry, and never shows the
			// secret part of the URL (Slack and Teams keep their token there).
			r.setStatus(http.StatusServiceUnavailable)
			err := ch.Send(context.Background(), note(a))
			if err == nil || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "SECRETPATH") {
				t.Errorf("Send to a 503 = %v, want an error with the status and without the URL path", err)
			}
		})
	}
}

// rfc5424 matches HEADER SP STRUCTURED-DATA SP MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*\]) \x{FEFF}(.*)$`)

// sdParams parses the single SD-ELEMENT "[id k="v" ...]", with RFC 5424 escapes.
func sdParams(t *testing.T, sd string) (string, map[string]string) {
	t.Helper()
	sd = strings.TrimSuffix(strings.TrimPrefix(sd, "["), "]")
	id, rest, _ := strings.Cut(sd, " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			t.Fatalf("bad SD-PARAM at %q", rest)
		}
		var v strings.Builder
		i := 0
		for ; i < len(after); i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
				v.WriteByte(after[i])
				continue
			}
			if after[i] == '"' {
				break
			}
			v.WriteByte(after[i])
		}
		params[k] = v.String()
		rest = after[i+1:]
	}
	return id, params
}

func TestSyslogRFC5424(t *testing.T) {
	a := alertFor(mac1, "phones-away", "teaching-3", opened)
	a.Reason = `Reason with "quotes" and a ] bracket`
	b := alertFor("da:a1:19:00:00:02", "phones-away", "teaching-3", opened.Add(time.Second))
	for _, tc := range []struct {
		name    string
		network string
		n       notify.Notification
		include bool
		wantPRI int
		wantN   int
	}{
		{"UDP, one alert", "udp", note(a), false, 16*8 + 3, 1},
		{"TCP octet counting, a group of two is two records", "tcp", notify.Notification{Alert: a, Grouped: 2, Alerts: []daemon.Alert{a, b}}, false, 16*8 + 3, 2},
		{"UDP with the device for a SIEM that may hold it", "udp", note(a), true, 16*8 + 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSyslog(t, tc.network)
			ch := &notify.Syslog{Network: tc.network, Addr: srv.addr, Hostname: "gateway-1", IncludeDevice: tc.include}
			if err := ch.Send(context.Background(), tc.n); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.waitMessages(t, tc.wantN)
			if len(msgs) != tc.wantN {
				t.Fatalf("got %d messages, want %d", len(msgs), tc.wantN)
			}
			m := rfc5424.FindStringSubmatch(msgs[0])
			if m == nil {
				t.Fatalf("not RFC 5424: %q", msgs[0])
			}
			if pri, _ := strconv.Atoi(m[1]); pri != tc.wantPRI {
				t.Errorf("PRI = %d, want %d (local0.err for high)", pri, tc.wantPRI)
			}
			if ts, err := time.Parse(time.RFC3339Nano, m[2]); err != nil || time.Since(ts) > time.Minute {
				t.Errorf("TIMESTAMP %q: %v", m[2], err)
			}
			if m[3] != "gateway-1" || m[4] != "hallmonitor" || m[6] != "alert" {
				t.Errorf("HOSTNAME APP-NAME MSGID = %s %s %s", m[3], m[4], m[6])
			}
			id, p := sdParams(t, m[7])
			if id != notify.SDID {
				t.Errorf("SD-ID = %q", id)
			}
			if p["id"] != a.ID || p["severity"] != "high" || p["rule"] != "phones-away" || p["clauses"] != "OSS-2.1,SPT-13" || p["zone"] != "teaching-3" || p["site"] != testSite {
				t.Errorf("SD params = %v", p)
			}
			if (p["mac"] == mac1) != tc.include || strings.Contains(msgs[0], host1) != tc.include {
				t.Errorf("device in syslog = %v, want %v: %q", p["mac"] == mac1, tc.include, msgs[0])
			}
			if !strings.HasPrefix(m[8], wantSubject) || !strings.Contains(m[8], a.Reason) {
				t.Errorf("MSG = %q", m[8])
			}
			if tc.wantN > 1 {
				_, p2 := sdParams(t, rfc5424.FindStringSubmatch(msgs[1])[7])
				if p2["id"] != b.ID || p2["grouped"] != "2" {
					t.Errorf("second record = %v", p2)
				}
			}
		})
	}
}

func TestGroup(t *testing.T) {
	at := func(s int) time.Time { return opened.Add(time.Duration(s) * time.Second) }
	al := func(name, zone, rule string, s int) daemon.Alert {
		a := alertFor("02:00:00:00:00:0"+name, rule, zone, at(s))
		a.ID = name
		return a
	}
	for _, tc := range []struct {
		name   string
		alerts []daemon.Alert
		window time.Duration
		want   string // groups of IDs
	}{
		{"class of phones at 08:30 in one room is one group",
			[]daemon.Alert{al("1", "t3", "r", 0), al("2", "t3", "r", 1), al("3", "t3", "r", 2)}, time.Minute, "123"},
		{"other rooms and rules stay apart",
			[]daemon.Alert{al("1", "t3", "r", 0), al("2", "t4", "r", 1), al("3", "t3", "x", 2), al("4", "t3", "r", 3)}, time.Minute, "14 2 3"},
		{"a late arrival starts a new group",
			[]daemon.Alert{al("1", "t3", "r", 0), al("2", "t3", "r", 60), al("3", "t3", "r", 61)}, time.Minute, "12 3"},
		{"input order does not matter",
			[]daemon.Alert{al("3", "t3", "r", 2), al("1", "t3", "r", 0), al("2", "t3", "r", 1)}, time.Minute, "123"},
		{"no window: one each", []daemon.Alert{al("1", "t3", "r", 0), al("2", "t3", "r", 0)}, 0, "1 2"},
		{"empty", nil, time.Minute, ""},
	} {
		var parts []string
		for _, g := range notify.Group(tc.alerts, tc.window) {
			s := ""
			for _, a := range g {
				s += a.ID
			}
			parts = append(parts, s)
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%s: groups = %q, want %q", tc.name, got, tc.want)
		}
	}
}
