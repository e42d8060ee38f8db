package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// auditDomain prefixes the canonical encoding, so a hash of an audit entry cannot
// be confused with a hash of anything else, and a future encoding can change it.
const auditDomain = "hallmonitor.audit.v1"

// AppendAudit appends e to the audit log. It sets e.ID (a ULID of e.At) when
// empty, e.SiteID to the store's, e.At to now when zero, and e.Hash to
//
//	hex(sha256(prevHash || canonical(e)))
//
// where prevHash is the previous entry's Hash as its 64 hex characters ("" for the
// first entry) and canonical(e) is auditDomain followed by ID, SiteID, At
// (RFC 3339 with nanoseconds, UTC), Actor, Action, Target, Before and After, each
// as an 8-byte big-endian length and its bytes. The chain follows insertion order.
//
// The audit table is append-only: SQLite triggers reject UPDATE and DELETE on it,
// and retention (Purge) does not touch it. Reading the chain back is VerifyAudit.
func (s *Store) AppendAudit(ctx context.Context, e daemon.AuditEntry) error {
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.appendAuditTx(ctx, tx, &e) }); err != nil {
		return fmt.Errorf("store: append audit %s %s: %w", e.Action, e.ID, err)
	}
	return nil
}

func (s *Store) appendAuditTx(ctx context.Context, tx *sql.Tx, e *daemon.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if !validTime(e.At) {
		return fmt.Errorf("time %v out of range", e.At)
	}
	// Normalise to what the table returns, so the hash computed here is the one
	// VerifyAudit recomputes.
	e.At = fromNanos(nanos(e.At))
	if e.ID == "" {
		id, err := ulid.New(ulid.Timestamp(e.At), ulid.DefaultEntropy())
		if err != nil {
			return fmt.Errorf("new ID: %w", err)
		}
		e.ID = id.String()
	}
	if e.Action == "" || e.Actor == "" {
		return errors.New("actor and action are required")
	}
	e.SiteID = s.siteID

	var prev string
	err := tx.QueryRowContext(ctx, `SELECT hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read chain head: %w", err)
	}
	e.Hash = auditHash(prev, *e)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit
		(id, site_id, at, actor, action, target, before_value, after_value, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.SiteID, nanos(e.At), e.Actor, e.Action, e.Target, e.Before, e.After, prev, e.Hash)
	return err
}

// auditHash is the chain link documented on AppendAudit.
func auditHash(prev string, e daemon.AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prev))
	var n [8]byte
	for _, f := range []string{
		auditDomain, e.ID, e.SiteID, e.At.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Target, e.Before, e.After,
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ListAudit returns the newest limit entries, newest first (limit <= 0 means 500,
// capped at 10000).
func (s *Store) ListAudit(ctx context.Context, limit int) ([]daemon.AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, site_id, at, actor, action, target, before_value, after_value, hash
		FROM audit ORDER BY seq DESC LIMIT ?`, listLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var es []daemon.AuditEntry
	for rows.Next() {
		var (
			e  daemon.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &e.SiteID, &at, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &e.Hash); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		e.At = fromNanos(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return es, nil
}

// VerifyAudit walks the whole audit log in insertion order and recomputes every
// hash. It returns an error wrapping ErrAuditTampered that names the first entry
// whose stored hash, or link to the entry before it, does not match: an edited
// entry, or the entry after a deleted one. Deleting the newest entries cannot be
// detected from inside the database; compare the head hash with a copy kept
// elsewhere (ListAudit(ctx, 1)) for that.
func (s *Store) VerifyAudit(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, id, site_id, at, actor, action, target, before_value, after_value, prev_hash, hash
		FROM audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		var (
			e              daemon.AuditEntry
			seq, at        int64
			storedPrev, hs string
		)
		if err := rows.Scan(&seq, &e.ID, &e.SiteID, &at, &e.Actor, &e.Action, &e.Target, &e.Before, &e.After, &storedPrev, &hs); err != nil {
			return fmt.Errorf("store: verify audit: %w", err)
		}
		e.At = fromNanos(at)
		if storedPrev != prev {
			return fmt.Errorf("store: verify audit: entry %s (seq %d, %s by %s): %w: it does not follow the entry before it (an entry was removed or altered)",
				e.ID, seq, e.Action, e.Actor, ErrAuditTampered)
		}
		if want := auditHash(prev, e); want != hs {
			return fmt.Errorf("store: verify audit: entry %s (seq %d, %s by %s): %w: stored hash %.12s…, content hashes to %.12s…",
				e.ID, seq, e.Action, e.Actor, ErrAuditTampered, hs, want)
		}
		prev = hs
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: verify audit: %w", err)
	}
	return nil
}
