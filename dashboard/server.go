// Package dashboard is HallMonitor's web interface: local-account login, the live
// alerts and devices pages (updated by server-sent events), and the JSON API under
// /api/v1 used by scripts and integrations.
//
// It reads the daemon's live state and the store through the small interfaces in
// ports.go and never writes state itself: acknowledging and resolving alerts goes
// through Live, which audits them. The dashboard audits only logins and logouts.
package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/rules/report"
)

//go:embed templates/*.html static/*
var assets embed.FS

// DefaultPrivacyNotice is shown in the footer of every page when Options.PrivacyNotice
// is empty (OSS-3: users are told that activity may be monitored for safeguarding).
const DefaultPrivacyNotice = "Devices on this school's network are monitored to keep pupils safe: " +
	"the type of device, where on site it connects and when are recorded for safeguarding, " +
	"as the school's mobile and smart technology policy explains (OSS-3). " +
	"Everything done in this dashboard is logged."

// Defaults for Options fields left zero.
const (
	DefaultSiteName   = "HallMonitor"
	DefaultSessionTTL = 12 * time.Hour
)

// Limits the server enforces.
const (
	heartbeatInterval = 15 * time.Second
	maxStreams        = 64      // concurrent /events connections
	maxBodyBytes      = 1 << 16 // request bodies (forms, JSON)
	maxNoteLen        = 2000    // characters in an acknowledgement / resolution note
	defaultAlertLimit = 100
	maxAlertLimit     = 1000
	pageAlertLimit    = 200
)

// Options configures a Server. Store and Live are required.
type Options struct {
	Store  Store
	Live   Live
	Logger *zap.Logger // nil: no logging
	// Metrics is served at /metrics, behind authentication (bearer token or session).
	// Nil: /metrics answers 404.
	Metrics http.Handler
	// Health reports readiness for the anonymous /healthz: 200 {"status":"ok",...detail}
	// when ok, else 503 {"status":"unavailable",...detail}. Nil: always ok.
	Health func() (ok bool, detail map[string]any)
	// SecureCookies marks cookies Secure; set it when serving TLS.
	SecureCookies bool
	SiteName      string        // shown in the header; DefaultSiteName when empty
	SessionTTL    time.Duration // browser session lifetime; DefaultSessionTTL when zero
	Now           func() time.Time
	// PrivacyNotice is the monitoring notice in every page footer (OSS-3);
	// DefaultPrivacyNotice when empty.
	PrivacyNotice string
	// SiteID is copied into the audit entries the dashboard writes (optional: the
	// store may fill it in).
	SiteID string
	// PolicyReviewDue is when the school's device policy must next be reviewed
	// (SPT-14, OSS-7); once Now is past it every page shows a banner. Zero: no banner.
	PolicyReviewDue time.Time
	// Reports renders the daily report offered on /reports (adapters/report). Nil:
	// /reports says reports are not configured and downloads answer 503.
	Reports ReportRenderer
	// PseudonymSecret keys the pseudonyms shown instead of MACs to roles that may
	// not see identifiers (SLT). Give it the reports' secret so that both name a
	// device alike. Nil: a random per-process key (pseudonyms change on restart).
	PseudonymSecret []byte
	// Exemptions is the exemptions register behind /exemptions and
	// /api/v1/exemptions (cmd implements it over the store). Nil: those answer 503
	// "The exemptions register is not configured".
	Exemptions ExemptionsRegister
	// Users is the account register behind /users (admins only; cmd implements it
	// over the store). Nil: /users answers 503 "User management is not configured".
	Users UsersRegister
	// Deliveries reports each alert's notification deliveries on its page. Nil:
	// the alert page says delivery status is not available.
	Deliveries DeliveryStatus
}

// Server is the dashboard's HTTP handler and the state it owns: the login throttle and
// the live event streams. Create it with New; call Close when the HTTP server shuts
// down so that open event streams end (http.Server.Shutdown does not cancel them).
type Server struct {
	store      Store
	live       Live
	log        *zap.Logger
	metrics    http.Handler
	health     func() (bool, map[string]any)
	secure     bool
	site       string
	siteID     string
	ttl        time.Duration
	now        func() time.Time
	notice     string
	review     time.Time
	pages      map[string]*template.Template
	static     http.Handler
	throttle   *throttle
	reports    ReportRenderer
	exemptions ExemptionsRegister
	users      UsersRegister
	deliveries DeliveryStatus
	pseudo     func(mac string) string
	table      []route
	allowed    map[string][]string // route pattern → roles, from table

	heartbeat time.Duration
	streams   chan struct{} // semaphore: one slot per open /events stream

	ctx    context.Context // cancelled by Close: ends event streams
	cancel context.CancelFunc
	once   sync.Once
}

// New checks o and returns a Server.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("dashboard: Options.Store is required")
	}
	if o.Live == nil {
		return nil, errors.New("dashboard: Options.Live is required")
	}
	if o.SessionTTL < 0 {
		return nil, fmt.Errorf("dashboard: Options.SessionTTL %v is negative", o.SessionTTL)
	}
	s := &Server{
		store:     o.Store,
		live:      o.Live,
		log:       o.Logger,
		metrics:   o.Metrics,
		health:    o.Health,
		secure:    o.SecureCookies,
		site:      o.SiteName,
		siteID:    o.SiteID,
		ttl:       o.SessionTTL,
		now:       o.Now,
		notice:    o.PrivacyNotice,
		review:    o.PolicyReviewDue,
		heartbeat: heartbeatInterval,
		streams:   make(chan struct{}, maxStreams),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.site == "" {
		s.site = DefaultSiteName
	}
	if s.ttl == 0 {
		s.ttl = DefaultSessionTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.notice == "" {
		s.notice = DefaultPrivacyNotice
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s.pages = pages
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: static assets: %w", err)
	}
	s.static = http.StripPrefix("/static/", http.FileServerFS(static))
	s.throttle = newThrottle(s.now)
	s.reports = o.Reports
	s.exemptions = o.Exemptions
	s.users = o.Users
	s.deliveries = o.Deliveries
	secret := o.PseudonymSecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("dashboard: pseudonym key: %w", err)
		}
	}
	s.pseudo = report.Pseudonymiser(secret)
	s.table = s.routes()
	s.allowed = make(map[string][]string, len(s.table))
	for _, rt := range s.table {
		s.allowed[rt.Pattern] = rt.Roles
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close ends every open event stream and refuses new ones. Register it with
// http.Server.RegisterOnShutdown. It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(s.cancel)
}

// Handler returns the dashboard's routes wrapped in the security headers and request
// logging every response gets.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.table {
		mux.Handle(rt.Pattern, s.wrap(rt))
	}
	return s.withHeaders(mux)
}

func (s *Server) staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets are embedded in the binary: cacheable, but revalidated after an upgrade.
		w.Header().Set("Cache-Control", "no-cache")
		s.static.ServeHTTP(w, r)
	})
}

// withHeaders sets the security headers on every response and logs each request.
func (s *Server) withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		start := s.now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug("http request",
			zap.String("method", r.Method),
			zap.String("path", r.URL.Path),
			zap.Int("status", sw.status()),
			zap.Duration("took", s.now().Sub(start)))
	})
}

// statusWriter records the status code for the request log. Unwrap keeps
// http.ResponseController (Flush, SetWriteDeadline) working through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		return n, fmt.Errorf("write response: %w", err)
	}
	return n, nil
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	ok, detail := true, map[string]any(nil)
	if s.health != nil {
		ok, detail = s.health()
	}
	body := make(map[string]any, len(detail)+1)
	for k, v := range detail {
		body[k] = v
	}
	code := http.StatusOK
	body["status"] = "ok"
	if !ok {
		code = http.StatusServiceUnavailable
		body["status"] = "unavailable"
	}
	writeJSON(w, code, body)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, _ principal) {
	if s.metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.metrics.ServeHTTP(w, r)
}
