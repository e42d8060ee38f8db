package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/report"
)

func contains(t *testing.T, what, page string, in []string, out []string) {
	t.Helper()
	for _, s := range in {
		if !strings.Contains(page, s) {
			t.Errorf("%s lacks %q", what, s)
		}
	}
	for _, s := range out {
		if strings.Contains(page, s) {
			t.Errorf("%s shows %q", what, s)
		}
	}
}

func TestNavigationPerRole(t *testing.T) {
	f, _, _ := newFullFixture(t)
	for _, tc := range []struct {
		user, pw string
		in, out  []string
	}{
		{viewerUser, viewerPass, []string{`href="/alerts"`, `href="/zones"`}, []string{`href="/devices"`, `href="/reports"`, `href="/audit"`, `href="/exemptions"`}},
		{sltUser, sltPass, []string{`href="/zones"`, `href="/devices"`, `href="/reports"`, `href="/exemptions"`}, []string{`href="/audit"`}},
		{dslUser, dslPassword, []string{`href="/zones"`, `href="/devices"`, `href="/reports"`, `href="/audit"`, `href="/exemptions"`}, nil},
		{adminUser, adminPass, []string{`href="/zones"`, `href="/devices"`, `href="/reports"`, `href="/audit"`, `href="/exemptions"`}, nil},
	} {
		b := f.newBrowser()
		b.login(tc.user, tc.pw)
		contains(t, tc.user+" nav", readBody(t, b.get("/alerts")), tc.in, tc.out)
	}
}

func TestAlertDetailPage(t *testing.T) {
	f, _, _ := newFullFixture(t)
	ack := f.clock.Now().Add(-30 * time.Minute)
	a := f.store.alert(alertID)
	a.State, a.AcknowledgedBy, a.AcknowledgedAt, a.Note = daemon.AlertAcknowledged, "dsl", &ack, "Head of year told"
	f.store.putAlert(a)
	f.live.devices[0].Evidence = []fingerprint.Evidence{{Signal: "dhcp_param_list", Value: "1,121,3,6,15", Suggests: "os=ios", Weight: 0.8}}

	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	page := readBody(t, b.get("/alerts/"+alertID))
	contains(t, "DSL alert page", page, []string{
		"SPT-13</strong> Pupils are discouraged", "OSS-2.1</strong> Pupils&#39; unfiltered devices",
		"Pupil phone seen in a teaching area during pupil hours.", // decision reason
		"dhcp_param_list", "1,121,3,6,15", "os=ios", // evidence
		"Opened</strong> by HallMonitor", "Acknowledged</strong> by dsl", "Head of year told",
		`action="/alerts/` + alertID + `/resolve"`, `<label for="outcome">`, `<label for="resolve-note">`,
		`name="back" value="/alerts/` + alertID + `"`, "da:a1:19:00:00:01",
	}, []string{`/ack"`}) // already acknowledged
	if strings.Index(page, "Opened</strong>") > strings.Index(page, "Acknowledged</strong>") {
		t.Error("history is not oldest first")
	}
	// Resolving from the page returns to it.
	resp := b.post("/alerts/"+alertID+"/resolve", url.Values{csrfField: {csrfFrom(t, page)}, "outcome": {"handed-in"}, "back": {"/alerts/" + alertID}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/alerts/"+alertID) {
		t.Errorf("resolve from the detail page = %d to %q", resp.StatusCode, loc)
	}
	contains(t, "resolved alert page", readBody(t, b.get("/alerts/"+alertID)),
		[]string{"Resolved</strong> by dsl", "Outcome: Device handed in"}, []string{`/resolve"`})

	if resp := b.get("/alerts/01JZZZZZZZZZZZZZZZZZZZZZZZ"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown alert = %d, want 404", resp.StatusCode)
	}

	// A viewer reads it without forms; SLT sees the pseudonym, no MAC, no evidence.
	v := f.newBrowser()
	v.login(viewerUser, viewerPass)
	contains(t, "viewer alert page", readBody(t, v.get("/alerts/"+alertID)), []string{"SPT-13"}, []string{`/resolve"`, `/ack"`})
	s := f.newBrowser()
	s.login(sltUser, sltPass)
	pseudo := report.Pseudonymiser([]byte("test pseudonym secret"))("da:a1:19:00:00:01")
	contains(t, "SLT alert page", readBody(t, s.get("/alerts/"+alertID)),
		[]string{pseudo, "SPT-13", `id="evidence-hidden"`}, []string{"da:a1:19", "1,121,3,6,15", "Jamies-iPhone", `/resolve"`})
}

func TestZonesPage(t *testing.T) {
	f, _, _ := newFullFixture(t)
	second := sampleDevice()
	second.MAC, second.Kind, second.Role, second.Decision.Action = "da:a1:19:00:00:02", "tablet", "staff-direct", "allow"
	f.live.devices = append(f.live.devices, second)
	b := f.newBrowser()
	b.login(viewerUser, viewerPass)
	page := readBody(t, b.get("/zones"))
	contains(t, "zones page", page, []string{
		`<strong id="zones-total">2</strong> devices on site now`, `<strong id="zones-breaches">1</strong> in breach`,
		"science-block", "teaching", "phone 1, tablet 1", "pupil 1, staff-direct 1",
	}, []string{"da:a1:19"})
}

func TestAuditPage(t *testing.T) {
	f, fs, _ := newFullFixture(t)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	f.srv.audit(t.Context(), "=cmd|' /C calc'!A0", "alert.acknowledge", alertID, "note=x")
	page := readBody(t, b.get("/audit"))
	contains(t, "audit page", page, []string{`id="audit-verify" role="status"`, "hash chain verifies", "alert.acknowledge", `href="/audit.csv"`}, nil)
	if strings.Index(page, "alert.acknowledge") > strings.Index(page, "<code>login</code>") {
		t.Error("audit page is not newest first")
	}

	fs.chainErr = errors.New("entry 01JX… hash mismatch")
	contains(t, "broken chain", readBody(t, b.get("/audit")), []string{"does NOT verify: entry 01JX… hash mismatch", `role="alert"`}, nil)

	resp := b.get("/audit.csv")
	csv := readBody(t, resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("audit.csv Content-Type %q, Disposition %q", ct, resp.Header.Get("Content-Disposition"))
	}
	contains(t, "audit.csv", csv, []string{"id,at,site_id,actor,action,target,before,after,hash\n", "'=cmd", "login,dsl"}, []string{",=cmd"})
	if got := f.store.auditActions(); got[len(got)-1] != "audit.export:dsl" {
		t.Errorf("export not audited: %v", got)
	}

	// A store without the audit log: the page says so.
	g := newFixture(t, func(o *Options) { o.Store = struct{ Store }{o.Store} })
	gb := g.newBrowser()
	gb.login(dslUser, dslPassword)
	resp = gb.get("/audit")
	if body := readBody(t, resp); resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "keeps no readable audit log") {
		t.Errorf("audit without a store part = %d:\n%s", resp.StatusCode, body)
	}
}

func TestReportsDownload(t *testing.T) {
	f, _, rep := newFullFixture(t)
	slt := f.newBrowser()
	slt.login(sltUser, sltPass)
	page := readBody(t, slt.get("/reports"))
	contains(t, "SLT reports page", page, []string{`<label for="day">Day</label>`, `id="download-pdf"`, `max="2025-03-12"`}, []string{`name="unmask"`})
	for format, ctype := range map[string]string{"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"} {
		resp := slt.get("/reports/daily?day=2025-03-11&format=" + format)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype {
			t.Errorf("%s report = %d %q", format, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if d := resp.Header.Get("Content-Disposition"); d != `attachment; filename="hallmonitor-daily-2025-03-11.`+format+`"` {
			t.Errorf("%s Content-Disposition %q", format, d)
		}
		if format == "pdf" && !strings.HasPrefix(body, "%PDF-") {
			t.Errorf("pdf body starts %q", body[:min(len(body), 8)])
		}
		if rep.last() != "2025-03-11 "+format+" unmask=false" {
			t.Errorf("renderer asked for %q", rep.last())
		}
	}
	if resp := slt.get("/reports/daily?day=2025-03-11&format=pdf&unmask=1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("SLT unmask = %d, want 403", resp.StatusCode)
	}
	for _, q := range []string{"day=2025-03-11&format=docx", "day=11/03/2025&format=pdf", "day=2025-03-13&format=pdf", "format=pdf"} {
		if resp := slt.get("/reports/daily?" + q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s = %d, want 400", q, resp.StatusCode)
		}
	}

	dsl := f.newBrowser()
	dsl.login(dslUser, dslPassword)
	contains(t, "DSL reports page", readBody(t, dsl.get("/reports")), []string{`<label for="unmask">`}, nil)
	resp := dsl.get("/reports/daily?day=2025-03-11&format=csv&unmask=1")
	if resp.StatusCode != http.StatusOK || rep.last() != "2025-03-11 csv unmask=true" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "-unmasked.csv") {
		t.Errorf("DSL unmask = %d, renderer asked for %q", resp.StatusCode, rep.last())
	}
	acts := strings.Join(f.store.auditActions(), " ")
	if !strings.Contains(acts, "report.download:slt") || !strings.Contains(acts, "report.download:dsl") {
		t.Errorf("downloads not audited: %s", acts)
	}

	// No renderer configured: a clear message, not a broken form.
	g := newFixture(t, nil)
	gb := g.newBrowser()
	gb.login(sltUser, sltPass)
	resp = gb.get("/reports")
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Reports are not configured") || strings.Contains(body, "download-pdf") {
		t.Errorf("/reports without a renderer = %d:\n%s", resp.StatusCode, body)
	}
	resp = gb.get("/reports/daily?day=2025-03-11&format=pdf")
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not configured") {
		t.Errorf("download without a renderer = %d %q", resp.StatusCode, body)
	}
}

// SLT sees devices by pseudonym: no MAC, IP or hostname on the page, in the API or
// in live events.
func TestSLTSeesPseudonymsNotIdentifiers(t *testing.T) {
	f, _, _ := newFullFixture(t)
	pseudo := report.Pseudonymiser([]byte("test pseudonym secret"))("da:a1:19:00:00:01")
	hidden := []string{"da:a1:19", "Jamies-iPhone", "10.20.0.31"}
	b := f.newBrowser()
	b.login(sltUser, sltPass)
	contains(t, "SLT devices page", readBody(t, b.get("/devices")), []string{pseudo, "phone", "science-block"}, hidden)
	contains(t, "SLT alerts page", readBody(t, b.get("/alerts")), []string{pseudo}, hidden)
	api := readBody(t, f.do("GET", "/api/v1/devices", sltToken, nil))
	contains(t, "SLT devices API", api, []string{`"mac":"` + pseudo + `"`}, hidden)
	var devs []daemon.Device
	if err := json.Unmarshal([]byte(api), &devs); err != nil || len(devs) != 1 || devs[0].Evidence == nil {
		t.Errorf("SLT devices API: %v %+v (evidence must be [] not null)", err, devs)
	}
	contains(t, "SLT alerts API", readBody(t, f.do("GET", "/api/v1/alerts", sltToken, nil)), []string{pseudo}, hidden)
	// DSL still sees the real thing.
	contains(t, "DSL devices API", readBody(t, f.do("GET", "/api/v1/devices", dslToken, nil)), hidden, []string{pseudo})
}

// Live events reach SLT with the pseudonym, never the MAC.
func TestSLTEventsArePseudonymised(t *testing.T) {
	f, _, _ := newFullFixture(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.http.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+sltToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events as SLT: %v %v", resp, err)
	}
	defer resp.Body.Close()
	f.live.waitSubscribers(t, 1)
	a := sampleAlert("01JDDDDDDDDDDDDDDDDDDDDDDD", f.clock.Now(), "Phone in the exam hall.")
	a.Device.Hostname = "Jamies-iPhone"
	f.live.publish(daemon.Event{Type: "alert.opened", Alert: &a})
	f.live.publish(daemon.Event{Type: "device.updated", MAC: "da:a1:19:00:00:01"})
	got := make(chan string, 1)
	go func() { // ends when the body is closed (deferred above)
		var sb strings.Builder
		buf := make([]byte, 4096)
		for strings.Count(sb.String(), "data: ") < 2 {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- sb.String()
	}()
	var stream string
	select {
	case stream = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no events within 5s")
	}
	pseudo := report.Pseudonymiser([]byte("test pseudonym secret"))("da:a1:19:00:00:01")
	contains(t, "SLT event stream", stream, []string{`"mac":"` + pseudo + `"`, "Phone in the exam hall."}, []string{"da:a1:19", "Jamies-iPhone"})
}
