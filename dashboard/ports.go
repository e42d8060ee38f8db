package dashboard

import (
	"context"
	"io"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Store is what the dashboard reads and writes durably (adapters/store implements it).
type Store interface {
	ListAlerts(ctx context.Context, f daemon.AlertFilter) ([]daemon.Alert, error)
	GetAlert(ctx context.Context, id string) (daemon.Alert, error)
	GetUser(ctx context.Context, name string) (daemon.User, error) // wraps daemon.ErrNotFound
	CreateSession(ctx context.Context, s daemon.Session) error
	GetSession(ctx context.Context, tokenHash string) (daemon.Session, error) // wraps daemon.ErrNotFound
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
