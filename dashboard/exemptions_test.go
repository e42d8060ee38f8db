package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// exemptionID is the active exemption every full fixture's register holds.
const exemptionID = "01JEXEMPT0000000000000000A"

// fakeRegister is an in-memory ExemptionsRegister. GrantExemption rejects the
// zone "nowhere", as the real one rejects zones the configuration lacks.
type fakeRegister struct {
	mu     sync.Mutex
	now    func() time.Time
	es     []daemon.Exemption // oldest first
	actors []string           // every grant's and revoke's actor
	n      int
}

func (f *fakeRegister) ListExemptions(context.Context) ([]daemon.Exemption, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]daemon.Exemption, 0, len(f.es))
	for i := len(f.es) - 1; i >= 0; i-- {
		out = append(out, f.es[i])
	}
	return out, nil
}

func (f *fakeRegister) GrantExemption(_ context.Context, e daemon.Exemption, actor string) (daemon.Exemption, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, z := range e.Zones {
		if z == "nowhere" {
			return daemon.Exemption{}, errors.New(`zone "nowhere" is not in the configuration`)
		}
	}
	f.n++
	e.ID = fmt.Sprintf("01JGRANT%018d", f.n)
	e.CreatedBy, e.CreatedAt = actor, f.now()
	f.es = append(f.es, e)
	f.actors = append(f.actors, actor)
	return e, nil
}

func (f *fakeRegister) RevokeExemption(_ context.Context, id, actor, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.es {
		if f.es[i].ID == id {
			at := f.now()
			f.es[i].RevokedAt, f.es[i].RevokedBy = &at, actor
			if note != "" {
				f.es[i].Note = strings.TrimSpace(f.es[i].Note + " · revoked: " + note)
			}
			f.actors = append(f.actors, actor)
			return nil
		}
	}
	return fmt.Errorf("exemption %s: %w", id, daemon.ErrNotFound)
}

func (f *fakeRegister) put(e daemon.Exemption) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.es = append(f.es, e)
}

func (f *fakeRegister) get(id string) (daemon.Exemption, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.es {
		if e.ID == id {
			return e, true
		}
	}
	return daemon.Exemption{}, false
}

func (f *fakeRegister) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.es)
}

func (f *fakeRegister) lastActor() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.actors) == 0 {
		return ""
	}
	return f.actors[len(f.actors)-1]
}

// newRegister returns a register holding one exemption active at now for a month.
func newRegister(now func() time.Time) *fakeRegister {
	r := &fakeRegister{now: now}
	r.put(daemon.Exemption{ID: exemptionID, MAC: "da:a1:19:00:00:01", Zones: []string{"science-block"},
		From: now().Add(-24 * time.Hour), Until: now().Add(30 * 24 * time.Hour), Reason: "medical",
		Approver: "Headteacher", CreatedBy: dslUser, CreatedAt: now().Add(-25 * time.Hour)})
	return r
}

// grantForm is a complete, valid grant for the fixture's clock (12 March 2025).
func validGrant(csrf string) url.Values {
	return url.Values{
		csrfField: {csrf}, "mac": {"DA-A1-19-00-00-02"}, "person": {"J. Smith"},
		"zones": {"science-block, library"}, "zone_types": {"teaching"},
		"from": {"2025-03-12T09:00"}, "until": {"2025-03-14T15:30"},
		"reason": {"medical"}, "approver": {"Mrs Patel (headteacher)"}, "note": {"Glucose monitor app"},
	}
}

func exemptionsFixture(t *testing.T) (*fixture, *fakeRegister) {
	t.Helper()
	var reg *fakeRegister
	f := newFixture(t, func(o *Options) {
		reg = newRegister(o.Now)
		o.Exemptions = reg
	})
	return f, reg
}

// section returns the HTML of the page's section whose heading has id h.
func section(t *testing.T, page, h string) string {
	t.Helper()
	i := strings.Index(page, `id="`+h+`"`)
	if i < 0 {
		t.Fatalf("no section %s in page", h)
	}
	rest := page[i:]
	if j := strings.Index(rest, "</section>"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func TestSLTGrantsAnExemption(t *testing.T) {
	f, reg := exemptionsFixture(t)
	b := f.newBrowser()
	b.login(sltUser, sltPass)
	resp := b.get("/exemptions")
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /exemptions as slt = %d:\n%s", resp.StatusCode, page)
	}
	contains(t, "exemptions page", page, []string{
		`<label for="ex-mac">`, `<label for="ex-person">`, `<label for="ex-zones">`, `<label for="ex-zone-types">`,
		`<label for="ex-from">`, `<label for="ex-until">`, `<label for="ex-reason">`, `<label for="ex-approver">`,
		`<label for="ex-note">`, `type="datetime-local"`, `value="multi-agency-visit"`, `value="individual-support"`,
		`action="/exemptions/` + exemptionID + `/revoke"`, `aria-current="page">Exemptions`,
	}, []string{"da:a1:19:00:00:01", "<script>"}) // SLT sees the pseudonym, not the MAC
	resp = b.post("/exemptions", validGrant(csrfFrom(t, page)))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("grant = %d, want 303:\n%s", resp.StatusCode, readBody(t, resp))
	}
	id := "01JGRANT000000000000000001"
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/exemptions?granted="+id) {
		t.Errorf("redirected to %q", loc)
	}
	e, ok := reg.get(id)
	if !ok {
		t.Fatal("the register received no exemption")
	}
	want := daemon.Exemption{ID: id, MAC: "da:a1:19:00:00:02", Person: "J. Smith",
		Zones: []string{"science-block", "library"}, ZoneTypes: []string{"teaching"},
		From: time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC), Until: time.Date(2025, 3, 14, 15, 30, 0, 0, time.UTC),
		Reason: "medical", Approver: "Mrs Patel (headteacher)", Note: "Glucose monitor app",
		CreatedBy: sltUser, CreatedAt: f.clock.Now()}
	got, _ := json.Marshal(e)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("register got\n%s\nwant\n%s", got, exp)
	}
	if a := reg.lastActor(); a != sltUser {
		t.Errorf("actor %q, want %q", a, sltUser)
	}
	page = readBody(t, b.get("/exemptions?granted="+id))
	contains(t, "after grant", section(t, page, "ex-active-h"), []string{`id="exemption-` + id + `"`, "J. Smith", "Mrs Patel"}, nil)
	contains(t, "after grant", page, []string{`id="exemption-granted"`}, nil)
}

func TestExemptionsTimesAreInTheSchoolsZone(t *testing.T) {
	london := time.FixedZone("BST", 3600)
	var reg *fakeRegister
	f := newFixture(t, func(o *Options) {
		utc := o.Now
		o.Now = func() time.Time { return utc().In(london) }
		reg = newRegister(o.Now)
		o.Exemptions = reg
	})
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	if resp := b.post("/exemptions", validGrant(b.pageCSRF())); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("grant = %d", resp.StatusCode)
	}
	e, _ := reg.get("01JGRANT000000000000000001")
	if w := time.Date(2025, 3, 12, 8, 0, 0, 0, time.UTC); !e.From.Equal(w) {
		t.Errorf("from %v, want %v (09:00 in the school's zone)", e.From, w)
	}
	if a := reg.lastActor(); a != dslUser {
		t.Errorf("actor %q", a)
	}
}

func TestViewerMayNotSeeOrChangeExemptions(t *testing.T) {
	f, reg := exemptionsFixture(t)
	b := f.newBrowser()
	b.login(viewerUser, viewerPass)
	page := readBody(t, b.get("/alerts"))
	if strings.Contains(page, `href="/exemptions"`) {
		t.Error("viewer sees the Exemptions link")
	}
	if resp := b.get("/exemptions"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /exemptions as viewer = %d, want 403", resp.StatusCode)
	}
	csrf := csrfFrom(t, page)
	if resp := b.post("/exemptions", validGrant(csrf)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("grant as viewer = %d, want 403", resp.StatusCode)
	}
	if resp := b.post("/exemptions/"+exemptionID+"/revoke", url.Values{csrfField: {csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke as viewer = %d, want 403", resp.StatusCode)
	}
	if resp := f.do(http.MethodGet, "/api/v1/exemptions", viewerToken, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("API list as viewer = %d, want 403", resp.StatusCode)
	}
	if e, _ := reg.get(exemptionID); reg.count() != 1 || e.RevokedAt != nil {
		t.Error("the viewer changed the register")
	}
}

func TestExemptionFormsNeedTheCSRFToken(t *testing.T) {
	f, reg := exemptionsFixture(t)
	b := f.newBrowser()
	b.login(sltUser, sltPass)
	good := b.pageCSRF()
	for _, bad := range []string{"", "x" + good[1:]} {
		form := validGrant(bad)
		if bad == "" {
			form.Del(csrfField)
		}
		if resp := b.post("/exemptions", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("grant with csrf %q = %d, want 403", bad, resp.StatusCode)
		}
		if resp := b.post("/exemptions/"+exemptionID+"/revoke", url.Values{csrfField: {bad}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("revoke with csrf %q = %d, want 403", bad, resp.StatusCode)
		}
	}
	if e, _ := reg.get(exemptionID); reg.count() != 1 || e.RevokedAt != nil {
		t.Error("the register changed without a valid CSRF token")
	}
}

func TestInvalidExemptionIsShownNotGranted(t *testing.T) {
	f, reg := exemptionsFixture(t)
	b := f.newBrowser()
	b.login(sltUser, sltPass)
	csrf := b.pageCSRF()
	for _, tc := range []struct {
		name string
		set  map[string]string
		msg  string
	}{
		{"no approver", map[string]string{"approver": " "}, "name who approved the exemption in advance"},
		{"no device or person", map[string]string{"mac": "", "person": ""}, "the device&#39;s MAC address or the person"},
		{"no zone", map[string]string{"zones": " , ", "zone_types": ""}, "at least one zone or zone type"},
		{"bad reason", map[string]string{"reason": "because"}, "choose a reason"},
		{"ends first", map[string]string{"until": "2025-03-11T09:00"}, "must end after it starts"},
		{"bad time", map[string]string{"from": "tomorrow"}, "is not a date and time"},
		{"bad mac", map[string]string{"mac": "not-a-mac"}, "is not a device MAC address"},
		{"register refuses", map[string]string{"zones": "nowhere"}, "zone &#34;nowhere&#34; is not in the configuration"},
	} {
		form := validGrant(csrf)
		for k, v := range tc.set {
			form.Set(k, v)
		}
		resp := b.post("/exemptions", form)
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.name, resp.StatusCode)
		}
		contains(t, tc.name, page, []string{`id="exemption-error" role="alert"`, tc.msg, "Glucose monitor app"}, nil)
	}
	if reg.count() != 1 {
		t.Errorf("register holds %d exemptions, want the 1 it started with", reg.count())
	}
}

func TestRevokeAnExemption(t *testing.T) {
	f, reg := exemptionsFixture(t)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	csrf := b.pageCSRF()
	if resp := b.post("/exemptions/NOSUCH/revoke", url.Values{csrfField: {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown = %d, want 404", resp.StatusCode)
	}
	resp := b.post("/exemptions/"+exemptionID+"/revoke", url.Values{csrfField: {csrf}, "note": {"no longer needed"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d, want 303", resp.StatusCode)
	}
	e, _ := reg.get(exemptionID)
	if e.RevokedAt == nil || e.RevokedBy != dslUser || !strings.Contains(e.Note, "no longer needed") {
		t.Errorf("after revoke: %+v", e)
	}
	page := readBody(t, b.get(resp.Header.Get("Location")))
	contains(t, "ended section", section(t, page, "ex-ended-h"), []string{"da:a1:19:00:00:01", "Revoked"}, []string{"/revoke"})
	contains(t, "active section", section(t, page, "ex-active-h"), []string{"No exemption is active now."}, nil)
}

var rowIDs = regexp.MustCompile(`data-id="([^"]+)"`)

func TestExemptionTables(t *testing.T) {
	f, reg := exemptionsFixture(t)
	now := f.clock.Now()
	day := 24 * time.Hour
	for _, e := range []daemon.Exemption{
		{ID: "EXPIRING", Person: "Expiring", From: now.Add(-day), Until: now.Add(6 * day)},
		{ID: "NEXTWEEK", Person: "Next week", From: now.Add(-day), Until: now.Add(8 * day)},
		{ID: "UPCOMING", Person: "Upcoming", From: now.Add(2 * day), Until: now.Add(3 * day)},
		{ID: "ENDED", Person: "Ended", From: now.Add(-3 * day), Until: now.Add(-day)},
		{ID: "REVOKED", Person: "Revoked", From: now.Add(-day), Until: now.Add(day), RevokedAt: &now},
	} {
		e.Zones, e.Reason, e.Approver = []string{"library"}, "curriculum", "Head"
		reg.put(e)
	}
	ids := func(page, h string) string {
		var out []string
		for _, m := range rowIDs.FindAllStringSubmatch(section(t, page, h), -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, " ")
	}
	b := f.newBrowser()
	b.login(adminUser, adminPass)
	page := readBody(t, b.get("/exemptions"))
	for h, want := range map[string]string{
		"ex-active-h":   "EXPIRING NEXTWEEK " + exemptionID,
		"ex-expiring-h": "EXPIRING",
		"ex-upcoming-h": "UPCOMING",
		"ex-ended-h":    "REVOKED ENDED",
	} {
		if got := ids(page, h); got != want {
			t.Errorf("%s lists %q, want %q", h, got, want)
		}
	}
	// Two days on: NEXTWEEK now ends within the week, UPCOMING has started.
	f.clock.Advance(2*day + time.Hour)
	b = f.newBrowser() // the session has expired
	b.login(adminUser, adminPass)
	page = readBody(t, b.get("/exemptions"))
	if got := ids(page, "ex-expiring-h"); got != "UPCOMING EXPIRING NEXTWEEK" {
		t.Errorf("two days on, expiring lists %q", got)
	}
}

func TestExemptionsAPIRoundTrip(t *testing.T) {
	f, reg := exemptionsFixture(t)
	body := `{"mac":"da:a1:19:00:00:03","zone_types":["teaching"],"from":"2025-03-13T08:00:00Z",` +
		`"until":"2025-03-13T16:00:00Z","reason":"off-site-visit","approver":"Visit lead","note":"trip",` +
		`"id":"CLIENT","created_by":"mallory"}`
	resp := f.do(http.MethodPost, "/api/v1/exemptions", dslToken, strings.NewReader(body))
	raw := readBody(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d: %s", resp.StatusCode, raw)
	}
	var got daemon.Exemption
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.ID == "CLIENT" || got.CreatedBy != "api:dsl-script" || got.Reason != "off-site-visit" || got.MAC != "da:a1:19:00:00:03" {
		t.Errorf("created %+v", got)
	}
	resp = f.do(http.MethodGet, "/api/v1/exemptions", dslToken, nil)
	var list []daemon.Exemption
	if err := json.Unmarshal([]byte(readBody(t, resp)), &list); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %d, %v", resp.StatusCode, err)
	}
	if len(list) != 2 || list[0].ID != got.ID || !list[0].From.Equal(got.From) {
		t.Errorf("list %+v", list)
	}
	resp = f.do(http.MethodPost, "/api/v1/exemptions/"+got.ID+"/revoke", sltToken, strings.NewReader(`{"note":"cancelled"}`))
	var revoked daemon.Exemption
	if err := json.Unmarshal([]byte(readBody(t, resp)), &revoked); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %d, %v", resp.StatusCode, err)
	}
	if revoked.RevokedAt == nil || revoked.RevokedBy != "api:slt-sheet" || revoked.MAC == "da:a1:19:00:00:03" {
		t.Errorf("revoked %+v (SLT gets the pseudonym)", revoked)
	}
	if e, _ := reg.get(got.ID); e.RevokedAt == nil {
		t.Error("the register did not revoke it")
	}
	// Errors: bad JSON, the dashboard's check, the register's refusal, unknown ID.
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/exemptions", `{"mac":`},
		{"/api/v1/exemptions", `{"person":"A","zones":["x"],"from":"2025-03-13T08:00:00Z","until":"2025-03-13T16:00:00Z","reason":"medical"}`},
		{"/api/v1/exemptions", `{"person":"A","zones":["nowhere"],"from":"2025-03-13T08:00:00Z","until":"2025-03-13T16:00:00Z","reason":"medical","approver":"H"}`},
	} {
		if resp := f.do(http.MethodPost, tc.path, adminToken, strings.NewReader(tc.body)); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s = %d, want 400", tc.path, tc.body, resp.StatusCode)
		}
	}
	if resp := f.do(http.MethodPost, "/api/v1/exemptions/NOSUCH/revoke", adminToken, strings.NewReader(`{}`)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown = %d, want 404", resp.StatusCode)
	}
	if reg.count() != 2 {
		t.Errorf("register holds %d", reg.count())
	}
}

func TestExemptionsNotConfigured(t *testing.T) {
	f := newFixture(t, nil)
	b := f.newBrowser()
	b.login(dslUser, dslPassword)
	resp := b.get("/exemptions")
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "The exemptions register is not configured") {
		t.Errorf("page = %d %q", resp.StatusCode, body)
	}
	if resp := b.post("/exemptions", validGrant(b.pageCSRF())); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("grant = %d", resp.StatusCode)
	}
	if resp := f.do(http.MethodGet, "/api/v1/exemptions", dslToken, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("API = %d", resp.StatusCode)
	}
}
