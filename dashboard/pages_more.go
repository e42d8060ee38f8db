package dashboard

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// Limits of the audit and report pages.
const (
	auditPageLimit   = 200
	auditExportLimit = 100000
)

// clauseLine is a cited clause with the catalogue's text.
type clauseLine struct {
	ID   string
	Text string
}

// historyItem is one step in an alert's life.
type historyItem struct {
	At     time.Time
	What   string
	By     string
	Detail string
}

type alertView struct {
	layout
	A        daemon.Alert
	Clauses  []clauseLine
	Evidence []fingerprint.Evidence
	// DeviceNow is the device's live record (nil when it is no longer seen).
	DeviceNow *daemon.Device
	Masked    bool // identifiers and evidence hidden for this role
	History   []historyItem
	Outcomes  []daemon.Outcome
	// Notification delivery per channel (roles with capDeliveries).
	ShowDeliveries bool
	DeliveriesOK   bool   // Options.Deliveries is set
	DeliveriesErr  string // reading them failed: the page still shows the rest
	Deliveries     []Delivery
}

func outcomeLabel(v string) string {
	for _, o := range outcomes {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

// alertHistory is the alert's state history, oldest first, from its own fields.
func alertHistory(a daemon.Alert) []historyItem {
	h := []historyItem{{At: a.OpenedAt, What: "Opened", By: "HallMonitor",
		Detail: strings.TrimSpace(a.Severity + " · " + a.Action + " · rule " + a.Rule)}}
	if a.AcknowledgedAt != nil {
		h = append(h, historyItem{At: *a.AcknowledgedAt, What: "Acknowledged", By: a.AcknowledgedBy})
	}
	if a.ResolvedAt != nil {
		h = append(h, historyItem{At: *a.ResolvedAt, What: "Resolved", By: a.ResolvedBy, Detail: "Outcome: " + outcomeLabel(a.Outcome)})
	}
	if a.ClosedAt != nil {
		h = append(h, historyItem{At: *a.ClosedAt, What: "Device left the breach", By: "HallMonitor"})
	}
	sort.SliceStable(h, func(i, j int) bool { return h[i].At.Before(h[j].At) })
	if a.Note != "" { // the store keeps one note: the latest action's
		for i := len(h) - 1; i >= 0; i-- {
			if h[i].What == "Resolved" || h[i].What == "Acknowledged" {
				h[i].Detail = strings.TrimPrefix(h[i].Detail+" · Note: "+a.Note, " · ")
				break
			}
		}
	}
	return h
}

func (s *Server) handleAlertPage(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	a, err := s.store.GetAlert(r.Context(), id)
	if errors.Is(err, daemon.ErrNotFound) {
		http.Error(w, "No such alert.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.internalError(w, r, fmt.Errorf("alert page: %w", err))
		return
	}
	v := alertView{
		layout:   s.layout(r, p, "alerts", "Alert "+a.ID),
		Masked:   !can(p.Role, capIdentifiers),
		History:  alertHistory(a),
		Outcomes: outcomes,
	}
	for _, c := range a.Clauses {
		v.Clauses = append(v.Clauses, clauseLine{ID: c, Text: clauseText(c)})
	}
	for _, d := range s.live.Devices() {
		if strings.EqualFold(d.MAC, a.Device.MAC) {
			d = s.maskDevice(p, d)
			v.DeviceNow = &d
			v.Evidence = d.Evidence
			break
		}
	}
	if v.ShowDeliveries = can(p.Role, capDeliveries); v.ShowDeliveries && s.deliveries != nil {
		v.DeliveriesOK = true
		ds, err := s.deliveries.Deliveries(r.Context(), a.ID)
		if err != nil {
			s.log.Error("alert deliveries", zap.String("id", a.ID), zap.Error(err))
			v.DeliveriesErr = "The delivery status could not be read just now; reload to try again."
		}
		v.Deliveries = ds
	}
	v.A = s.maskAlert(p, a)
	v.Back = "/alerts/" + a.ID
	s.render(w, r, http.StatusOK, "alert", v)
}

// sortedCounts orders a count map busiest first (for the zones table).
func sortedCounts(m map[string]int) []kindCount {
	out := make([]kindCount, 0, len(m))
	for k, n := range m {
		if k == "" {
			k = "unknown"
		}
		out = append(out, kindCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

type zonesView struct {
	layout
	Zones    []daemon.ZoneOccupancy
	Total    int
	Breaches int
}

func (s *Server) handleZonesPage(w http.ResponseWriter, r *http.Request, p principal) {
	devs := s.live.Devices()
	zs := daemon.Occupancy(devs)
	v := zonesView{layout: s.layout(r, p, "zones", "Zones"), Zones: zs, Total: len(devs)}
	for _, z := range zs {
		v.Breaches += z.Breaches
	}
	s.render(w, r, http.StatusOK, "zones", v)
}

type auditView struct {
	layout
	Available bool   // the store offers the audit log
	Verify    string // "ok" | "broken" | "" (not offered)
	VerifyErr string
	Entries   []daemon.AuditEntry
	Limit     int
}

func (s *Server) handleAuditPage(w http.ResponseWriter, r *http.Request, p principal) {
	v := auditView{layout: s.layout(r, p, "audit", "Audit log"), Limit: auditPageLimit}
	ar, ok := s.store.(AuditReader)
	if !ok {
		s.render(w, r, http.StatusNotImplemented, "audit", v)
		return
	}
	v.Available = true
	es, err := ar.ListAudit(r.Context(), auditPageLimit)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("audit page: %w", err))
		return
	}
	v.Entries = es
	if av, ok := s.store.(AuditVerifier); ok {
		v.Verify = "ok"
		if err := av.VerifyAudit(r.Context()); err != nil {
			v.Verify, v.VerifyErr = "broken", err.Error()
			s.log.Warn("audit hash chain does not verify", zap.Error(err))
		}
	}
	s.render(w, r, http.StatusOK, "audit", v)
}

// csvCell defuses spreadsheet formulas (CSV injection) in free-text fields.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) handleAuditCSV(w http.ResponseWriter, r *http.Request, p principal) {
	ar, ok := s.store.(AuditReader)
	if !ok {
		http.Error(w, "This store keeps no readable audit log.", http.StatusNotImplemented)
		return
	}
	es, err := ar.ListAudit(r.Context(), auditExportLimit)
	if err != nil {
		s.internalError(w, r, fmt.Errorf("audit export: %w", err))
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"id", "at", "site_id", "actor", "action", "target", "before", "after", "hash"})
	for _, e := range es {
		_ = cw.Write([]string{e.ID, e.At.UTC().Format(time.RFC3339), csvCell(e.SiteID), csvCell(e.Actor),
			csvCell(e.Action), csvCell(e.Target), csvCell(e.Before), csvCell(e.After), e.Hash})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.internalError(w, r, fmt.Errorf("audit export: %w", err))
		return
	}
	s.audit(r.Context(), p.Actor(), "audit.export", "audit", fmt.Sprintf("rows=%d", len(es)))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="hallmonitor-audit-%s.csv"`, s.now().Format("2006-01-02")))
	_, _ = buf.WriteTo(w)
}

type reportsView struct {
	layout
	Configured bool
	Today      string
	CanUnmask  bool
}

func (s *Server) handleReportsPage(w http.ResponseWriter, r *http.Request, p principal) {
	v := reportsView{
		layout:     s.layout(r, p, "reports", "Reports"),
		Configured: s.reports != nil,
		Today:      s.now().Format("2006-01-02"),
		CanUnmask:  can(p.Role, capUnmask),
	}
	code := http.StatusOK
	if !v.Configured {
		code = http.StatusServiceUnavailable
	}
	s.render(w, r, code, "reports", v)
}

var reportTypes = map[string]string{
	"html": "text/html; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
	"pdf":  "application/pdf",
}

func (s *Server) handleReportDownload(w http.ResponseWriter, r *http.Request, p principal) {
	if s.reports == nil {
		http.Error(w, "Reports are not configured on this gateway: ask the administrator to enable them.", http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	ctype, ok := reportTypes[format]
	if !ok {
		http.Error(w, "Choose a report format: html, csv or pdf.", http.StatusBadRequest)
		return
	}
	now := s.now()
	day, err := time.ParseInLocation("2006-01-02", q.Get("day"), now.Location())
	if err != nil {
		http.Error(w, "Choose a day (YYYY-MM-DD).", http.StatusBadRequest)
		return
	}
	if day.After(now) {
		http.Error(w, "That day has not happened yet.", http.StatusBadRequest)
		return
	}
	unmask := q.Get("unmask") != ""
	if unmask && !can(p.Role, capUnmask) {
		http.Error(w, fmt.Sprintf("Forbidden: your role (%s) receives pseudonymised reports only.", p.Role), http.StatusForbidden)
		return
	}
	var buf bytes.Buffer
	if err := s.reports.Daily(r.Context(), day, format, &buf, unmask); err != nil {
		s.internalError(w, r, fmt.Errorf("daily report %s %s: %w", day.Format("2006-01-02"), format, err))
		return
	}
	s.audit(r.Context(), p.Actor(), "report.download", day.Format("2006-01-02"),
		fmt.Sprintf("format=%s unmask=%t", format, unmask))
	name := "hallmonitor-daily-" + day.Format("2006-01-02")
	if unmask {
		name += "-unmasked"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, name, format))
	_, _ = buf.WriteTo(w)
}
