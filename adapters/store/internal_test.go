package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func TestConnectionsAreConfigured(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "hm.db"), "site", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	tests := []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.w, "journal_mode", "wal"},
		{"writer", s.w, "synchronous", "2"}, // FULL: an alert is on disk before anyone is told
		{"writer", s.w, "foreign_keys", "1"},
		{"writer", s.w, "busy_timeout", "5000"},
		{"writer", s.w, "query_only", "0"},
		{"reader", s.r, "journal_mode", "wal"},
		{"reader", s.r, "foreign_keys", "1"},
		{"reader", s.r, "busy_timeout", "5000"},
		{"reader", s.r, "query_only", "1"},
	}
	for _, tc := range tests {
		var got string
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `DELETE FROM alerts`); err == nil {
		t.Error("reader pool accepted a write")
	}
}

func TestFailedMigrationLeavesPreviousVersion(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)

	good := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)},
	}
	bad := fstest.MapFS{
		"migrations/0001_a.sql": good["migrations/0001_a.sql"],
		"migrations/0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER); INSERT INTO missing VALUES (1);`)},
	}
	fixed := fstest.MapFS{
		"migrations/0001_a.sql": good["migrations/0001_a.sql"],
		"migrations/0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER);`)},
	}
	version := func() int {
		var v int
		if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hasTable := func(name string) bool {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	steps := []struct {
		name        string
		fsys        fstest.MapFS
		wantErr     bool
		wantVersion int
		wantB       bool
	}{
		{"first migration", good, false, 1, false},
		{"broken second migration", bad, true, 1, false},
		{"fixed second migration", fixed, false, 2, true},
	}
	for _, st := range steps {
		ms, err := loadMigrations(st.fsys)
		if err != nil {
			t.Fatal(err)
		}
		err = migrate(ctx, db, ms, zap.NewNop())
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err = %v, want error %v", st.name, err, st.wantErr)
		}
		if v := version(); v != st.wantVersion {
			t.Errorf("%s: version = %d, want %d", st.name, v, st.wantVersion)
		}
		if hasTable("b") != st.wantB {
			t.Errorf("%s: table b exists = %v, want %v (a failed migration must roll back whole)", st.name, !st.wantB, st.wantB)
		}
	}
}

func TestLoadMigrationsRejectsGaps(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"gap", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}}},
		{"duplicate", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}}},
		{"bad name", fstest.MapFS{"migrations/init.sql": {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := loadMigrations(tc.fsys); err == nil {
				t.Error("accepted")
			}
		})
	}
	if ms, err := loadMigrations(migrationFS); err != nil || len(ms) == 0 {
		t.Errorf("embedded migrations: %d, %v", len(ms), err)
	}
}

// benchStore opens a store with the given synchronous setting.
func benchStore(b *testing.B, sync string) *Store {
	b.Helper()
	s, err := open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), "site", nil, options{synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkInsertAlert measures one durable alert commit; FULL is production,
// NORMAL is shown for the price of FULL's extra fsync per commit.
func BenchmarkInsertAlert(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s := benchStore(b, sync)
			ctx := context.Background()
			t0 := time.Now()
			for i := 0; b.Loop(); i++ {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				a := daemon.Alert{
					ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), State: daemon.AlertNew,
					Severity: "high", Action: "alert", OpenedAt: at,
					Device: daemon.AlertDevice{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8&0xff, i&0xff), Kind: "phone", OS: "ios"},
					Zone:   "exam-hall", Rule: "no-phones-in-exams", Clauses: []string{"4.2"}, Reason: "phone in exam",
				}
				if err := s.InsertAlert(ctx, a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendAudit measures one hash-chained audit append (read head, hash, insert).
func BenchmarkAppendAudit(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s := benchStore(b, sync)
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				e := daemon.AuditEntry{Actor: "dsl.jones", Action: "alert.acknowledge", Target: fmt.Sprint(i),
					Before: `{"state":"new"}`, After: `{"state":"acknowledged"}`}
				if err := s.AppendAudit(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyAudit measures walking a 10,000-entry audit log.
func BenchmarkVerifyAudit(b *testing.B) {
	s := benchStore(b, "NORMAL")
	ctx := context.Background()
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		for i := range 10000 {
			e := daemon.AuditEntry{Actor: "system", Action: "config.reload", Target: fmt.Sprint(i)}
			if err := s.appendAuditTx(ctx, tx, &e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.VerifyAudit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAlerts measures the dashboard's default page (500 newest of 5,000).
func BenchmarkListAlerts(b *testing.B) {
	s := benchStore(b, "NORMAL")
	ctx := context.Background()
	t0 := time.Now()
	for i := range 5000 {
		at := t0.Add(time.Duration(i) * time.Second)
		a := daemon.Alert{
			ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), State: daemon.AlertNew,
			Severity: "high", Action: "alert", OpenedAt: at,
			Device: daemon.AlertDevice{MAC: "02:00:00:00:00:01", Kind: "phone", OS: "ios"},
			Zone:   "exam-hall", Rule: "no-phones-in-exams", Clauses: []string{"4.2"}, Reason: "phone in exam",
		}
		if err := s.InsertAlert(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		as, err := s.ListAlerts(ctx, daemon.AlertFilter{})
		if err != nil || len(as) != 500 {
			b.Fatalf("%d, %v", len(as), err)
		}
	}
}
