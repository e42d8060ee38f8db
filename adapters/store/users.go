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
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertUserTx(ctx, tx, &u) }); err != nil {
		return fmt.Errorf("store: create user %s: %w", u.Name, err)
	}
	return nil
}

// insertUserTx checks and inserts u, defaulting CreatedAt to now.
func (s *Store) insertUserTx(ctx context.Context, tx *sql.Tx, u *daemon.User) error {
	if strings.TrimSpace(u.Name) == "" {
		return errors.New("empty name")
	}
	if !validRole(u.Role) {
		return fmt.Errorf("unknown role %q", u.Role)
	}
	if u.PasswordHash == "" {
		return errors.New("empty password hash")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (name, site_id, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.Name, s.siteID, u.Role, u.PasswordHash, nanos(u.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: a user with that name", ErrExists)
	}
	return err
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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := setPasswordTx(ctx, tx, name, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password %s: %w", name, err)
	}
	return nil
}

// setPasswordTx replaces the hash and deletes the user's sessions, returning how many.
func setPasswordTx(ctx context.Context, tx *sql.Tx, name, hash string) (int, error) {
	if hash == "" {
		return 0, errors.New("empty hash")
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE name = ?`, hash, name)
	if err != nil {
		return 0, err
	}
	if err := oneRow(res); err != nil {
		return 0, err
	}
	return deleteSessionsOfTx(ctx, tx, name)
}

// CreateSession stores a session by its token hash and records the time as the
// user's last login. The user must exist and be enabled: a missing user wraps
// daemon.ErrNotFound, a disabled one both daemon.ErrNotFound and ErrUserDisabled.
func (s *Store) CreateSession(ctx context.Context, se daemon.Session) error {
	if se.TokenHash == "" {
		return errors.New("store: create session: empty token hash")
	}
	if !validTime(se.CreatedAt) || !validTime(se.ExpiresAt) {
		return fmt.Errorf("store: create session for %s: created/expires time out of range", se.User)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT disabled FROM users WHERE name = ?`, se.User).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no such user", daemon.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if disabled {
			return fmt.Errorf("%w: %w", daemon.ErrNotFound, ErrUserDisabled)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, site_id, user_name, csrf, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			se.TokenHash, s.siteID, se.User, se.CSRF, nanos(se.CreatedAt), nanos(se.ExpiresAt)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE name = ?`, nanos(se.CreatedAt), se.User)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create session for %s: %w", se.User, err)
	}
	return nil
}

// GetSession returns the session with that token hash (daemon.ErrNotFound if
// none, or if its user is disabled). It does not check expiry, because the store
// does not know the caller's clock: callers must reject a session whose ExpiresAt
// has passed.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (daemon.Session, error) {
	var (
		se          daemon.Session
		created, ex int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT s.token_hash, s.user_name, s.csrf, s.created_at, s.expires_at
		FROM sessions s JOIN users u ON u.name = s.user_name
		WHERE s.token_hash = ? AND u.disabled = 0`, tokenHash).
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
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertAPITokenTx(ctx, tx, &t) }); err != nil {
		return fmt.Errorf("store: create API token %s: %w", t.Name, err)
	}
	return nil
}

func (s *Store) insertAPITokenTx(ctx context.Context, tx *sql.Tx, t *daemon.APIToken) error {
	if strings.TrimSpace(t.Name) == "" || t.TokenHash == "" {
		return errors.New("empty name or hash")
	}
	if !validRole(t.Role) {
		return fmt.Errorf("unknown role %q", t.Role)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, site_id, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.Name, s.siteID, t.TokenHash, t.Role, nanos(t.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: a token with that name or hash", ErrExists)
	}
	return err
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

// Refusals of the user-management changes below.
var (
	// ErrUserDisabled: the account is disabled and may not sign in.
	ErrUserDisabled = errors.New("the account is disabled")
	// ErrLastAdmin: the change would leave no enabled admin account.
	ErrLastAdmin = errors.New("it is the last enabled admin account")
	// ErrOwnAccount: an admin may not disable or demote their own account.
	ErrOwnAccount = errors.New("an admin may not disable or demote their own account")
)

// Account is a dashboard account as user management sees it: no password hash.
type Account struct {
	Name        string
	Role        string
	CreatedAt   time.Time
	LastLoginAt *time.Time // the latest session's start; nil: none recorded
	Disabled    bool
}

// ListAccounts returns every account, disabled ones included, by name.
func (s *Store) ListAccounts(ctx context.Context) ([]Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, created_at, last_login_at, disabled FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var (
			a    Account
			at   int64
			last sql.NullInt64
		)
		if err := rows.Scan(&a.Name, &a.Role, &at, &last, &a.Disabled); err != nil {
			return nil, fmt.Errorf("store: list accounts: %w", err)
		}
		a.CreatedAt, a.LastLoginAt = fromNanos(at), fromNullNanos(last)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list accounts: %w", err)
	}
	return out, nil
}

// auditTx appends an audit entry (now, by actor) inside tx.
func (s *Store) auditTx(ctx context.Context, tx *sql.Tx, actor, action, target, before, after string) error {
	if err := s.appendAuditTx(ctx, tx, &daemon.AuditEntry{
		Actor: actor, Action: action, Target: target, Before: before, After: after,
	}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AddUser is CreateUser with its audit entry ("user.create" by actor, After the
// role) written in the same transaction.
func (s *Store) AddUser(ctx context.Context, u daemon.User, actor string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUserTx(ctx, tx, &u); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, actor, "user.create", u.Name, "", u.Role)
	})
	if err != nil {
		return fmt.Errorf("store: add user %s: %w", u.Name, err)
	}
	return nil
}

// accountTx reads name's role and disabled flag inside tx (daemon.ErrNotFound if none).
func accountTx(ctx context.Context, tx *sql.Tx, name string) (role string, disabled bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT role, disabled FROM users WHERE name = ?`, name).Scan(&role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("%w: no such user", daemon.ErrNotFound)
	}
	return role, disabled, err
}

// enabledAdminsTx counts the enabled admin accounts.
func enabledAdminsTx(ctx context.Context, tx *sql.Tx) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0`, daemon.RoleAdmin).Scan(&n)
	return n, err
}

// keepAdminTx refuses a change that takes name out of the enabled admins when it
// is actor's own account (ErrOwnAccount) or the last one (ErrLastAdmin).
func keepAdminTx(ctx context.Context, tx *sql.Tx, name, role string, disabled bool, actor string) error {
	if name == actor {
		return ErrOwnAccount
	}
	if role != daemon.RoleAdmin || disabled {
		return nil
	}
	n, err := enabledAdminsTx(ctx, tx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastAdmin
	}
	return nil
}

// SetUserRole changes name's role and audits it ("user.role", Before and After
// the roles) in the same transaction. Setting the role it already has changes
// and audits nothing. Demoting an admin wraps ErrOwnAccount when name is actor,
// ErrLastAdmin when no other enabled admin would be left; an unknown name wraps
// daemon.ErrNotFound. The user's sessions stay: the role is read on every request.
func (s *Store) SetUserRole(ctx context.Context, name, role, actor string) error {
	if !validRole(role) {
		return fmt.Errorf("store: set role of %s: unknown role %q", name, role)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, disabled, err := accountTx(ctx, tx, name)
		if err != nil || old == role {
			return err
		}
		if old == daemon.RoleAdmin {
			if err := keepAdminTx(ctx, tx, name, old, disabled, actor); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE name = ?`, role, name); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, actor, "user.role", name, old, role)
	})
	if err != nil {
		return fmt.Errorf("store: set role of %s: %w", name, err)
	}
	return nil
}

// SetUserDisabled disables (or enables again) name's account and audits it
// ("user.disable" / "user.enable", Before and After "enabled" or "disabled") in
// the same transaction. Disabling also deletes the user's sessions. Asking for
// the state the account already has changes and audits nothing. Disabling wraps
// ErrOwnAccount when name is actor and ErrLastAdmin for the last enabled admin;
// an unknown name wraps daemon.ErrNotFound.
func (s *Store) SetUserDisabled(ctx context.Context, name string, disable bool, actor string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		role, disabled, err := accountTx(ctx, tx, name)
		if err != nil || disabled == disable {
			return err
		}
		action, before, after := "user.enable", "disabled", "enabled"
		if disable {
			if err := keepAdminTx(ctx, tx, name, role, disabled, actor); err != nil {
				return err
			}
			action, before, after = "user.disable", "enabled", "disabled"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE name = ?`, disable, name); err != nil {
			return err
		}
		if disable {
			n, err := deleteSessionsOfTx(ctx, tx, name)
			if err != nil {
				return err
			}
			after = fmt.Sprintf("disabled; %d session(s) ended", n)
		}
		return s.auditTx(ctx, tx, actor, action, name, before, after)
	})
	if err != nil {
		return fmt.Errorf("store: set %s disabled=%t: %w", name, disable, err)
	}
	return nil
}

// ResetPassword is SetPassword (which ends the user's sessions) with its audit
// entry ("user.password", never the hash) in the same transaction.
func (s *Store) ResetPassword(ctx context.Context, name, hash, actor string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n, err := setPasswordTx(ctx, tx, name, hash)
		if err != nil {
			return err
		}
		return s.auditTx(ctx, tx, actor, "user.password", name, "", fmt.Sprintf("password reset; %d session(s) ended", n))
	})
	if err != nil {
		return fmt.Errorf("store: reset password of %s: %w", name, err)
	}
	return nil
}

// DeleteSessionsOfUser ends every session of name and returns how many there were.
func (s *Store) DeleteSessionsOfUser(ctx context.Context, name string) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteSessionsOfTx(ctx, tx, name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete sessions of %s: %w", name, err)
	}
	return n, nil
}

func deleteSessionsOfTx(ctx context.Context, tx *sql.Tx, name string) (int, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_name = ?`, name)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ListAPITokens returns every API token by name, without its hash.
func (s *Store) ListAPITokens(ctx context.Context) ([]daemon.APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, created_at FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list API tokens: %w", err)
	}
	defer rows.Close()
	var out []daemon.APIToken
	for rows.Next() {
		var (
			t  daemon.APIToken
			at int64
		)
		if err := rows.Scan(&t.Name, &t.Role, &at); err != nil {
			return nil, fmt.Errorf("store: list API tokens: %w", err)
		}
		t.CreatedAt = fromNanos(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list API tokens: %w", err)
	}
	return out, nil
}

// AddAPIToken is CreateAPIToken with its audit entry ("token.create" by actor,
// After the role) in the same transaction.
func (s *Store) AddAPIToken(ctx context.Context, t daemon.APIToken, actor string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.insertAPITokenTx(ctx, tx, &t); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, actor, "token.create", t.Name, "", t.Role)
	})
	if err != nil {
		return fmt.Errorf("store: add API token %s: %w", t.Name, err)
	}
	return nil
}

// RevokeAPIToken deletes the token and audits it ("token.revoke", Before its
// role) in the same transaction; an unknown name wraps daemon.ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, name, actor string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var role string
		err := tx.QueryRowContext(ctx, `SELECT role FROM api_tokens WHERE name = ?`, name).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no such API token", daemon.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, actor, "token.revoke", name, role, "revoked")
	})
	if err != nil {
		return fmt.Errorf("store: revoke API token %s: %w", name, err)
	}
	return nil
}
