package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Cookie and form names.
const (
	sessionCookie = "hm_session"
	loginCookie   = "hm_login_csrf" // double-submit token for the login form (no session yet)
	csrfField     = "csrf"
)

// timingHash is a bcrypt hash (DefaultCost, of a password nobody uses) checked when a
// login names no existing user, so that the answer takes as long as a wrong password.
const timingHash = "$2a$10$tg4DB4SgEGzQudNkzDI7kOk3V7YWNpWtgkRiTS2gi7.ThH7UzNMi."

// Password limits: bcrypt reads at most 72 bytes.
const (
	maxPasswordBytes = 72
	maxUserNameLen   = 128
)

// HashToken returns the hex SHA-256 of token: how API tokens and session IDs are
// stored, so that a copy of the database does not hold usable credentials.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashPassword returns the bcrypt hash of pw for a dashboard account.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: password is empty")
	}
	if len(pw) > maxPasswordBytes {
		return "", fmt.Errorf("hash password: password is longer than %d bytes", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches the bcrypt hash.
func CheckPassword(hash, pw string) bool {
	if pw == "" || len(pw) > maxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func equalToken(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// principal is who a request acts for.
type principal struct {
	Name        string // user name, or token name for API tokens
	Role        string
	SessionHash string // set for browser sessions
	CSRF        string // the session's CSRF token
	Token       bool   // authenticated with a bearer token
}

// Actor is the name written to the audit log for this principal.
func (p principal) Actor() string {
	if p.Token {
		return "api:" + p.Name
	}
	return p.Name
}

var errNoAuth = errors.New("not authenticated")

// fromSession authenticates the request's session cookie. It returns errNoAuth when
// there is no valid session, or another error when the store failed.
func (s *Server) fromSession(r *http.Request) (principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return principal{}, errNoAuth
	}
	hash := HashToken(c.Value)
	sess, err := s.store.GetSession(r.Context(), hash)
	if errors.Is(err, daemon.ErrNotFound) {
		return principal{}, errNoAuth
	}
	if err != nil {
		return principal{}, fmt.Errorf("get session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		if err := s.store.DeleteSession(r.Context(), hash); err != nil {
			s.log.Warn("delete expired session", zap.Error(err))
		}
		return principal{}, errNoAuth
	}
	u, err := s.store.GetUser(r.Context(), sess.User)
	if errors.Is(err, daemon.ErrNotFound) {
		return principal{}, errNoAuth // the account was removed: its sessions die with it
	}
	if err != nil {
		return principal{}, fmt.Errorf("get user %q: %w", sess.User, err)
	}
	return principal{Name: u.Name, Role: u.Role, SessionHash: hash, CSRF: sess.CSRF}, nil
}

// fromBearer authenticates an Authorization: Bearer header. ok is false when the
// request carries no bearer header at all.
func (s *Server) fromBearer(r *http.Request) (p principal, present bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, false, nil
	}
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return principal{}, true, errNoAuth
	}
	t, err := s.store.LookupAPIToken(r.Context(), HashToken(strings.TrimSpace(tok)))
	if errors.Is(err, daemon.ErrNotFound) {
		return principal{}, true, errNoAuth
	}
	if err != nil {
		return principal{}, true, fmt.Errorf("lookup API token: %w", err)
	}
	return principal{Name: t.Name, Role: t.Role, Token: true}, true, nil
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p principal)

// page wraps a browser page: a session is required, else 303 to /login?next=...
func (s *Server) page(roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.fromSession(r)
		switch {
		case errors.Is(err, errNoAuth):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case err != nil:
			s.internalError(w, r, err)
			return
		}
		if !slices.Contains(roles, p.Role) {
			forbidden(w, p)
			return
		}
		h(w, r, p)
	})
}

// forbidden answers a signed-in browser whose role may not use the route.
func forbidden(w http.ResponseWriter, p principal) {
	http.Error(w, fmt.Sprintf("Forbidden: your role (%s) may not open this page. Ask the school's HallMonitor administrator if you need it.", p.Role), http.StatusForbidden)
}

// form wraps a state-changing browser POST: a session and its CSRF token are required.
func (s *Server) form(roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.fromSession(r)
		switch {
		case errors.Is(err, errNoAuth):
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		case err != nil:
			s.internalError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !equalToken(r.PostForm.Get(csrfField), p.CSRF) {
			s.log.Warn("form rejected: bad CSRF token", zap.String("user", p.Name), zap.String("path", r.URL.Path))
			http.Error(w, "Forbidden: the form was out of date or not sent by this dashboard. Go back, reload and try again.", http.StatusForbidden)
			return
		}
		if !slices.Contains(roles, p.Role) {
			http.Error(w, fmt.Sprintf("Forbidden: your role (%s) may not do this.", p.Role), http.StatusForbidden)
			return
		}
		h(w, r, p)
	})
}

// api wraps a JSON API route. A bearer token always works; a browser session works
// for GET only (POSTs need a token: no cookies, so no CSRF). Only roles may use it.
func (s *Server) api(write bool, roles []string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, present, err := s.fromBearer(r)
		if !present && !write {
			p, err = s.fromSession(r)
		} else if !present {
			err = errNoAuth
		}
		switch {
		case errors.Is(err, errNoAuth):
			w.Header().Set("WWW-Authenticate", `Bearer realm="hallmonitor"`)
			writeJSONError(w, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
			return
		case err != nil:
			s.log.Error("authenticate API request", zap.String("path", r.URL.Path), zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "internal error")
			return
		}
		if !slices.Contains(roles, p.Role) {
			msg := fmt.Sprintf("role %q may not use this endpoint", p.Role)
			if write {
				msg = fmt.Sprintf("role %q may not make this change (needs %s)", p.Role, strings.Join(roles, " or "))
			}
			writeJSONError(w, http.StatusForbidden, msg)
			return
		}
		h(w, r, p)
	})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
	http.Error(w, "Internal error: the dashboard could not complete this request. Try again shortly.", http.StatusInternalServerError)
}

// audit appends to the audit log; a failure is logged, never shown to the user.
func (s *Server) audit(ctx context.Context, actor, action, target, after string) {
	e := daemon.AuditEntry{
		ID:     ulid.MustNew(ulid.Timestamp(s.now()), rand.Reader).String(),
		SiteID: s.siteID,
		At:     s.now().UTC(),
		Actor:  actor,
		Action: action,
		Target: target,
		After:  after,
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.Error("append audit entry", zap.String("action", action), zap.Error(err))
	}
}

// clientIP is the TCP peer's address. Forwarding headers are not trusted: the
// dashboard is served directly by the gateway.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext returns next when it is a local path, else /alerts (no open redirects).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/alerts"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" ||
		u.Path == "/login" {
		return "/alerts"
	}
	return next
}

// loginView is the data of the login template.
type loginView struct {
	Site    string
	Notice  string
	CSRF    string
	Next    string
	User    string
	Message string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if _, err := s.fromSession(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", "")
}

// renderLogin shows the login form with a fresh or reused pre-session CSRF token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, user, msg string) {
	tok := ""
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == 43 {
		tok = c.Value
	} else {
		t, err := randomToken()
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		tok = t
	}
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: tok, Path: "/login", MaxAge: 3600,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	s.render(w, r, code, "login", loginView{
		Site: s.site, Notice: s.notice, CSRF: tok, Next: safeNext(next), User: user, Message: msg,
	})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !equalToken(c.Value, r.PostForm.Get(csrfField)) {
		http.Error(w, "Forbidden: the login form was out of date. Reload the login page and try again.", http.StatusForbidden)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	pw := r.PostForm.Get("password")
	if len(name) > maxUserNameLen {
		name = name[:maxUserNameLen]
	}
	ip := clientIP(r)
	key := strings.ToLower(name) + "|" + ip

	if wait, first := s.throttle.blocked(key, ip); wait > 0 {
		if first {
			s.audit(r.Context(), name, "login.failed", name, "ip="+ip+" throttled")
		}
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		s.renderLogin(w, r, http.StatusTooManyRequests, name,
			"Too many failed attempts. Wait a minute before trying again.")
		return
	}

	u, err := s.store.GetUser(r.Context(), name)
	switch {
	case errors.Is(err, daemon.ErrNotFound):
		CheckPassword(timingHash, pw) // same time as a wrong password
	case err != nil:
		s.internalError(w, r, fmt.Errorf("login: %w", err))
		return
	}
	if err != nil || name == "" || !CheckPassword(u.PasswordHash, pw) {
		s.throttle.fail(key, ip)
		s.audit(r.Context(), name, "login.failed", name, "ip="+ip)
		s.log.Info("login failed", zap.String("user", name), zap.String("ip", ip))
		s.renderLogin(w, r, http.StatusUnauthorized, name, "Wrong user name or password.")
		return
	}
	s.throttle.reset(key)

	tok, err := randomToken()
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	csrf, err := randomToken()
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	now := s.now()
	sess := daemon.Session{
		TokenHash: HashToken(tok), User: u.Name, CSRF: csrf,
		CreatedAt: now.UTC(), ExpiresAt: now.Add(s.ttl).UTC(),
	}
	err = s.store.CreateSession(r.Context(), sess)
	if errors.Is(err, daemon.ErrNotFound) { // disabled (or removed) since GetUser: no session
		s.audit(r.Context(), u.Name, "login.failed", u.Name, "ip="+ip+" account disabled")
		s.log.Info("login refused: account disabled", zap.String("user", u.Name), zap.String("ip", ip))
		s.renderLogin(w, r, http.StatusForbidden, name,
			"This account is disabled. Ask the school's HallMonitor administrator to enable it.")
		return
	}
	if err != nil {
		s.internalError(w, r, fmt.Errorf("create session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", MaxAge: int(s.ttl.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	s.audit(r.Context(), u.Name, "login", u.Name, "ip="+ip)
	s.log.Info("login", zap.String("user", u.Name), zap.String("ip", ip))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, p principal) {
	if err := s.store.DeleteSession(r.Context(), p.SessionHash); err != nil {
		s.internalError(w, r, fmt.Errorf("logout: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	s.audit(r.Context(), p.Name, "logout", p.Name, "ip="+clientIP(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// Login throttle: at most throttleMax failures per user+IP, and throttleIPMax per IP
// (against password spraying across names), in a sliding throttleWindow.
const (
	throttleWindow  = time.Minute
	throttleMax     = 5
	throttleIPMax   = 20
	throttleMaxKeys = 10000 // bound on tracked keys; expired ones are pruned first
)

type throttle struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*failures
}

type failures struct {
	at      []time.Time // failure times inside the window, oldest first
	audited bool        // the throttled state was audited in this window
}

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, m: make(map[string]*failures)}
}

// recent drops failures older than the window and returns what is left.
func (t *throttle) recent(key string, now time.Time) *failures {
	f := t.m[key]
	if f == nil {
		return nil
	}
	i := 0
	for i < len(f.at) && now.Sub(f.at[i]) >= throttleWindow {
		i++
	}
	f.at = f.at[i:]
	if len(f.at) == 0 {
		delete(t.m, key)
		return nil
	}
	return f
}

// blocked returns how long key (or ip) must wait, and whether this is the first
// rejection in the window (to audit once rather than on every attempt).
func (t *throttle) blocked(key, ip string) (wait time.Duration, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range []string{key, "ip|" + ip} {
		limit := throttleMax
		if k != key {
			limit = throttleIPMax
		}
		f := t.recent(k, now)
		if f == nil || len(f.at) < limit {
			continue
		}
		w := throttleWindow - now.Sub(f.at[len(f.at)-limit])
		first := !f.audited
		f.audited = true
		return w, first
	}
	return 0, false
}

func (t *throttle) fail(key, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.m) >= throttleMaxKeys {
		for k := range t.m {
			t.recent(k, now)
		}
		for k := range t.m { // still full: forget arbitrary keys rather than grow
			if len(t.m) < throttleMaxKeys {
				break
			}
			delete(t.m, k)
		}
	}
	for _, k := range []string{key, "ip|" + ip} {
		f := t.recent(k, now)
		if f == nil {
			f = &failures{}
			t.m[k] = f
		}
		f.at = append(f.at, now)
		if len(f.at) > throttleIPMax {
			f.at = f.at[len(f.at)-throttleIPMax:]
		}
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}
