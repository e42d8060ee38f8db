package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// User management (/users, admins only): accounts with their role, last login
// and whether they are disabled, and the integrations' API tokens. The dashboard
// checks each form, hashes passwords (bcrypt) and tokens (SHA-256), and hands the
// change to Options.Users, which stores and audits it in one transaction and
// refuses to remove the last enabled admin or the acting admin's own access.

const (
	notConfiguredUsers = "User management is not configured on this gateway: use the hallmonitor users command."
	minPasswordLen     = 10 // characters, as the users CLI asks
	maxAccountNameLen  = 64
)

// accountName is what /users accepts as a user or token name: it appears in
// URLs, element IDs and the audit log, so it is kept plain.
var accountName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// dashboardRoles are the roles an account or token can have, most powerful first.
var dashboardRoles = []string{daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT, daemon.RoleViewer}

// roleLabels explain each role in the forms.
var roleLabels = map[string]string{
	daemon.RoleAdmin:  "admin: everything, including user management",
	daemon.RoleDSL:    "dsl: handle alerts, audit log, real identifiers",
	daemon.RoleSLT:    "slt: reports, devices and exemptions, pseudonymised",
	daemon.RoleViewer: "viewer: the alerts wallboard",
}

type roleOption struct{ Value, Label string }

func roleOptions() []roleOption {
	out := make([]roleOption, 0, len(dashboardRoles))
	for _, r := range dashboardRoles {
		out = append(out, roleOption{r, roleLabels[r]})
	}
	return out
}

// userRow is one account as the page shows it.
type userRow struct {
	UserAccount
	Self bool // the signed-in admin: no role, disable or enable forms
}

type newUserForm struct{ Name, Role string }

type usersView struct {
	layout
	Users        []userRow
	Tokens       []APITokenInfo
	Roles        []roleOption
	MinPassword  int
	Error        string
	Done         string // what the last change did
	NewToken     string // a token just created: shown once, never again
	NewTokenName string
	Form         newUserForm
	TokenForm    newUserForm
}

// usersUnavailable answers when Options.Users is nil.
func (s *Server) usersUnavailable(w http.ResponseWriter) bool {
	if s.users != nil {
		return false
	}
	http.Error(w, notConfiguredUsers, http.StatusServiceUnavailable)
	return true
}

// doneMessages are what /users?done=… says after a change (never text from the URL).
var doneMessages = map[string]string{
	"added":    "The account %s was created.",
	"role":     "The role of %s was changed; it applies to their next page.",
	"disabled": "The account %s was disabled and signed out everywhere.",
	"enabled":  "The account %s was enabled again.",
	"password": "The password of %s was reset and their sessions were ended.",
	"revoked":  "The API token %s was revoked.",
}

func (s *Server) handleUsersPage(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	q := r.URL.Query()
	v := usersView{}
	if msg, ok := doneMessages[q.Get("done")]; ok && q.Get("name") != "" {
		v.Done = fmt.Sprintf(msg, q.Get("name"))
	}
	s.renderUsers(w, r, p, http.StatusOK, v)
}

// renderUsers fills v with the accounts and tokens and renders the page with code.
func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, p principal, code int, v usersView) {
	us, err := s.users.ListUsers(r.Context())
	if err != nil {
		s.internalError(w, r, fmt.Errorf("users page: %w", err))
		return
	}
	ts, err := s.users.ListAPITokens(r.Context())
	if err != nil {
		s.internalError(w, r, fmt.Errorf("users page: %w", err))
		return
	}
	v.layout = s.layout(r, p, "users", "Users and API tokens")
	v.Back = "/users"
	for _, u := range us {
		v.Users = append(v.Users, userRow{UserAccount: u, Self: u.Name == p.Name})
	}
	v.Tokens = ts
	v.Roles = roleOptions()
	v.MinPassword = minPasswordLen
	if v.Form.Role == "" {
		v.Form.Role = daemon.RoleViewer
	}
	if v.TokenForm.Role == "" {
		v.TokenForm.Role = daemon.RoleViewer
	}
	s.render(w, r, code, "users", v)
}

// checkName checks a new account or token name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("give the %s a name", what)
	case len(name) > maxAccountNameLen:
		return fmt.Errorf("the %s name is longer than %d characters", what, maxAccountNameLen)
	case !accountName.MatchString(name):
		return fmt.Errorf("the %s name may use only letters, digits and . _ @ - (starting with a letter or digit)", what)
	}
	return nil
}

func checkRole(role string) error {
	if !slices.Contains(dashboardRoles, role) {
		return fmt.Errorf("choose a role: %s", strings.Join(dashboardRoles, ", "))
	}
	return nil
}

// checkPassword checks a new password and its confirmation.
func checkPassword(pw, again string) error {
	switch {
	case utf8.RuneCountInString(pw) < minPasswordLen:
		return fmt.Errorf("the password must have at least %d characters", minPasswordLen)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("the password must have at most %d bytes", maxPasswordBytes)
	case pw != again:
		return errors.New("the two passwords differ")
	}
	return nil
}

// usersRedirect sends the browser back to /users saying what was done.
func usersRedirect(w http.ResponseWriter, r *http.Request, done, name, anchor string) {
	u := "/users?" + url.Values{"done": {done}, "name": {name}}.Encode()
	if anchor != "" {
		u += "#" + anchor
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// usersChangeFailed shows why a change was not made: the form's own check or the
// register's refusal (400), an unknown name (404), else an internal error.
func (s *Server) usersChangeFailed(w http.ResponseWriter, r *http.Request, p principal, what string, err error, v usersView) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, daemon.ErrNotFound):
		code = http.StatusNotFound
		err = errors.New("there is no such account or token")
	case errors.Is(err, ErrRefused):
		err = errors.New(strings.TrimPrefix(err.Error(), ErrRefused.Error()+": "))
		s.log.Info("user change refused", zap.String("actor", p.Actor()), zap.String("what", what), zap.Error(err))
	case errors.As(err, new(formError)):
	default:
		s.internalError(w, r, fmt.Errorf("users: %s: %w", what, err))
		return
	}
	v.Error = what + ": " + err.Error() + "."
	s.renderUsers(w, r, p, code, v)
}

// formError is a form the dashboard itself refuses.
type formError struct{ msg string }

func (e formError) Error() string { return e.msg }

func formErr(err error) error { return formError{err.Error()} }

func (s *Server) handleAddUserForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	pf := r.PostForm
	f := newUserForm{Name: strings.TrimSpace(pf.Get("name")), Role: pf.Get("role")}
	fail := func(err error) {
		s.usersChangeFailed(w, r, p, "The account was not created", err, usersView{Form: f})
	}
	for _, err := range []error{checkName("account", f.Name), checkRole(f.Role), checkPassword(pf.Get("password"), pf.Get("password_again"))} {
		if err != nil {
			fail(formErr(err))
			return
		}
	}
	hash, err := HashPassword(pf.Get("password"))
	if err != nil {
		fail(formErr(err))
		return
	}
	u := daemon.User{Name: f.Name, Role: f.Role, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.users.CreateUser(r.Context(), u, p.Actor()); err != nil {
		fail(err)
		return
	}
	usersRedirect(w, r, "added", f.Name, "user-"+f.Name)
}

func (s *Server) handleUserRoleForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	name, role := r.PathValue("name"), r.PostForm.Get("role")
	what := "The role of " + name + " was not changed"
	if err := checkRole(role); err != nil {
		s.usersChangeFailed(w, r, p, what, formErr(err), usersView{})
		return
	}
	if name == p.Name && role != p.Role {
		s.usersChangeFailed(w, r, p, what, formErr(errors.New("you cannot change your own role; ask another admin")), usersView{})
		return
	}
	if err := s.users.SetUserRole(r.Context(), name, role, p.Actor()); err != nil {
		s.usersChangeFailed(w, r, p, what, err, usersView{})
		return
	}
	usersRedirect(w, r, "role", name, "user-"+name)
}

func (s *Server) handleDisableUserForm(w http.ResponseWriter, r *http.Request, p principal) {
	s.setUserDisabled(w, r, p, true)
}

func (s *Server) handleEnableUserForm(w http.ResponseWriter, r *http.Request, p principal) {
	s.setUserDisabled(w, r, p, false)
}

func (s *Server) setUserDisabled(w http.ResponseWriter, r *http.Request, p principal, disable bool) {
	if s.usersUnavailable(w) {
		return
	}
	name := r.PathValue("name")
	what, done := "The account "+name+" was not enabled", "enabled"
	if disable {
		what, done = "The account "+name+" was not disabled", "disabled"
		if name == p.Name {
			s.usersChangeFailed(w, r, p, what, formErr(errors.New("you cannot disable your own account")), usersView{})
			return
		}
	}
	if err := s.users.SetUserDisabled(r.Context(), name, disable, p.Actor()); err != nil {
		s.usersChangeFailed(w, r, p, what, err, usersView{})
		return
	}
	usersRedirect(w, r, done, name, "user-"+name)
}

func (s *Server) handleResetPasswordForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	name := r.PathValue("name")
	what := "The password of " + name + " was not reset"
	pw := r.PostForm.Get("password")
	if err := checkPassword(pw, r.PostForm.Get("password_again")); err != nil {
		s.usersChangeFailed(w, r, p, what, formErr(err), usersView{})
		return
	}
	hash, err := HashPassword(pw)
	if err != nil {
		s.usersChangeFailed(w, r, p, what, formErr(err), usersView{})
		return
	}
	if err := s.users.ResetPassword(r.Context(), name, hash, p.Actor()); err != nil {
		s.usersChangeFailed(w, r, p, what, err, usersView{})
		return
	}
	if name == p.Name { // the admin's own sessions ended with the reset: sign in again
		http.Redirect(w, r, "/login?next=/users", http.StatusSeeOther)
		return
	}
	usersRedirect(w, r, "password", name, "user-"+name)
}

func (s *Server) handleCreateTokenForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	f := newUserForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role")}
	what := "The API token was not created"
	if err := checkName("token", f.Name); err != nil {
		s.usersChangeFailed(w, r, p, what, formErr(err), usersView{TokenForm: f})
		return
	}
	if err := checkRole(f.Role); err != nil {
		s.usersChangeFailed(w, r, p, what, formErr(err), usersView{TokenForm: f})
		return
	}
	secret, err := randomToken()
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	t := daemon.APIToken{Name: f.Name, TokenHash: HashToken(secret), Role: f.Role, CreatedAt: s.now().UTC()}
	if err := s.users.CreateAPIToken(r.Context(), t, p.Actor()); err != nil {
		s.usersChangeFailed(w, r, p, what, err, usersView{TokenForm: f})
		return
	}
	// The secret is in this response only (no-store): a redirect would put it in a URL.
	s.renderUsers(w, r, p, http.StatusOK, usersView{NewToken: secret, NewTokenName: f.Name})
}

func (s *Server) handleRevokeTokenForm(w http.ResponseWriter, r *http.Request, p principal) {
	if s.usersUnavailable(w) {
		return
	}
	name := r.PathValue("name")
	if err := s.users.RevokeAPIToken(r.Context(), name, p.Actor()); err != nil {
		s.usersChangeFailed(w, r, p, "The API token "+name+" was not revoked", err, usersView{})
		return
	}
	usersRedirect(w, r, "revoked", name, "tokens-h")
}
