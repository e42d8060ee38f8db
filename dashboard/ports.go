package dashboard

import (
	"context"
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
