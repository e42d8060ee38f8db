package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// Resolution outcomes offered to the DSL (OSS-8: an alert is resolved with an outcome).
var outcomes = daemon.Outcomes

func validOutcome(o string) bool { return daemon.ValidOutcome(o) }

func validState(st string) bool {
	return st == daemon.AlertNew || st == daemon.AlertAcknowledged || st == daemon.AlertResolved
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client went away: nothing left to do
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// apiDevice returns d with empty lists instead of nil, so clients see [] not null.
func apiDevice(d daemon.Device) daemon.Device {
	if d.Decision.Clauses == nil {
		d.Decision.Clauses = []string{}
	}
	if d.Evidence == nil {
		d.Evidence = []fingerprint.Evidence{}
	}
	return d
}

func apiAlert(a daemon.Alert) daemon.Alert {
	if a.Clauses == nil {
		a.Clauses = []string{}
	}
	return a
}

// sortAlerts orders alerts newest first (ULIDs sort by time as a tie-break).
func sortAlerts(as []daemon.Alert) {
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].OpenedAt.Equal(as[j].OpenedAt) {
			return as[i].OpenedAt.After(as[j].OpenedAt)
		}
		return as[i].ID > as[j].ID
	})
}

func (s *Server) handleAPIDevices(w http.ResponseWriter, _ *http.Request, p principal) {
	devs := s.live.Devices()
	out := make([]daemon.Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, apiDevice(s.maskDevice(p, d)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	writeJSON(w, http.StatusOK, out)
}

// handleAPIZones answers who is where now: devices per zone, by kind and role.
func (s *Server) handleAPIZones(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, daemon.Occupancy(s.live.Devices()))
}

func (s *Server) handleAPIAlerts(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	f := daemon.AlertFilter{State: q.Get("state"), Limit: defaultAlertLimit}
	if f.State != "" && !validState(f.State) {
		writeJSONError(w, http.StatusBadRequest, "state must be new, acknowledged or resolved")
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxAlertLimit {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", maxAlertLimit))
			return
		}
		f.Limit = n
	}
	as, err := s.store.ListAlerts(r.Context(), f)
	if err != nil {
		s.log.Error("list alerts", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "could not list alerts")
		return
	}
	out := make([]daemon.Alert, 0, len(as))
	for _, a := range as {
		out = append(out, apiAlert(s.maskAlert(p, a)))
	}
	sortAlerts(out)
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAPIDeviceZones answers where a device has been: its stays per zone over
// the last `days` days (default 1, at most 31), oldest first.
func (s *Server) handleAPIDeviceZones(w http.ResponseWriter, r *http.Request, _ principal) {
	hist, ok := s.store.(ZoneHistory)
	if !ok {
		writeJSONError(w, http.StatusNotImplemented, "this store keeps no zone history")
		return
	}
	days := 1
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31 {
			writeJSONError(w, http.StatusBadRequest, "days must be a number from 1 to 31")
			return
		}
		days = n
	}
	now := s.now()
	visits, err := hist.ZoneVisits(r.Context(), strings.ToLower(r.PathValue("mac")), now.AddDate(0, 0, -days), now.Add(time.Minute))
	if err != nil {
		s.log.Error("zone history", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "could not read the zone history")
		return
	}
	if visits == nil {
		visits = []daemon.ZoneVisit{}
	}
	writeJSON(w, http.StatusOK, visits)
}

func (s *Server) handleAPIAlert(w http.ResponseWriter, r *http.Request, p principal) {
	a, err := s.store.GetAlert(r.Context(), r.PathValue("id"))
	if errors.Is(err, daemon.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, "no such alert")
		return
	}
	if err != nil {
		s.log.Error("get alert", zap.String("id", r.PathValue("id")), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "could not read the alert")
		return
	}
	writeJSON(w, http.StatusOK, apiAlert(s.maskAlert(p, a)))
}

// actionBody is the JSON body of POST /api/v1/alerts/{id}/ack and /resolve.
type actionBody struct {
	Note    string `json:"note"`
	Outcome string `json:"outcome"`
}

func (s *Server) readActionBody(w http.ResponseWriter, r *http.Request) (actionBody, bool) {
	var b actionBody
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err := dec.Decode(&b); err != nil {
			writeJSONError(w, http.StatusBadRequest, "body must be JSON: {\"note\": \"...\", \"outcome\": \"...\"}")
			return b, false
		}
	}
	b.Note = strings.TrimSpace(b.Note)
	if len([]rune(b.Note)) > maxNoteLen {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("note is longer than %d characters", maxNoteLen))
		return b, false
	}
	return b, true
}

func (s *Server) handleAPIAck(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.readActionBody(w, r)
	if !ok {
		return
	}
	a, err := s.live.AcknowledgeAlert(r.Context(), r.PathValue("id"), p.Actor(), b.Note)
	s.writeActionResult(w, r, "acknowledge", a, err)
}

func (s *Server) handleAPIResolve(w http.ResponseWriter, r *http.Request, p principal) {
	b, ok := s.readActionBody(w, r)
	if !ok {
		return
	}
	if !validOutcome(b.Outcome) {
		writeJSONError(w, http.StatusBadRequest, "outcome must be one of: "+outcomeValues())
		return
	}
	a, err := s.live.ResolveAlert(r.Context(), r.PathValue("id"), p.Actor(), b.Outcome, b.Note)
	s.writeActionResult(w, r, "resolve", a, err)
}

func outcomeValues() string {
	vs := make([]string, len(outcomes))
	for i, o := range outcomes {
		vs[i] = o.Value
	}
	return strings.Join(vs, ", ")
}

func (s *Server) writeActionResult(w http.ResponseWriter, r *http.Request, what string, a daemon.Alert, err error) {
	if errors.Is(err, daemon.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, "no such alert")
		return
	}
	if err != nil {
		s.log.Error(what+" alert", zap.String("id", r.PathValue("id")), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, fmt.Sprintf("could not %s the alert: %v", what, err))
		return
	}
	writeJSON(w, http.StatusOK, apiAlert(a))
}
