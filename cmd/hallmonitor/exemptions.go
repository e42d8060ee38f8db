package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/dashboard"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// exemptionStore is the part of adapters/store the register keeps its records in.
type exemptionStore interface {
	CreateExemption(ctx context.Context, e daemon.Exemption) (daemon.Exemption, error)
	RevokeExemption(ctx context.Context, id, actor, note string, at time.Time) error
	ListExemptions(ctx context.Context) ([]daemon.Exemption, error)
}

// policyReloader is the engine, as far as the register is concerned.
type policyReloader interface {
	Reload(ctx context.Context, p daemon.Policy) error
}

// applyTimeout bounds how long a grant or revocation waits for the engine to take
// the new policy. The wait does not end with the request: once the record is
// committed it must be applied even if the browser has gone.
const applyTimeout = 30 * time.Second

// exemptionsRegister is the runtime exemptions register behind the dashboard's
// /exemptions (dashboard.ExemptionsRegister). Records live in the store; the
// engine runs the configuration's policy (the base) plus every unrevoked
// exemption that has not ended, appended after the configured ones
// (policy.WithExemptions). The base is replaced on a configuration reload
// (rebase), which re-applies the register.
//
// A stored exemption that no longer fits the base (a reload removed the zone it
// names) is left out and logged, not fatal: one stale record must not stop the
// daemon or the reload.
type exemptionsRegister struct {
	st  exemptionStore
	now func() time.Time // the engine's clock: which exemptions have ended
	log *zap.Logger

	mu   sync.Mutex // one change at a time, so the engine always ends with the latest
	base *policy.Policy
	eng  policyReloader // nil until attach: nothing to reload yet
}

var _ dashboard.ExemptionsRegister = (*exemptionsRegister)(nil)

func newExemptionsRegister(st exemptionStore, base *policy.Policy, clock daemon.Clock, log *zap.Logger) *exemptionsRegister {
	if clock == nil {
		clock = daemon.SystemClock{}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &exemptionsRegister{st: st, now: clock.Now, log: log, base: base}
}

// attach tells the register the engine to reload on every change.
func (r *exemptionsRegister) attach(eng policyReloader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eng = eng
}

// Policy returns the base policy with the stored exemptions applied: what the
// engine starts with.
func (r *exemptionsRegister) Policy(ctx context.Context) (*policy.Policy, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.build(ctx)
}

// rebase replaces the base policy (a configuration reload) and reloads the engine
// with it and the register applied.
func (r *exemptionsRegister) rebase(ctx context.Context, base *policy.Policy) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.base = base
	p, err := r.build(ctx)
	if err != nil {
		return err
	}
	if r.eng == nil {
		return nil
	}
	return r.eng.Reload(ctx, p)
}

// ListExemptions returns the whole register, newest first, revoked included.
func (r *exemptionsRegister) ListExemptions(ctx context.Context) ([]daemon.Exemption, error) {
	return r.st.ListExemptions(ctx)
}

// GrantExemption validates e against the running base policy together with the
// exemptions already in force, records it (with its "exemption.grant" audit entry)
// and applies it. The register sets ID, CreatedBy (actor) and CreatedAt; a MAC is
// stored in lower-case colon form. An exemption that has already ended is refused.
// If the record is committed but the engine cannot take the new policy in time,
// the stored exemption is returned with an error saying so (it is applied at the
// next change, reload or start).
func (r *exemptionsRegister) GrantExemption(ctx context.Context, e daemon.Exemption, actor string) (daemon.Exemption, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return daemon.Exemption{}, errors.New("exemption not granted: no actor")
	}
	e.CreatedAt = time.Now().UTC()
	e.ID = ulid.MustNew(ulid.Timestamp(e.CreatedAt), ulid.DefaultEntropy()).String()
	e.CreatedBy = actor
	e.RevokedAt, e.RevokedBy = nil, ""
	e.Person = strings.TrimSpace(e.Person)
	e.Approver = strings.TrimSpace(e.Approver)
	e.Note = strings.TrimSpace(e.Note)
	if e.MAC != "" {
		m, err := policy.NormalizeMAC(e.MAC)
		if err != nil {
			return daemon.Exemption{}, fmt.Errorf("exemption not granted: MAC %q: %w", e.MAC, err)
		}
		e.MAC = m
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); !e.Until.After(now) {
		return daemon.Exemption{}, fmt.Errorf("exemption not granted: it ends %s, which has already passed",
			e.Until.In(r.base.Location()).Format("2 January 2006 15:04"))
	}
	active, err := r.active(ctx)
	if err != nil {
		return daemon.Exemption{}, err
	}
	p, err := r.base.WithExemptions(append(active, toPolicyExemption(e)))
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("exemption not granted: %w", err)
	}
	stored, err := r.st.CreateExemption(ctx, e)
	if err != nil {
		return daemon.Exemption{}, err
	}
	r.log.Info("exemption granted", zap.String("id", stored.ID), zap.String("by", actor),
		zap.String("reason", stored.Reason), zap.Time("from", stored.From), zap.Time("until", stored.Until))
	if err := r.reload(ctx, p); err != nil {
		return stored, fmt.Errorf("exemption %s is recorded but could not be applied yet: %w", stored.ID, err)
	}
	return stored, nil
}

// RevokeExemption records the revocation (with its "exemption.revoke" audit entry)
// and reloads the engine without the exemption. A missing ID wraps
// daemon.ErrNotFound; an exemption already revoked is an error.
func (r *exemptionsRegister) RevokeExemption(ctx context.Context, id, actor, note string) error {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return errors.New("exemption not revoked: no actor")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.st.RevokeExemption(ctx, id, actor, strings.TrimSpace(note), time.Now()); err != nil {
		return err
	}
	r.log.Info("exemption revoked", zap.String("id", id), zap.String("by", actor))
	p, err := r.build(ctx)
	if err != nil {
		return fmt.Errorf("exemption %s is revoked but could not be applied yet: %w", id, err)
	}
	if err := r.reload(ctx, p); err != nil {
		return fmt.Errorf("exemption %s is revoked but could not be applied yet: %w", id, err)
	}
	return nil
}

// build returns the base policy with active() applied. r.mu is held.
func (r *exemptionsRegister) build(ctx context.Context) (*policy.Policy, error) {
	active, err := r.active(ctx)
	if err != nil {
		return nil, err
	}
	return r.base.WithExemptions(active)
}

// active returns the stored exemptions that are not revoked, have not ended and
// fit the base policy, oldest first (so the policy's order is stable). r.mu is held.
func (r *exemptionsRegister) active(ctx context.Context) ([]policy.Exemption, error) {
	all, err := r.st.ListExemptions(ctx)
	if err != nil {
		return nil, err
	}
	now := r.now()
	var in []policy.Exemption
	for i := len(all) - 1; i >= 0; i-- {
		if e := all[i]; e.RevokedAt == nil && e.Until.After(now) {
			in = append(in, toPolicyExemption(e))
		}
	}
	if _, err := r.base.WithExemptions(in); err == nil {
		return in, nil
	}
	var out []policy.Exemption // some do not fit: find which
	for _, pe := range in {
		if _, err := r.base.WithExemptions([]policy.Exemption{pe}); err != nil {
			r.log.Error("stored exemption does not fit the configured policy; not applied",
				zap.String("id", pe.ID), zap.Error(err))
			continue
		}
		out = append(out, pe)
	}
	return out, nil
}

// reload hands p to the engine, if there is one yet. r.mu is held.
func (r *exemptionsRegister) reload(ctx context.Context, p *policy.Policy) error {
	if r.eng == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), applyTimeout)
	defer cancel()
	return r.eng.Reload(ctx, p)
}

func toPolicyExemption(e daemon.Exemption) policy.Exemption {
	return policy.Exemption{
		ID: e.ID, MAC: e.MAC, Person: e.Person, Zones: e.Zones, ZoneTypes: e.ZoneTypes,
		From: e.From, Until: e.Until, Reason: e.Reason, Approver: e.Approver, Clauses: e.Clauses,
		Created: e.CreatedAt,
	}
}
