package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/dashboard"
)

// usersAdmin is the dashboard's users register (/users) over the store: each
// change and its audit entry are one store transaction.
type usersAdmin struct{ st *store.Store }

var _ dashboard.UsersRegister = usersAdmin{}

// refusal turns the store's refusals into dashboard.ErrRefused with a message
// for the admin; other errors pass unchanged.
func refusal(err error, what, name string) error {
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: %s named %s already exists", dashboard.ErrRefused, what, name)
	case errors.Is(err, store.ErrLastAdmin):
		return fmt.Errorf("%w: %w", dashboard.ErrRefused, store.ErrLastAdmin)
	case errors.Is(err, store.ErrOwnAccount):
		return fmt.Errorf("%w: %w", dashboard.ErrRefused, store.ErrOwnAccount)
	}
	return err
}

func (u usersAdmin) ListUsers(ctx context.Context) ([]dashboard.UserAccount, error) {
	as, err := u.st.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.UserAccount, 0, len(as))
	for _, a := range as {
		out = append(out, dashboard.UserAccount{Name: a.Name, Role: a.Role, CreatedAt: a.CreatedAt, LastLogin: a.LastLoginAt, Disabled: a.Disabled})
	}
	return out, nil
}

func (u usersAdmin) CreateUser(ctx context.Context, x daemon.User, actor string) error {
	return refusal(u.st.AddUser(ctx, x, actor), "a user", x.Name)
}

func (u usersAdmin) SetUserRole(ctx context.Context, name, role, actor string) error {
	return refusal(u.st.SetUserRole(ctx, name, role, actor), "a user", name)
}

func (u usersAdmin) SetUserDisabled(ctx context.Context, name string, disabled bool, actor string) error {
	return refusal(u.st.SetUserDisabled(ctx, name, disabled, actor), "a user", name)
}

func (u usersAdmin) ResetPassword(ctx context.Context, name, hash, actor string) error {
	return u.st.ResetPassword(ctx, name, hash, actor)
}

func (u usersAdmin) ListAPITokens(ctx context.Context) ([]dashboard.APITokenInfo, error) {
	ts, err := u.st.ListAPITokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.APITokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, dashboard.APITokenInfo{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt})
	}
	return out, nil
}

func (u usersAdmin) CreateAPIToken(ctx context.Context, t daemon.APIToken, actor string) error {
	return refusal(u.st.AddAPIToken(ctx, t, actor), "a token", t.Name)
}

func (u usersAdmin) RevokeAPIToken(ctx context.Context, name, actor string) error {
	return u.st.RevokeAPIToken(ctx, name, actor)
}

// alertDeliveries is the alert page's delivery status over the store's outbox.
type alertDeliveries struct{ st *store.Store }

var _ dashboard.DeliveryStatus = alertDeliveries{}

func (d alertDeliveries) Deliveries(ctx context.Context, alertID string) ([]dashboard.Delivery, error) {
	items, err := d.st.Deliveries(ctx, alertID)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.Delivery, 0, len(items))
	for _, it := range items {
		dl := dashboard.Delivery{
			Channel: it.Channel, Kind: it.Kind, State: it.State, Attempts: it.Attempts,
			LastError: it.LastError, CreatedAt: it.CreatedAt, DeliveredAt: it.DeliveredAt,
		}
		if it.State == store.OutboxPending {
			dl.NextAttempt = it.NextAttemptAt
		}
		out = append(out, dl)
	}
	return out, nil
}
