package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// ErrExemptionRevoked: RevokeExemption was asked to revoke an exemption that
// already is revoked (the first revocation stands).
var ErrExemptionRevoked = errors.New("exemption already revoked")

const exemptionColumns = `id, site_id, mac, person, zones, zone_types, from_at, until_at, reason,
	clauses, approver, note, created_by, created_at, revoked_at, revoked_by`

// CreateExemption stores a new entry of the exemptions register and appends its
// audit entry ("exemption.grant", actor e.CreatedBy, target the ID, After the
// exemption as JSON) in the same transaction. It sets e.ID to a new ULID when
// empty (else it must be a ULID) and e.CreatedAt to now when zero, and returns
// the stored exemption. The store checks only what a record needs (one of MAC or
// person, a window, a reason, who created it, not yet revoked): whether the
// exemption makes sense for the policy is rules/policy's WithExemptions.
// Exemptions are safeguarding records: Purge never removes them.
func (s *Store) CreateExemption(ctx context.Context, e daemon.Exemption) (daemon.Exemption, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now()
	}
	if e.ID == "" {
		id, err := ulid.New(ulid.Timestamp(e.CreatedAt), ulid.DefaultEntropy())
		if err != nil {
			return daemon.Exemption{}, fmt.Errorf("store: create exemption: new ID: %w", err)
		}
		e.ID = id.String()
	}
	for _, t := range []time.Time{e.From, e.Until, e.CreatedAt} {
		if !validTime(t) {
			return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: time %v out of range", e.ID, t)
		}
	}
	// Normalise to what the table returns.
	e.CreatedAt = fromNanos(nanos(e.CreatedAt))
	e.From, e.Until = fromNanos(nanos(e.From)), fromNanos(nanos(e.Until))
	e.Zones, e.ZoneTypes, e.Clauses = nilIfEmpty(e.Zones), nilIfEmpty(e.ZoneTypes), nilIfEmpty(e.Clauses)
	if err := checkExemption(&e); err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	zones, err := clausesJSON(e.Zones)
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	types, err := clausesJSON(e.ZoneTypes)
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	clauses, err := clausesJSON(e.Clauses)
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	after, err := json.Marshal(e)
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO exemptions (`+exemptionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '')`,
			e.ID, s.siteID, e.MAC, e.Person, zones, types, nanos(e.From), nanos(e.Until), e.Reason,
			clauses, e.Approver, e.Note, e.CreatedBy, nanos(e.CreatedAt))
		if err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{
			At: e.CreatedAt, Actor: e.CreatedBy, Action: "exemption.grant", Target: e.ID, After: string(after),
		})
	})
	if err != nil {
		return daemon.Exemption{}, fmt.Errorf("store: create exemption %s: %w", e.ID, err)
	}
	return e, nil
}

func checkExemption(e *daemon.Exemption) error {
	if _, err := ulid.ParseStrict(e.ID); err != nil {
		return fmt.Errorf("ID %q is not a ULID: %w", e.ID, err)
	}
	if (e.MAC == "") == (e.Person == "") {
		return errors.New("give exactly one of MAC or person")
	}
	if !e.Until.After(e.From) {
		return errors.New("until must be after from")
	}
	if strings.TrimSpace(e.Reason) == "" {
		return errors.New("a reason is required")
	}
	if strings.TrimSpace(e.CreatedBy) == "" {
		return errors.New("created_by is required")
	}
	if e.RevokedAt != nil || e.RevokedBy != "" {
		return errors.New("a new exemption cannot be revoked already")
	}
	return nil
}

// RevokeExemption ends the exemption id: it records at and actor and appends the
// audit entry ("exemption.revoke", Before the exemption as it was, After as
// revoked with the note as "revoke_note") in the same transaction. A missing ID
// wraps daemon.ErrNotFound; an exemption already revoked is ErrExemptionRevoked
// (wrapped) and keeps its first revocation. The row itself stays: it is the
// record of what was allowed and when.
func (s *Store) RevokeExemption(ctx context.Context, id, actor, note string, at time.Time) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("store: revoke exemption %s: actor is required", id)
	}
	if !validTime(at) {
		return fmt.Errorf("store: revoke exemption %s: time %v out of range", id, at)
	}
	at = fromNanos(nanos(at))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		before, err := scanExemption(tx.QueryRowContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return daemon.ErrNotFound
		}
		if err != nil {
			return err
		}
		if before.RevokedAt != nil {
			return fmt.Errorf("%w at %s by %s", ErrExemptionRevoked, before.RevokedAt.Format(time.RFC3339), before.RevokedBy)
		}
		res, err := tx.ExecContext(ctx, `UPDATE exemptions SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`,
			nanos(at), actor, id)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		revoked := before
		revoked.RevokedAt, revoked.RevokedBy = &at, actor
		bj, err := json.Marshal(before)
		if err != nil {
			return err
		}
		aj, err := json.Marshal(struct {
			daemon.Exemption
			RevokeNote string `json:"revoke_note,omitempty"`
		}{revoked, note})
		if err != nil {
			return err
		}
		return s.appendAuditTx(ctx, tx, &daemon.AuditEntry{
			At: at, Actor: actor, Action: "exemption.revoke", Target: id, Before: string(bj), After: string(aj),
		})
	})
	if err != nil {
		return fmt.Errorf("store: revoke exemption %s: %w", id, err)
	}
	return nil
}

// ListExemptions returns the whole register, revoked and expired exemptions
// included, newest first (by created_at, then ID). It is not limited: a school
// grants a handful a term.
func (s *Store) ListExemptions(ctx context.Context) ([]daemon.Exemption, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list exemptions: %w", err)
	}
	defer rows.Close()
	var out []daemon.Exemption
	for rows.Next() {
		e, err := scanExemption(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list exemptions: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list exemptions: %w", err)
	}
	return out, nil
}

func scanExemption(sc scanner) (daemon.Exemption, error) {
	var (
		e                     daemon.Exemption
		site                  string
		zones, types, clauses string
		from, until, created  int64
		revoked               sql.NullInt64
	)
	err := sc.Scan(&e.ID, &site, &e.MAC, &e.Person, &zones, &types, &from, &until, &e.Reason,
		&clauses, &e.Approver, &e.Note, &e.CreatedBy, &created, &revoked, &e.RevokedBy)
	if err != nil {
		return daemon.Exemption{}, err
	}
	for _, f := range []struct {
		col string
		dst *[]string
	}{{zones, &e.Zones}, {types, &e.ZoneTypes}, {clauses, &e.Clauses}} {
		if err := json.Unmarshal([]byte(f.col), f.dst); err != nil {
			return daemon.Exemption{}, fmt.Errorf("exemption %s: %w", e.ID, err)
		}
		*f.dst = nilIfEmpty(*f.dst)
	}
	e.From, e.Until, e.CreatedAt = fromNanos(from), fromNanos(until), fromNanos(created)
	e.RevokedAt = fromNullNanos(revoked)
	return e, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
