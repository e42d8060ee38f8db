package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// migration is one embedded file migrations/NNNN_name.sql.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string // sha256 of the file, recorded to notice an edited, already applied file
}

// loadMigrations reads migrations/*.sql from fsys, ordered by version. Versions
// must be unique and start at 1 without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	files, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	ms := make([]migration, 0, len(files))
	for _, f := range files {
		base := path.Base(f)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_description.sql", f)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", f, err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migrations: expected version %d, found %d (%s): versions must be 1..n without gaps or duplicates", i+1, m.version, m.name)
		}
	}
	return ms, nil
}

// migrate applies every migration not yet recorded in schema_migrations, in
// version order, each in its own transaction together with its record, so a
// failing migration leaves the database at the previous version.
func migrate(ctx context.Context, db *sql.DB, ms []migration, log *zap.Logger) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		checksum   TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	for _, m := range ms {
		applied, err := applyMigration(ctx, db, m, known, log)
		if err != nil {
			return err
		}
		if applied {
			log.Info("store migration applied", zap.Int("version", m.version), zap.String("name", m.name))
		}
	}
	// A database with no pending migration still has to be checked for being too new.
	var current sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if current.Int64 > int64(known) {
		return tooNew(current.Int64, known)
	}
	return nil
}

func tooNew(current int64, known int) error {
	return fmt.Errorf("store: open: %w: database is at schema version %d, this binary knows up to %d; run a newer hallmonitor or restore a backup", ErrSchemaTooNew, current, known)
}

// applyMigration applies m unless it is already recorded. The version check runs
// inside the IMMEDIATE transaction, so two processes opening a fresh database at
// once cannot both apply it.
func applyMigration(ctx context.Context, db *sql.DB, m migration, known int, log *zap.Logger) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migration %04d_%s: begin: %w", m.version, m.name, err)
	}
	defer func() { _ = tx.Rollback() }()

	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
		return false, fmt.Errorf("store: read schema version: %w", err)
	}
	if current.Int64 > int64(known) {
		return false, tooNew(current.Int64, known)
	}
	var sum string
	err = tx.QueryRowContext(ctx, `SELECT checksum FROM schema_migrations WHERE version = ?`, m.version).Scan(&sum)
	switch {
	case err == nil:
		if sum != m.checksum {
			log.Warn("store migration file changed after it was applied; not re-applying",
				zap.Int("version", m.version), zap.String("name", m.name))
		}
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("store: migration %04d_%s: check: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
		m.version, m.name, m.checksum, nanos(time.Now())); err != nil {
		return false, fmt.Errorf("store: migration %04d_%s: record: %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %04d_%s: commit: %w", m.version, m.name, err)
	}
	return true, nil
}
