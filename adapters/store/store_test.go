package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/dashboard"
)

// Both ports the store serves.
var (
	_ daemon.AlertStore = (*store.Store)(nil)
	_ dashboard.Store   = (*store.Store)(nil)
)

const site = "st-marys"

// openAt opens a store at path and closes it when the test ends.
func openAt(t testing.TB, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, site, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a fresh store in t.TempDir and returns it with its path.
func openTemp(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "hallmonitor.db")
	return openAt(t, path), path
}

// rawDB opens the same file with no store in between, for tests that play the
// part of someone with shell access to the database.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func ptr[T any](v T) *T { return &v }

// fullAlert returns an alert with every field set.
func fullAlert(opened time.Time) daemon.Alert {
	return daemon.Alert{
		ID:       ulid.MustNew(ulid.Timestamp(opened), ulid.DefaultEntropy()).String(),
		SiteID:   site,
		State:    daemon.AlertResolved,
		Severity: "high",
		Action:   "block",
		OpenedAt: opened.UTC(),
		ClosedAt: ptr(opened.Add(7 * time.Minute).UTC()),
		Device: daemon.AlertDevice{
			MAC: "da:a1:19:00:00:01", Kind: "phone", OS: "ios", Hostname: "Jamies-iPhone", Role: "pupil",
		},
		Zone:           "exam-hall",
		Rule:           "no-phones-in-exams",
		Clauses:        []string{"4.2", "4.3(b)"},
		Reason:         "a personal phone is in the exam hall during an exam",
		AcknowledgedBy: "dsl.jones",
		AcknowledgedAt: ptr(opened.Add(2 * time.Minute).UTC()),
		ResolvedBy:     "dsl.jones",
		ResolvedAt:     ptr(opened.Add(9 * time.Minute).UTC()),
		Outcome:        "confiscated",
		Note:           "handed to the exams officer",
	}
}

// openAlert returns a new, open alert for mac opened at opened.
func openAlert(mac string, opened time.Time) daemon.Alert {
	return daemon.Alert{
		ID:       ulid.MustNew(ulid.Timestamp(opened), ulid.DefaultEntropy()).String(),
		State:    daemon.AlertNew,
		Severity: "medium",
		Action:   "alert",
		OpenedAt: opened.UTC(),
		Device:   daemon.AlertDevice{MAC: mac, Kind: "phone", OS: "android"},
		Zone:     "classroom-12",
		Rule:     "phones-away-in-lessons",
		Clauses:  []string{"3.1"},
		Reason:   "a personal phone is online during a lesson",
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	s, path := openTemp(t)
	// A write creates the WAL; it must not be readable by others either.
	if err := s.InsertAlert(context.Background(), openAlert("02:00:00:00:00:01", time.Now())); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want fs.FileMode
	}{
		{filepath.Dir(path), 0o700 | fs.ModeDir},
		{path, 0o600},
		{path + "-wal", 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("stat %s: %v", tc.path, err)
		}
		if got := fi.Mode() & (fs.ModePerm | fs.ModeDir); got != tc.want {
			t.Errorf("%s mode = %v, want %v (the database holds MACs and hostnames)", filepath.Base(tc.path), got, tc.want)
		}
	}
}

func TestOpenTightensLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hm.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	openAt(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode after Open = %v, want 0600", got)
	}
}

func TestAlertSurvivesCloseAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hm.db")
	s, err := store.Open(ctx, path, site, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := fullAlert(time.Date(2026, 3, 9, 10, 15, 0, 123456789, time.UTC))
	if err := s.InsertAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The WAL was checkpointed and removed on close: the alert is in the main file.
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WAL left behind after Close: %v", err)
	}

	s2 := openAt(t, path)
	got, err := s2.GetAlert(ctx, a.ID)
	if err != nil {
		t.Fatalf("alert lost across restart: %v", err)
	}
	if got.Reason != a.Reason || !got.OpenedAt.Equal(a.OpenedAt) {
		t.Errorf("after reopen got %+v, want %+v", got, a)
	}
}

func TestMigrationsRecordedAndIdempotent(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	path := filepath.Join(t.TempDir(), "hm.db")

	type rec struct {
		version int
		name    string
		applied int64
	}
	read := func() []rec {
		db := rawDB(t, path)
		rows, err := db.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var rs []rec
		for rows.Next() {
			var r rec
			if err := rows.Scan(&r.version, &r.name, &r.applied); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
		return rs
	}

	var first []rec
	for i := range 3 {
		s, err := store.Open(ctx, path, site, nil)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got := read()
		if len(got) != len(files) {
			t.Fatalf("open #%d: %d migrations recorded, want %d (one per file)", i+1, len(got), len(files))
		}
		for j, r := range got {
			if r.version != j+1 || r.name == "" || r.applied <= 0 {
				t.Errorf("open #%d: record %d = %+v, want version %d with a name and applied_at", i+1, j, r, j+1)
			}
		}
		if i == 0 {
			first = got
			continue
		}
		for j := range got {
			if got[j] != first[j] {
				t.Errorf("open #%d re-applied migration: %+v, first applied as %+v", i+1, got[j], first[j])
			}
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		tamper  string // SQL run on an initialised database before reopening
		site    string
		wantErr error
		wantMsg string
	}{
		{
			name:    "schema newer than binary",
			tamper:  `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'from_the_future', '', 1)`,
			site:    site,
			wantErr: store.ErrSchemaTooNew,
			wantMsg: "schema version 999",
		},
		{
			name:    "database of another site",
			site:    "other-school",
			wantErr: store.ErrSiteMismatch,
			wantMsg: `"st-marys"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hm.db")
			s, err := store.Open(ctx, path, site, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != "" {
				db := rawDB(t, path)
				if _, err := db.ExecContext(ctx, tc.tamper); err != nil {
					t.Fatal(err)
				}
				_ = db.Close()
			}
			s, err = store.Open(ctx, path, tc.site, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want refusal")
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Open error = %q, want %v mentioning %s", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

func TestOpenRejectsBadArguments(t *testing.T) {
	tests := []struct{ name, path, site string }{
		{"empty site", filepath.Join(t.TempDir(), "a.db"), ""},
		{"empty path", "", site},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.path, tc.site, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}
