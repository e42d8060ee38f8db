package dashboard

import (
	"net/http"
	"slices"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Who may do what. This file is the one place where the dashboard decides it:
// every route is registered from routes() with the roles allowed to use it, and
// the wrappers (page, form, api) answer 403 to every other role. Templates and
// handlers ask the same table (s.may, s.can) rather than testing role names.

// Role sets used by the route table.
var (
	anyRole  = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT, daemon.RoleViewer}
	actors   = []string{daemon.RoleAdmin, daemon.RoleDSL}                 // change alerts; audit; device history
	leaders  = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT} // devices, reports, exemptions register
	dslAdmin = actors
	admins   = []string{daemon.RoleAdmin} // user and API token management
)

// capability is a permission inside a route (what a page shows, which option it accepts).
type capability int

const (
	// capIdentifiers: see device MACs, IPs, hostnames and fingerprint evidence.
	// Without it (SLT) devices and alerts show the report pseudonym instead of the
	// MAC, and no IP, hostname, linked MACs or evidence.
	capIdentifiers capability = iota
	// capUnmask: download reports with real MACs instead of pseudonyms.
	capUnmask
	// capDeliveries: see how an alert's notifications were delivered (channels,
	// attempts, errors) on its page. Not the viewer's wallboard.
	capDeliveries
)

var capabilities = map[capability][]string{
	// The viewer keeps what it always had on the alerts wallboard (MAC and
	// hostname of the alerting device); it has no devices pages at all.
	capIdentifiers: {daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleViewer},
	capUnmask:      {daemon.RoleAdmin, daemon.RoleDSL},
	capDeliveries:  {daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT},
}

// routeKind is how a route authenticates.
type routeKind int

const (
	kindAnon     routeKind = iota // no authentication
	kindPage                      // browser session; anonymous → 303 /login?next=
	kindForm                      // browser session + CSRF token; anonymous → 303 /login
	kindAPI                       // bearer token or session; anonymous → 401 JSON
	kindAPIWrite                  // bearer token only; anonymous → 401 JSON
)

// route is one row of the permission table.
type route struct {
	Pattern string // net/http ServeMux pattern, "METHOD /path"
	Kind    routeKind
	Roles   []string // who may use it (ignored for kindAnon)
	h       handlerFunc
	anon    http.Handler
}

// routes is the dashboard's complete route table.
func (s *Server) routes() []route {
	return []route{
		// Anonymous: health, login, and what the login page needs.
		{Pattern: "GET /healthz", Kind: kindAnon, anon: http.HandlerFunc(s.handleHealth)},
		{Pattern: "GET /login", Kind: kindAnon, anon: http.HandlerFunc(s.handleLoginForm)},
		{Pattern: "POST /login", Kind: kindAnon, anon: http.HandlerFunc(s.handleLogin)},
		{Pattern: "GET /static/style.css", Kind: kindAnon, anon: s.staticHandler()},

		// Browser pages.
		{Pattern: "GET /{$}", Kind: kindPage, Roles: anyRole, h: func(w http.ResponseWriter, r *http.Request, _ principal) {
			http.Redirect(w, r, "/alerts", http.StatusSeeOther)
		}},
		{Pattern: "GET /static/", Kind: kindPage, Roles: anyRole, h: s.handleStatic},
		{Pattern: "GET /alerts", Kind: kindPage, Roles: anyRole, h: s.handleAlertsPage},
		{Pattern: "GET /alerts/{id}", Kind: kindPage, Roles: anyRole, h: s.handleAlertPage},
		{Pattern: "GET /zones", Kind: kindPage, Roles: anyRole, h: s.handleZonesPage},
		{Pattern: "GET /devices", Kind: kindPage, Roles: leaders, h: s.handleDevicesPage},
		{Pattern: "GET /audit", Kind: kindPage, Roles: dslAdmin, h: s.handleAuditPage},
		{Pattern: "GET /audit.csv", Kind: kindPage, Roles: dslAdmin, h: s.handleAuditCSV},
		{Pattern: "GET /reports", Kind: kindPage, Roles: leaders, h: s.handleReportsPage},
		{Pattern: "GET /reports/daily", Kind: kindPage, Roles: leaders, h: s.handleReportDownload},
		{Pattern: "GET /exemptions", Kind: kindPage, Roles: leaders, h: s.handleExemptionsPage},
		{Pattern: "GET /users", Kind: kindPage, Roles: admins, h: s.handleUsersPage},

		// State-changing browser forms.
		{Pattern: "POST /logout", Kind: kindForm, Roles: anyRole, h: s.handleLogout},
		{Pattern: "POST /alerts/{id}/ack", Kind: kindForm, Roles: actors, h: s.handleAckForm},
		{Pattern: "POST /alerts/{id}/resolve", Kind: kindForm, Roles: actors, h: s.handleResolveForm},
		{Pattern: "POST /exemptions", Kind: kindForm, Roles: leaders, h: s.handleGrantExemptionForm},
		{Pattern: "POST /exemptions/{id}/revoke", Kind: kindForm, Roles: leaders, h: s.handleRevokeExemptionForm},
		{Pattern: "POST /users", Kind: kindForm, Roles: admins, h: s.handleAddUserForm},
		{Pattern: "POST /users/{name}/role", Kind: kindForm, Roles: admins, h: s.handleUserRoleForm},
		{Pattern: "POST /users/{name}/disable", Kind: kindForm, Roles: admins, h: s.handleDisableUserForm},
		{Pattern: "POST /users/{name}/enable", Kind: kindForm, Roles: admins, h: s.handleEnableUserForm},
		{Pattern: "POST /users/{name}/password", Kind: kindForm, Roles: admins, h: s.handleResetPasswordForm},
		{Pattern: "POST /users/tokens", Kind: kindForm, Roles: admins, h: s.handleCreateTokenForm},
		{Pattern: "POST /users/tokens/{name}/revoke", Kind: kindForm, Roles: admins, h: s.handleRevokeTokenForm},

		// Session or bearer token.
		{Pattern: "GET /events", Kind: kindAPI, Roles: anyRole, h: s.handleEvents},
		{Pattern: "GET /metrics", Kind: kindAPI, Roles: anyRole, h: s.handleMetrics},

		// JSON API.
		{Pattern: "GET /api/v1/devices", Kind: kindAPI, Roles: leaders, h: s.handleAPIDevices},
		{Pattern: "GET /api/v1/zones", Kind: kindAPI, Roles: anyRole, h: s.handleAPIZones},
		{Pattern: "GET /api/v1/devices/{mac}/zones", Kind: kindAPI, Roles: dslAdmin, h: s.handleAPIDeviceZones},
		{Pattern: "GET /api/v1/alerts", Kind: kindAPI, Roles: anyRole, h: s.handleAPIAlerts},
		{Pattern: "GET /api/v1/alerts/{id}", Kind: kindAPI, Roles: anyRole, h: s.handleAPIAlert},
		{Pattern: "POST /api/v1/alerts/{id}/ack", Kind: kindAPIWrite, Roles: actors, h: s.handleAPIAck},
		{Pattern: "POST /api/v1/alerts/{id}/resolve", Kind: kindAPIWrite, Roles: actors, h: s.handleAPIResolve},
		{Pattern: "GET /api/v1/exemptions", Kind: kindAPI, Roles: leaders, h: s.handleAPIExemptions},
		{Pattern: "POST /api/v1/exemptions", Kind: kindAPIWrite, Roles: leaders, h: s.handleAPIGrantExemption},
		{Pattern: "POST /api/v1/exemptions/{id}/revoke", Kind: kindAPIWrite, Roles: leaders, h: s.handleAPIRevokeExemption},
		{Pattern: "/api/", Kind: kindAnon, anon: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSONError(w, http.StatusNotFound, "no such API endpoint")
		})},
	}
}

// wrap returns the route's handler with its authentication and role check.
func (s *Server) wrap(rt route) http.Handler {
	switch rt.Kind {
	case kindPage:
		return s.page(rt.Roles, rt.h)
	case kindForm:
		return s.form(rt.Roles, rt.h)
	case kindAPI:
		return s.api(false, rt.Roles, rt.h)
	case kindAPIWrite:
		return s.api(true, rt.Roles, rt.h)
	}
	return rt.anon
}

// may reports whether role may use the route with this pattern ("GET /audit").
func (s *Server) may(role, pattern string) bool {
	roles, ok := s.allowed[pattern]
	return ok && slices.Contains(roles, role)
}

// can reports whether role has a capability inside a route.
func can(role string, c capability) bool {
	return slices.Contains(capabilities[c], role)
}

func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request, _ principal) {
	if len(r.URL.Path) > 0 && r.URL.Path[len(r.URL.Path)-1] == '/' { // files only, no listings
		http.NotFound(w, r)
		return
	}
	s.staticHandler().ServeHTTP(w, r)
}
