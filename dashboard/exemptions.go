package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// The exemptions register (OSS-4, OSS-5, OSS-6, SPT-3, SPT-5, SPT-7): SLT, the DSL
// and admins see, grant and revoke time-boxed exemptions. The dashboard checks the
// form, then hands everything to Options.Exemptions, which validates, stores,
// audits and applies it; its errors are shown to the user (400), never as a 500.

// Limits and formats of the register's forms.
const (
	notConfiguredExemptions = "The exemptions register is not configured on this gateway: ask the administrator to enable it."
	exemptionExpiringWithin = 7 * 24 * time.Hour
	datetimeLocal           = "2006-01-02T15:04" // <input type="datetime-local">
	maxApproverLen          = 200
	maxListLen              = 50 // zones or zone types in one exemption
)

// exemptionReasonLabels names each reason of policy.ExemptionReasons for the form.
var exemptionReasonLabels = map[string]string{
	"medical":            "Medical (e.g. a monitoring app)",
	"curriculum":         "Curriculum (planned use in a lesson)",
	"multi-agency-visit": "Multi-agency visit (OSS-6)",
	"emergency":          "Emergency",
	"off-site-visit":     "Off-site visit (SPT-5)",
	"individual-support": "Individual support (SPT-7)",
	"other":              "Other (say why in the note)",
}

type reasonOption struct{ Value, Label string }

func exemptionReasons() []reasonOption {
	out := make([]reasonOption, 0, len(policy.ExemptionReasons))
	for _, r := range policy.ExemptionReasons {
		l := exemptionReasonLabels[r]
		if l == "" {
			l = r
		}
		out = append(out, reasonOption{r, l})
	}
	return out
}

// exemptionRow is one exemption as the page shows it (times in the school's zone).
type exemptionRow struct {
	E         daemon.Exemption
	Who       string // MAC (or pseudonym) and/or person
	Where     string
	From      string
	Until     string
	FromISO   string
	UntilISO  string
	Status    string // "active" | "upcoming" | "ended" | "revoked"
	Revoked   string
	Revocable bool
}

// grantForm is what the grant form was sent with, to fill it in again after an error.
type grantForm struct {
	MAC, Person, Zones, ZoneTypes, From, Until, Reason, Approver, Note string
}

type exemptionsView struct {
	layout
	Configured bool
	CanGrant   bool
	Masked     bool
	Error      string
	Granted    string // ID of the exemption just granted
	RevokedID  string
	TZ         string
	Reasons    []reasonOption
	Form       grantForm
	Active     []exemptionRow
	Expiring   []exemptionRow
	Upcoming   []exemptionRow
	Ended      []exemptionRow
}

// exemptionsUnavailable answers when Options.Exemptions is nil.
func (s *Server) exemptionsUnavailable(w http.ResponseWriter, api bool) bool {
	if s.exemptions != nil {
		return false
	}
	if api {
		writeJSONError(w, http.StatusServiceUnavailable, "the exemptions register is not configured")
	} else {
		http.Error(w, notConfiguredExemptions, http.StatusServiceUnavailable)
	}
	return true
}

// maskExemption replaces the MAC with its pseudonym for roles that may not see
// identifiers (SLT), as on the devices pages.
func (s *Server) maskExemption(p principal, e daemon.Exemption) daemon.Exemption {
	if e.MAC != "" && !can(p.Role, capIdentifiers) {
		e.MAC = s.pseudo(e.MAC)
	}
	return e
}

func (s *Server) handleExemptionsPage(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, false) {
		return
	}
	q := r.URL.Query()
	s.renderExemptions(w, r, p, http.StatusOK, exemptionsView{Granted: q.Get("granted"), RevokedID: q.Get("revoked")})
}

// renderExemptions fills v with the register and renders the page with code.
func (s *Server) renderExemptions(w http.ResponseWriter, r *http.Request, p principal, code int, v exemptionsView) {
	es, err := s.exemptions.ListExemptions(r.Context())
	if err != nil {
		s.internalError(w, r, fmt.Errorf("exemptions page: %w", err))
		return
	}
	now := s.now()
	loc := now.Location()
	v.layout = s.layout(r, p, "exemptions", "Exemptions register")
	v.Configured = true
	v.CanGrant = s.may(p.Role, "POST /exemptions")
	v.Masked = !can(p.Role, capIdentifiers)
	v.TZ = loc.String()
	v.Reasons = exemptionReasons()
	if v.Form == (grantForm{}) {
		v.Form.From = now.Format(datetimeLocal)
	}
	for _, e := range es {
		row := s.exemptionRow(p, e, now, loc)
		switch row.Status {
		case "active":
			v.Active = append(v.Active, row)
			if !e.Until.After(now.Add(exemptionExpiringWithin)) {
				v.Expiring = append(v.Expiring, row)
			}
		case "upcoming":
			v.Upcoming = append(v.Upcoming, row)
		default:
			v.Ended = append(v.Ended, row)
		}
	}
	// Active and expiring: soonest end first; upcoming: soonest start first;
	// ended: the register's order (newest first).
	byUntil := func(rs []exemptionRow) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].E.Until.Before(rs[j].E.Until) })
	}
	byUntil(v.Active)
	byUntil(v.Expiring)
	sort.SliceStable(v.Upcoming, func(i, j int) bool { return v.Upcoming[i].E.From.Before(v.Upcoming[j].E.From) })
	s.render(w, r, code, "exemptions", v)
}

func (s *Server) exemptionRow(p principal, e daemon.Exemption, now time.Time, loc *time.Location) exemptionRow {
	e = s.maskExemption(p, e)
	var who []string
	if e.MAC != "" {
		who = append(who, e.MAC)
	}
	if e.Person != "" {
		who = append(who, e.Person)
	}
	var where []string
	if len(e.Zones) > 0 {
		where = append(where, "zones: "+strings.Join(e.Zones, ", "))
	}
	if len(e.ZoneTypes) > 0 {
		where = append(where, "zone types: "+strings.Join(e.ZoneTypes, ", "))
	}
	const shown = "Mon 2 Jan 2006 15:04"
	row := exemptionRow{
		E: e, Who: strings.Join(who, " · "), Where: strings.Join(where, "; "),
		From: e.From.In(loc).Format(shown), Until: e.Until.In(loc).Format(shown),
		FromISO: e.From.UTC().Format(time.RFC3339), UntilISO: e.Until.UTC().Format(time.RFC3339),
	}
	switch {
	case e.RevokedAt != nil:
		row.Status = "revoked"
		row.Revoked = e.RevokedAt.In(loc).Format(shown)
	case !now.Before(e.Until):
		row.Status = "ended"
	case now.Before(e.From):
		row.Status, row.Revocable = "upcoming", true
	default:
		row.Status, row.Revocable = "active", true
	}
	return row
}

// splitList splits a comma-separated field into trimmed, non-empty, distinct items.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// resolveDevice turns what the user typed into a MAC: a MAC in any common
// notation, or (for roles that see pseudonyms) a pseudonym of a device seen now.
func (s *Server) resolveDevice(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if hw, err := net.ParseMAC(v); err == nil && len(hw) == 6 {
		return strings.ToLower(hw.String()), nil
	}
	if strings.HasPrefix(strings.ToLower(v), "device-") {
		for _, d := range s.live.Devices() {
			if strings.EqualFold(s.pseudo(d.MAC), v) {
				return strings.ToLower(d.MAC), nil
			}
		}
		return "", fmt.Errorf("no device seen now has the pseudonym %s", v)
	}
	return "", fmt.Errorf("%q is not a device MAC address (like 0a:1b:2c:3d:4e:5f)", v)
}

// checkExemption is the dashboard's own check before the register validates e.
func checkExemption(e daemon.Exemption) error {
	switch {
	case e.MAC == "" && e.Person == "":
		return errors.New("give the device's MAC address or the person (owner on the register) the exemption is for")
	case len(e.Zones) == 0 && len(e.ZoneTypes) == 0:
		return errors.New("give at least one zone or zone type the exemption applies in")
	case len(e.Zones) > maxListLen || len(e.ZoneTypes) > maxListLen:
		return fmt.Errorf("give at most %d zones and %d zone types", maxListLen, maxListLen)
	case e.From.IsZero() || e.Until.IsZero():
		return errors.New("give when the exemption starts and ends")
	case !e.Until.After(e.From):
		return errors.New("the exemption must end after it starts")
	case !slices.Contains(policy.ExemptionReasons, e.Reason):
		return errors.New("choose a reason: " + strings.Join(policy.ExemptionReasons, ", "))
	case strings.TrimSpace(e.Approver) == "":
		return errors.New("name who approved the exemption in advance (OSS-5, OSS-6)")
	case len([]rune(e.Approver)) > maxApproverLen:
		return fmt.Errorf("the approver is longer than %d characters", maxApproverLen)
	case len([]rune(e.Note)) > maxNoteLen:
		return fmt.Errorf("the note is longer than %d characters", maxNoteLen)
	}
	return nil
}

func (s *Server) handleGrantExemptionForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, false) {
		return
	}
	pf := r.PostForm
	f := grantForm{
		MAC: strings.TrimSpace(pf.Get("mac")), Person: strings.TrimSpace(pf.Get("person")),
		Zones: pf.Get("zones"), ZoneTypes: pf.Get("zone_types"),
		From: pf.Get("from"), Until: pf.Get("until"), Reason: pf.Get("reason"),
		Approver: strings.TrimSpace(pf.Get("approver")), Note: strings.TrimSpace(pf.Get("note")),
	}
	fail := func(err error) {
		s.renderExemptions(w, r, p, http.StatusBadRequest, exemptionsView{Form: f, Error: "The exemption was not granted: " + err.Error() + "."})
	}
	loc := s.now().Location()
	e := daemon.Exemption{
		Person: f.Person, Zones: splitList(f.Zones), ZoneTypes: splitList(f.ZoneTypes),
		Reason: f.Reason, Approver: f.Approver, Note: f.Note,
	}
	var err error
	if e.MAC, err = s.resolveDevice(f.MAC); err != nil {
		fail(err)
		return
	}
	for _, t := range []struct {
		v    string
		dst  *time.Time
		what string
	}{{f.From, &e.From, "start"}, {f.Until, &e.Until, "end"}} {
		if t.v == "" {
			continue // checkExemption says what is missing
		}
		if *t.dst, err = time.ParseInLocation(datetimeLocal, t.v, loc); err != nil {
			fail(fmt.Errorf("the %s %q is not a date and time (YYYY-MM-DDTHH:MM)", t.what, t.v))
			return
		}
	}
	if err := checkExemption(e); err != nil {
		fail(err)
		return
	}
	got, err := s.exemptions.GrantExemption(r.Context(), e, p.Actor())
	if err != nil {
		s.log.Info("exemption not granted", zap.String("actor", p.Actor()), zap.Error(err))
		fail(err)
		return
	}
	http.Redirect(w, r, "/exemptions?granted="+got.ID+"#exemption-"+got.ID, http.StatusSeeOther)
}

func (s *Server) handleRevokeExemptionForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, false) {
		return
	}
	id := r.PathValue("id")
	note := strings.TrimSpace(r.PostForm.Get("note"))
	if len([]rune(note)) > maxNoteLen {
		s.renderExemptions(w, r, p, http.StatusBadRequest, exemptionsView{Error: fmt.Sprintf("The exemption was not revoked: the note is longer than %d characters.", maxNoteLen)})
		return
	}
	err := s.exemptions.RevokeExemption(r.Context(), id, p.Actor(), note)
	if errors.Is(err, daemon.ErrNotFound) {
		http.Error(w, "No such exemption.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Info("exemption not revoked", zap.String("id", id), zap.String("actor", p.Actor()), zap.Error(err))
		s.renderExemptions(w, r, p, http.StatusBadRequest, exemptionsView{Error: "The exemption was not revoked: " + err.Error() + "."})
		return
	}
	http.Redirect(w, r, "/exemptions?revoked="+id, http.StatusSeeOther)
}

// API

func (s *Server) handleAPIExemptions(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, true) {
		return
	}
	es, err := s.exemptions.ListExemptions(r.Context())
	if err != nil {
		s.log.Error("list exemptions", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "could not list the exemptions")
		return
	}
	out := make([]daemon.Exemption, 0, len(es))
	for _, e := range es {
		out = append(out, s.maskExemption(p, e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIGrantExemption(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, true) {
		return
	}
	var e daemon.Exemption
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		writeJSONError(w, http.StatusBadRequest, "body must be a JSON exemption: {\"mac\" or \"person\", \"zones\" and/or \"zone_types\", \"from\", \"until\" (RFC 3339), \"reason\", \"approver\", \"note\"}")
		return
	}
	// The register sets these; a client may not.
	e.ID, e.CreatedBy, e.CreatedAt, e.RevokedAt, e.RevokedBy, e.Clauses = "", "", time.Time{}, nil, "", nil
	e.Person, e.Approver, e.Note = strings.TrimSpace(e.Person), strings.TrimSpace(e.Approver), strings.TrimSpace(e.Note)
	e.Zones, e.ZoneTypes = splitList(strings.Join(e.Zones, ",")), splitList(strings.Join(e.ZoneTypes, ","))
	mac, err := s.resolveDevice(e.MAC)
	if err == nil {
		e.MAC = mac
		err = checkExemption(e)
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	got, err := s.exemptions.GrantExemption(r.Context(), e, p.Actor())
	if err != nil {
		s.log.Info("exemption not granted", zap.String("actor", p.Actor()), zap.Error(err))
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, s.maskExemption(p, got))
}

func (s *Server) handleAPIRevokeExemption(w http.ResponseWriter, r *http.Request, p principal) {
	if s.exemptionsUnavailable(w, true) {
		return
	}
	b, ok := s.readActionBody(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.exemptions.RevokeExemption(r.Context(), id, p.Actor(), b.Note)
	if errors.Is(err, daemon.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, "no such exemption")
		return
	}
	if err != nil {
		s.log.Info("exemption not revoked", zap.String("id", id), zap.String("actor", p.Actor()), zap.Error(err))
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	es, err := s.exemptions.ListExemptions(r.Context())
	if err == nil {
		for _, e := range es {
			if e.ID == id {
				writeJSON(w, http.StatusOK, s.maskExemption(p, e))
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": "revoked"})
}

// exTable is what the "extable" template needs: one of the register's tables.
type exTable struct {
	ID       string
	Rows     []exemptionRow
	Actions  bool // a revoke column (and row anchors)
	Empty    string
	CSRF     string
	CanGrant bool
}

func exTableOf(v exemptionsView, id string, rows []exemptionRow, actions bool, empty string) exTable {
	return exTable{ID: id, Rows: rows, Actions: actions, Empty: empty, CSRF: v.CSRF, CanGrant: v.CanGrant}
}

// exRow is what the "exrow" template needs.
type exRow struct {
	R        exemptionRow
	Actions  bool
	CSRF     string
	CanGrant bool
}

func exRowOf(t exTable, r exemptionRow) exRow {
	return exRow{R: r, Actions: t.Actions, CSRF: t.CSRF, CanGrant: t.CanGrant}
}
