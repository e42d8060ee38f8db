package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// appendN appends n entries and returns them as ListAudit reports them, oldest first.
func appendN(t *testing.T, s *store.Store, n int) []daemon.AuditEntry {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	for i := range n {
		e := daemon.AuditEntry{
			At: t0.Add(time.Duration(i) * time.Minute), Actor: "dsl.jones", Action: "alert.acknowledge",
			Target: fmt.Sprintf("alert-%d", i), Before: `{"state":"new"}`, After: `{"state":"acknowledged"}`,
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.ListAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("ListAudit returned %d entries, want %d", len(es), n)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

// independentHash recomputes an entry's hash from the formula documented on
// AppendAudit, so that an auditor can verify an export without this package.
func independentHash(prev string, e daemon.AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prev))
	for _, f := range []string{"hallmonitor.audit.v1", e.ID, e.SiteID, e.At.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Target, e.Before, e.After} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestAuditChainVerifies(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("empty log: %v", err)
	}
	es := appendN(t, s, 5)
	prev := ""
	for i, e := range es {
		if _, err := ulid.ParseStrict(e.ID); err != nil {
			t.Errorf("entry %d ID %q is not a ULID", i, e.ID)
		}
		if e.SiteID != site {
			t.Errorf("entry %d SiteID = %q, want %q", i, e.SiteID, site)
		}
		if want := independentHash(prev, e); e.Hash != want {
			t.Errorf("entry %d hash = %s, documented formula gives %s", i, e.Hash, want)
		}
		if e.Target != fmt.Sprintf("alert-%d", i) {
			t.Errorf("entry %d out of order: target %s", i, e.Target)
		}
		prev = e.Hash
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("untouched log does not verify: %v", err)
	}
}

func TestAuditCallerCannotForgeSiteOrHash(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.AppendAudit(ctx, daemon.AuditEntry{SiteID: "elsewhere", Hash: "beef", Actor: "system", Action: "config.reload"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.ListAudit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if es[0].SiteID != site || es[0].Hash == "beef" || es[0].At.IsZero() {
		t.Errorf("stored %+v: site, hash and time must be the store's", es[0])
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
	if err := s.AppendAudit(ctx, daemon.AuditEntry{Action: "login"}); err == nil {
		t.Error("entry without an actor accepted")
	}
}

func TestAuditRejectsUpdateAndDelete(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	es := appendN(t, s, 2)
	db := rawDB(t, path)
	for _, q := range []string{
		`UPDATE audit SET actor = 'someone-else' WHERE id = ?`,
		`DELETE FROM audit WHERE id = ?`,
	} {
		_, err := db.ExecContext(ctx, q, es[0].ID)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to reject it", q, err)
		}
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("log changed although the triggers rejected the change: %v", err)
	}
}

func TestAuditTamperingDetected(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string // run with the entry's ID; the triggers are dropped first
		victim int    // index of the entry tampered with
		named  int    // index of the entry VerifyAudit must name
	}{
		{"actor rewritten", `UPDATE audit SET actor = 'nobody' WHERE id = ?`, 2, 2},
		{"note rewritten", `UPDATE audit SET after_value = '{"state":"resolved"}' WHERE id = ?`, 0, 0},
		{"time moved", `UPDATE audit SET at = at + 1 WHERE id = ?`, 3, 3},
		{"hash replaced", `UPDATE audit SET hash = 'ab' || substr(hash, 3) WHERE id = ?`, 1, 1},
		{"entry deleted", `DELETE FROM audit WHERE id = ?`, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t)
			es := appendN(t, s, 5)
			db := rawDB(t, path)
			for _, q := range []string{
				`DROP TRIGGER audit_no_update`,
				`DROP TRIGGER audit_no_delete`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, tc.tamper, es[tc.victim].ID); err != nil {
				t.Fatal(err)
			}
			err := s.VerifyAudit(ctx)
			if !errors.Is(err, store.ErrAuditTampered) {
				t.Fatalf("VerifyAudit = %v, want ErrAuditTampered", err)
			}
			if !strings.Contains(err.Error(), es[tc.named].ID) {
				t.Errorf("VerifyAudit error %q does not name entry %s", err, es[tc.named].ID)
			}
		})
	}
}

func TestAuditConcurrentAppendsKeepOneChain(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var g errgroup.Group
	for w := range 4 {
		g.Go(func() error {
			for i := range 20 {
				if err := s.AppendAudit(ctx, daemon.AuditEntry{Actor: fmt.Sprintf("user%d", w), Action: "login", Target: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if es, _ := s.ListAudit(ctx, 0); len(es) != 80 {
		t.Errorf("%d entries, want 80", len(es))
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Errorf("concurrent appends broke the chain: %v", err)
	}
}
