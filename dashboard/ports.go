package dashboard

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Store is what the dashboard reads and writes durably (adapters/store implements it).
type Store interface {
	ListAlerts(ctx context.Context, f daemon.AlertFilter) ([]daemon.Alert, error)
	GetAlert(ctx context.Context, id string) (daemon.Alert, error)
	GetUser(ctx context.Context, name string) (daemon.User, error) // wraps daemon.ErrNotFound
	// CreateSession wraps daemon.ErrNotFound when the user is missing or disabled:
	// a disabled account cannot sign in.
	CreateSession(ctx context.Context, s daemon.Session) error
	// GetSession wraps daemon.ErrNotFound when there is no such session or its user
	// is disabled.
	GetSession(ctx context.Context, tokenHash string) (daemon.Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	LookupAPIToken(ctx context.Context, tokenHash string) (daemon.APIToken, error) // wraps daemon.ErrNotFound
	AppendAudit(ctx context.Context, e daemon.AuditEntry) error
}

// Live is the daemon's live state and the actions that go through it (audited there).
type Live interface {
	Devices() []daemon.Device
	// Subscribe returns events committed after the call; cancel releases the subscription.
	Subscribe() (events <-chan daemon.Event, cancel func())
	AcknowledgeAlert(ctx context.Context, id, actor, note string) (daemon.Alert, error)
	ResolveAlert(ctx context.Context, id, actor, outcome, note string) (daemon.Alert, error)
}

// ZoneHistory is the optional store part behind a device's zone history
// (adapters/store implements it).
type ZoneHistory interface {
	ZoneVisits(ctx context.Context, mac string, from, to time.Time) ([]daemon.ZoneVisit, error)
}

// AuditReader is the optional store part behind /audit and /audit.csv
// (adapters/store implements it): the newest limit entries, newest first.
type AuditReader interface {
	ListAudit(ctx context.Context, limit int) ([]daemon.AuditEntry, error)
}

// AuditVerifier is the optional store part that checks the audit log's hash chain;
// nil when every entry links to the one before (adapters/store implements it).
type AuditVerifier interface {
	VerifyAudit(ctx context.Context) error
}

// ReportRenderer renders the daily report for day (local midnight) as "html", "csv"
// or "pdf" into w. unmask asks for real MACs instead of pseudonyms; the dashboard
// sets it only for roles allowed to unmask (dsl, admin). adapters/report provides
// one; cmd wires it into Options.Reports.
type ReportRenderer interface {
	Daily(ctx context.Context, day time.Time, format string /* html|csv|pdf */, w io.Writer, unmask bool) error
}

// ExemptionsRegister is the exemptions register behind /exemptions (optional
// Options field; cmd implements it over the store and reloads the engine's policy).
type ExemptionsRegister interface {
	ListExemptions(ctx context.Context) ([]daemon.Exemption, error) // newest first, revoked included
	// GrantExemption validates e (reason, window, zones, mac or person), stores it
	// with its audit entry and applies it; the returned value has ID and CreatedAt.
	GrantExemption(ctx context.Context, e daemon.Exemption, actor string) (daemon.Exemption, error)
	RevokeExemption(ctx context.Context, id, actor, note string) error // wraps daemon.ErrNotFound
}

// ErrRefused marks a change the users register refuses for a reason the admin
// can act on (the last enabled admin, the admin's own account, a name already
// taken): /users shows its message (400) instead of an internal error.
var ErrRefused = errors.New("refused")

// UserAccount is one dashboard account as /users lists it (no password hash).
type UserAccount struct {
	Name      string
	Role      string
	CreatedAt time.Time
	LastLogin *time.Time // nil: never signed in, or not recorded
	Disabled  bool
}

// APITokenInfo is one integration's API token as /users lists it: never the
// token or its hash.
type APITokenInfo struct {
	Name      string
	Role      string
	CreatedAt time.Time
}

// UsersRegister is the account register behind /users (optional Options field;
// cmd implements it over the store). Every change is audited (actor, before,
// after) in the same transaction as the change. Unknown names wrap
// daemon.ErrNotFound; refusals the admin can act on wrap ErrRefused. The register
// itself refuses to disable or demote the actor's own account and the last
// enabled admin. The dashboard hashes passwords and tokens: the register never
// sees a secret.
type UsersRegister interface {
	ListUsers(ctx context.Context) ([]UserAccount, error) // by name, disabled included
	CreateUser(ctx context.Context, u daemon.User, actor string) error
	SetUserRole(ctx context.Context, name, role, actor string) error
	// SetUserDisabled disables (true) or enables an account; disabling deletes its sessions.
	SetUserDisabled(ctx context.Context, name string, disabled bool, actor string) error
	// ResetPassword stores a new bcrypt hash and ends the user's sessions.
	ResetPassword(ctx context.Context, name, passwordHash, actor string) error
	ListAPITokens(ctx context.Context) ([]APITokenInfo, error) // by name
	CreateAPIToken(ctx context.Context, t daemon.APIToken, actor string) error
	RevokeAPIToken(ctx context.Context, name, actor string) error
}

// Delivery is one notification of an alert on one channel, as the alert page
// shows it.
type Delivery struct {
	Channel     string
	Kind        string // "notify" | "escalate"
	State       string // "pending" | "delivered" | "failed" | "suppressed"
	Attempts    int
	LastError   string // or, when suppressed, why
	CreatedAt   time.Time
	NextAttempt time.Time  // for pending deliveries
	DeliveredAt *time.Time // nil until delivered
}

// DeliveryStatus is the optional part behind the alert page's delivery status
// (cmd implements it over the store's outbox): every delivery of the alert,
// oldest first.
type DeliveryStatus interface {
	Deliveries(ctx context.Context, alertID string) ([]Delivery, error)
}
