package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func validRole(r string) bool {
	switch r {
	case daemon.RoleAdmin, daemon.RoleDSL, daemon.RoleSLT, daemon.RoleViewer:
		return true
	}
	return false
}

// sqliteCode returns SQLite's extended result code for err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// CreateUser adds a dashboard account. A name already taken wraps ErrExists.
// CreatedAt defaults to now.
func (s *Store) CreateUser(ctx context.Context, u daemon.User) error {
	if strings.TrimSpace(u.Name) == "" {
		return errors.New("store: create user: empty name")
	}
	if !validRole(u.Role) {
		return fmt.Errorf("store: create user %s: unknown role %q", u.Name, u.Role)
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("store: create user %s: empty password hash", u.Name)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (name, site_id, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.Name, s.siteID, u.Role, u.PasswordHash, nanos(u.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create user %s: %w: a user with that name", u.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create user %s: %w", u.Name, err)
	}
	return nil
}

// GetUser returns one account; a missing name wraps daemon.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (daemon.User, error) {
	var (
		u  daemon.User
		at int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT name, role, password_hash, created_at FROM users WHERE name = ?`, name).
		Scan(&u.Name, &u.Role, &u.PasswordHash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return daemon.User{}, fmt.Errorf("store: get user %s: %w", name, daemon.ErrNotFound)
	}
	if err != nil {
		return daemon.User{}, fmt.Errorf("store: get user %s: %w", name, err)
	}
	u.CreatedAt = fromNanos(at)
	return u, nil
}

// ListUsers returns every account, by name.
func (s *Store) ListUsers(ctx context.Context) ([]daemon.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, password_hash, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var us []daemon.User
	for rows.Next() {
		var (
			u  daemon.User
			at int64
		)
		if err := rows.Scan(&u.Name, &u.Role, &u.PasswordHash, &at); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		u.CreatedAt = fromNanos(at)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return us, nil
}

// SetPassword replaces a user's password hash and ends all of that user's
// sessions, so a password reset logs out whoever had the old one.
func (s *Store) SetPassword(ctx context.Context, name, hash string) error {
	if hash == "" {
		return fmt.Errorf("store: set password %s: empty hash", name)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE name = ?`, hash, name)
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password %s: %w", name, err)
	}
	return nil
}

// CreateSession stores a session by its token hash. The user must exist.
func (s *Store) CreateSession(ctx context.Context, se daemon.Session) error {
	if se.TokenHash == "" {
		return errors.New("store: create session: empty token hash")
	}
	if !validTime(se.CreatedAt) || !validTime(se.ExpiresAt) {
		return fmt.Errorf("store: create session for %s: created/expires time out of range", se.User)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (token_hash, site_id, user_name, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		se.TokenHash, s.siteID, se.User, se.CSRF, nanos(se.CreatedAt), nanos(se.ExpiresAt))
	if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return fmt.Errorf("store: create session for %s: %w: no such user", se.User, daemon.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: create session for %s: %w", se.User, err)
	}
	return nil
}

// GetSession returns the session with that token hash (daemon.ErrNotFound if
// none). It does not check expiry, because the store does not know the caller's
// clock: callers must reject a session whose ExpiresAt has passed.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (daemon.Session, error) {
	var (
		se          daemon.Session
		created, ex int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT token_hash, user_name, csrf, created_at, expires_at FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&se.TokenHash, &se.User, &se.CSRF, &created, &ex)
	if errors.Is(err, sql.ErrNoRows) {
		return daemon.Session{}, fmt.Errorf("store: get session: %w", daemon.ErrNotFound)
	}
	if err != nil {
		return daemon.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = fromNanos(created), fromNanos(ex)
	return se, nil
}

// DeleteSession removes a session (logout). Deleting a missing session is not an
// error: logging out twice is fine.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions whose ExpiresAt is at or before now and
// returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, nanos(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return int(n), nil
}

// CreateAPIToken stores a bearer token by its hash. A name or hash already in use
// wraps ErrExists. CreatedAt defaults to now.
func (s *Store) CreateAPIToken(ctx context.Context, t daemon.APIToken) error {
	if strings.TrimSpace(t.Name) == "" || t.TokenHash == "" {
		return errors.New("store: create API token: empty name or hash")
	}
	if !validRole(t.Role) {
		return fmt.Errorf("store: create API token %s: unknown role %q", t.Name, t.Role)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (name, site_id, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.Name, s.siteID, t.TokenHash, t.Role, nanos(t.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create API token %s: %w: a token with that name or hash", t.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create API token %s: %w", t.Name, err)
	}
	return nil
}

// LookupAPIToken finds a token by its hash; an unknown hash wraps daemon.ErrNotFound.
func (s *Store) LookupAPIToken(ctx context.Context, tokenHash string) (daemon.APIToken, error) {
	var (
		t  daemon.APIToken
		at int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT name, token_hash, role, created_at FROM api_tokens WHERE token_hash = ?`, tokenHash).
		Scan(&t.Name, &t.TokenHash, &t.Role, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return daemon.APIToken{}, fmt.Errorf("store: lookup API token: %w", daemon.ErrNotFound)
	}
	if err != nil {
		return daemon.APIToken{}, fmt.Errorf("store: lookup API token: %w", err)
	}
	t.CreatedAt = fromNanos(at)
	return t, nil
}

// DeleteAPIToken revokes a token by name; an unknown name wraps daemon.ErrNotFound.
func (s *Store) DeleteAPIToken(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("store: delete API token %s: %w", name, err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("store: delete API token %s: %w", name, err)
	}
	return nil
}
