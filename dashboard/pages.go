package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// parsePages parses each page with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Local().Format("2006-01-02 15:04:05")
		},
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"join":       strings.Join,
		"rowData":    rowData,
		"clauseText": clauseText,
		"counts":     sortedCounts,
		"extable":    exTableOf,
		"exrow":      exRowOf,
		"pathesc":    url.PathEscape,
	}
	sets := map[string][]string{
		"login":      {"templates/login.html", "templates/partials.html"},
		"alerts":     {"templates/base.html", "templates/partials.html", "templates/alerts.html"},
		"alert":      {"templates/base.html", "templates/partials.html", "templates/alert.html"},
		"devices":    {"templates/base.html", "templates/partials.html", "templates/devices.html"},
		"zones":      {"templates/base.html", "templates/partials.html", "templates/zones.html"},
		"audit":      {"templates/base.html", "templates/partials.html", "templates/audit.html"},
		"reports":    {"templates/base.html", "templates/partials.html", "templates/reports.html"},
		"exemptions": {"templates/base.html", "templates/partials.html", "templates/exemptions.html"},
		"users":      {"templates/base.html", "templates/partials.html", "templates/users.html"},
	}
	out := make(map[string]*template.Template, len(sets))
	for name, files := range sets {
		t, err := template.New(strings.TrimPrefix(files[0], "templates/")).Funcs(funcs).ParseFS(assets, files...)
		if err != nil {
			return nil, fmt.Errorf("parse %s page: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render executes a page into a buffer first, so a template error is a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	t, ok := s.pages[name]
	if !ok {
		s.internalError(w, r, fmt.Errorf("no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.internalError(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w) // the client went away: nothing left to do
}

// layout is what base.html needs on every page.
type layout struct {
	Site   string
	Notice string
	Title  string
	Nav    string // "alerts" | "devices" | "zones" | "audit" | "reports" | "exemptions" | "users"
	User   string
	Role   string
	CSRF   string
	CanAct bool // may acknowledge and resolve alerts
	// Navigation links this role may follow (from the route table).
	NavDevices, NavZones, NavAudit, NavReports, NavExemptions, NavUsers bool
	Back                                                                string // this page's URL, for forms that return here
	// ReviewDue is the policy review date when it has passed ("" otherwise): the
	// banner on every page (SPT-14, OSS-7).
	ReviewDue string
}

func (s *Server) layout(r *http.Request, p principal, nav, title string) layout {
	return layout{
		Site: s.site, Notice: s.notice, Title: title, Nav: nav,
		User: p.Name, Role: p.Role, CSRF: p.CSRF, CanAct: s.may(p.Role, "POST /alerts/{id}/ack"),
		NavDevices: s.may(p.Role, "GET /devices"), NavZones: s.may(p.Role, "GET /zones"),
		NavAudit: s.may(p.Role, "GET /audit"), NavReports: s.may(p.Role, "GET /reports"),
		NavExemptions: s.may(p.Role, "GET /exemptions"), NavUsers: s.may(p.Role, "GET /users"),
		Back: r.URL.RequestURI(), ReviewDue: s.reviewOverdue(),
	}
}

// reviewOverdue returns the policy review date, formatted, when it has passed.
func (s *Server) reviewOverdue() string {
	if s.review.IsZero() || s.now().Before(s.review) {
		return ""
	}
	return s.review.Format("2 January 2006")
}

type alertsView struct {
	layout
	Alerts    []daemon.Alert
	Prototype daemon.Alert // the row app.js clones for alerts that arrive live
	State     string
	States    []string
	Outcomes  []daemon.Outcome
}

// alertRow is what the "alertrow" template needs.
type alertRow struct {
	A        daemon.Alert
	CSRF     string
	Back     string
	CanAct   bool
	Outcomes []daemon.Outcome
}

func rowData(v alertsView, a daemon.Alert) alertRow {
	return alertRow{A: a, CSRF: v.CSRF, Back: v.Back, CanAct: v.CanAct, Outcomes: v.Outcomes}
}

// prototypeID stands for the alert ID in the prototype row; app.js replaces it.
const prototypeID = "__ID__"

func (s *Server) handleAlertsPage(w http.ResponseWriter, r *http.Request, p principal) {
	state := r.URL.Query().Get("state")
	if state != "" && !validState(state) {
		state = ""
	}
	as, err := s.store.ListAlerts(r.Context(), daemon.AlertFilter{State: state, Limit: pageAlertLimit})
	if err != nil {
		s.internalError(w, r, fmt.Errorf("alerts page: %w", err))
		return
	}
	sortAlerts(as)
	for i := range as {
		as[i] = s.maskAlert(p, as[i])
	}
	s.render(w, r, http.StatusOK, "alerts", alertsView{
		layout:    s.layout(r, p, "alerts", "Alerts"),
		Alerts:    as,
		Prototype: daemon.Alert{ID: prototypeID, State: daemon.AlertNew},
		State:     state,
		States:    []string{daemon.AlertNew, daemon.AlertAcknowledged, daemon.AlertResolved},
		Outcomes:  outcomes,
	})
}

type kindCount struct {
	Kind  string
	Count int
}

type devicesView struct {
	layout
	Devices []daemon.Device
	Q       string
	Total   int
	Counts  []kindCount
	Masked  bool // identifiers replaced by pseudonyms (SLT)
}

// deviceMatches reports whether every word of q appears in one of d's shown fields.
func deviceMatches(d daemon.Device, q string) bool {
	hay := strings.ToLower(strings.Join([]string{
		d.MAC, d.IP, d.Hostname, d.Kind, d.OS, d.Vendor, d.Zone, d.ZoneType, d.Role,
		d.Decision.Action, d.Decision.Rule, strings.Join(d.Decision.Clauses, " "),
	}, " "))
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

func (s *Server) handleDevicesPage(w http.ResponseWriter, r *http.Request, p principal) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	all := s.live.Devices()
	for i := range all {
		all[i] = s.maskDevice(p, all[i])
	}
	counts := map[string]int{}
	shown := make([]daemon.Device, 0, len(all))
	for _, d := range all {
		k := d.Kind
		if k == "" {
			k = "unknown"
		}
		counts[k]++
		if deviceMatches(d, q) {
			shown = append(shown, d)
		}
	}
	// Breaches first, then the most recently seen.
	sort.SliceStable(shown, func(i, j int) bool {
		bi, bj := shown[i].Decision.Breach(), shown[j].Decision.Breach()
		if bi != bj {
			return bi
		}
		if !shown[i].LastSeen.Equal(shown[j].LastSeen) {
			return shown[i].LastSeen.After(shown[j].LastSeen)
		}
		return shown[i].MAC < shown[j].MAC
	})
	kc := make([]kindCount, 0, len(counts))
	for k, n := range counts {
		kc = append(kc, kindCount{k, n})
	}
	sort.Slice(kc, func(i, j int) bool {
		if kc[i].Count != kc[j].Count {
			return kc[i].Count > kc[j].Count
		}
		return kc[i].Kind < kc[j].Kind
	})
	s.render(w, r, http.StatusOK, "devices", devicesView{
		layout:  s.layout(r, p, "devices", "Devices"),
		Devices: shown,
		Q:       q,
		Total:   len(all),
		Counts:  kc,
		Masked:  !can(p.Role, capIdentifiers),
	})
}

// back returns where a form asked to return to (a local URL), at the alert's row.
func back(r *http.Request, id string) string {
	b := r.PostForm.Get("back")
	if b == "" {
		b = "/alerts"
	}
	b = safeNext(b)
	if !strings.Contains(b, "#") {
		b += "#alert-" + id
	}
	return b
}

func (s *Server) handleAckForm(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if len([]rune(note)) > maxNoteLen {
		http.Error(w, fmt.Sprintf("The note is longer than %d characters.", maxNoteLen), http.StatusBadRequest)
		return
	}
	if _, err := s.live.AcknowledgeAlert(r.Context(), id, p.Actor(), note); err != nil {
		s.actionError(w, r, "acknowledge", id, err)
		return
	}
	http.Redirect(w, r, back(r, id), http.StatusSeeOther)
}

func (s *Server) handleResolveForm(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	outcome := r.PostForm.Get("outcome")
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if !validOutcome(outcome) {
		http.Error(w, "Choose an outcome to resolve the alert.", http.StatusBadRequest)
		return
	}
	if len([]rune(note)) > maxNoteLen {
		http.Error(w, fmt.Sprintf("The note is longer than %d characters.", maxNoteLen), http.StatusBadRequest)
		return
	}
	if _, err := s.live.ResolveAlert(r.Context(), id, p.Actor(), outcome, note); err != nil {
		s.actionError(w, r, "resolve", id, err)
		return
	}
	http.Redirect(w, r, back(r, id), http.StatusSeeOther)
}

func (s *Server) actionError(w http.ResponseWriter, r *http.Request, what, id string, err error) {
	if errors.Is(err, daemon.ErrNotFound) {
		http.Error(w, "No such alert.", http.StatusNotFound)
		return
	}
	s.log.Error(what+" alert", zap.String("id", id), zap.Error(err))
	http.Error(w, fmt.Sprintf("Could not %s the alert: %v", what, err), http.StatusInternalServerError)
}
