package daemon

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by stores when a record does not exist.
var ErrNotFound = errors.New("not found")

// AlertStore is where alerts and the audit log become durable. The daemon commits
// an alert here before anyone (dashboard, notifier) is told about it.
type AlertStore interface {
	InsertAlert(ctx context.Context, a Alert) error
	CloseAlert(ctx context.Context, id string, at time.Time) error
	UpdateAlert(ctx context.Context, a Alert) error // state, acknowledgement, resolution
	GetAlert(ctx context.Context, id string) (Alert, error)
	OpenAlerts(ctx context.Context) ([]Alert, error) // episodes with ClosedAt == nil, to resume after a restart
	AppendAudit(ctx context.Context, e AuditEntry) error
}
