// Package store is HallMonitor's embedded SQLite database: alerts, the hash-chained
// audit log, dashboard users, sessions and API tokens, and daily rollups.
//
// Durability. The database runs in WAL mode with synchronous=FULL: every commit is
// fsynced to the WAL before the call returns. The daemon commits an alert here
// before the dashboard or a notifier hears of it (design.md, "durable first"). With
// synchronous=NORMAL a WAL commit survives a crash of the process but not a power
// cut, so an alert already e-mailed to the DSL could vanish from the record when
// the gateway in the comms cupboard loses power. FULL closes that gap; its cost is
// one fsync per write transaction (see BenchmarkInsertAlert, which measures FULL
// against NORMAL).
//
// Connections. SQLite allows one writer at a time. The Store keeps two pools on the
// same file: a writer pool limited to one connection, so writers queue in Go
// (cheaply, in order, honouring ctx) instead of spinning on SQLITE_BUSY, and a
// reader pool of a few query_only connections, which in WAL mode read a consistent
// snapshot concurrently with the writer. Write transactions begin IMMEDIATE, so a
// second process (the CLI's "users" subcommand while the daemon runs) waits on
// busy_timeout rather than failing half-way through a transaction.
//
// Times are stored as INTEGER unix nanoseconds and returned in UTC. Every row
// carries the store's site ID; alerts and audit entries are keyed by ULIDs.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/hallmonitor/hallmonitor/daemon"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Errors callers can test with errors.Is.
var (
	// ErrSchemaTooNew: the database was written by a newer HallMonitor.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrSiteMismatch: the database belongs to another site ID.
	ErrSiteMismatch = errors.New("database belongs to a different site")
	// ErrExists: a user or API token with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrAuditTampered: VerifyAudit found an entry whose hash chain does not match.
	ErrAuditTampered = errors.New("audit log hash chain broken")
)

const (
	busyTimeoutMS    = 5000
	readerConns      = 4
	defaultListLimit = 500
	maxListLimit     = 10000
)

// Store is the SQLite database. It is safe for concurrent use.
type Store struct {
	w      *sql.DB // one connection: the only writer
	r      *sql.DB // query_only readers
	siteID string
	log    *zap.Logger
}

var _ daemon.AlertStore = (*Store)(nil)

// options are knobs for tests and benchmarks; production always uses the defaults.
type options struct {
	synchronous string // FULL unless a benchmark compares NORMAL
}

// Open opens (creating if needed) the database at path for siteID, applies any
// pending migrations, and refuses a database whose schema is newer than this
// binary (ErrSchemaTooNew) or that belongs to another site (ErrSiteMismatch).
// The parent directory is created 0700 and the file 0600: the database holds
// device MACs and hostnames, which are personal data. log may be nil.
func Open(ctx context.Context, path string, siteID string, log *zap.Logger) (*Store, error) {
	return open(ctx, path, siteID, log, options{synchronous: "FULL"})
}

func open(ctx context.Context, path, siteID string, log *zap.Logger, o options) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if strings.TrimSpace(siteID) == "" {
		return nil, errors.New("store: open: empty site ID")
	}
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := prepareFile(abs, log); err != nil {
		return nil, err
	}

	w, err := sql.Open("sqlite", dsn(abs, o, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	s := &Store{w: w, siteID: siteID, log: log}
	if err := s.init(ctx, abs, o); err != nil {
		_ = s.Close()
		return nil, err
	}
	log.Info("store opened", zap.String("path", abs), zap.String("site", siteID), zap.String("synchronous", o.synchronous))
	return s, nil
}

func (s *Store) init(ctx context.Context, abs string, o options) error {
	// The first connection switches the file to WAL (persistent) before readers open.
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: open %s: journal_mode is %q, want wal", abs, mode)
	}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	if err := migrate(ctx, s.w, ms, s.log); err != nil {
		return err
	}
	if err := s.claimSite(ctx); err != nil {
		return err
	}
	r, err := sql.Open("sqlite", dsn(abs, o, true))
	if err != nil {
		return fmt.Errorf("store: open readers %s: %w", abs, err)
	}
	r.SetMaxOpenConns(readerConns)
	r.SetMaxIdleConns(readerConns)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: open readers %s: %w", abs, err)
	}
	return nil
}

// prepareFile creates the directory (0700) and the database file (0600) so that
// SQLite, which gives the -wal and -shm files the database file's mode, never
// creates them world-readable whatever the umask.
func prepareFile(abs string, log *zap.Logger) error {
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("store: create directory for %s: %w", abs, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: create %s: %w", abs, err)
	}
	fi, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: stat %s: %w", abs, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("store file was readable by others; restricting to 0600", zap.String("path", abs), zap.Stringer("mode", perm))
		if err := os.Chmod(abs, 0o600); err != nil {
			return fmt.Errorf("store: chmod %s: %w", abs, err)
		}
	}
	return nil
}

// dsn builds the modernc.org/sqlite DSN. Pragmas are DSN parameters so that every
// connection the pools open gets them, not only the first.
func dsn(abs string, o options, readOnly bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)
	q := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(" + o.synchronous + ")",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
	}
	if readOnly {
		q = append(q, "_pragma=query_only(1)")
	}
	return "file:" + esc + "?" + strings.Join(q, "&")
}

// claimSite records the site ID in a new database and checks it on every later open.
func (s *Store) claimSite(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO meta (key, value) VALUES ('site_id', ?)`, s.siteID); err != nil {
		return fmt.Errorf("store: record site ID: %w", err)
	}
	var got string
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'site_id'`).Scan(&got); err != nil {
		return fmt.Errorf("store: read site ID: %w", err)
	}
	if got != s.siteID {
		return fmt.Errorf("store: open: %w: database is for site %q, configured site is %q", ErrSiteMismatch, got, s.siteID)
	}
	return nil
}

// SiteID returns the site this store belongs to.
func (s *Store) SiteID() string { return s.siteID }

// Close closes both pools. The last connection to close checkpoints the WAL.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		if err := s.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close readers: %w", err))
		}
	}
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close writer: %w", err))
		}
	}
	return errors.Join(errs...)
}

// tx runs fn in one IMMEDIATE write transaction, committing if fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// nanos converts t to the stored form.
func nanos(t time.Time) int64 { return t.UnixNano() }

// fromNanos converts a stored time back, in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// validTime rejects times the INTEGER nanosecond column cannot hold (the zero
// time among them), which would otherwise be stored as garbage.
func validTime(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1678 && t.Year() <= 2261
}

func listLimit(n int) int {
	switch {
	case n <= 0:
		return defaultListLimit
	case n > maxListLimit:
		return maxListLimit
	}
	return n
}
