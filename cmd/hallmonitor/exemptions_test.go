package main

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/dashboard"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

var _ dashboard.ExemptionsRegister = (*exemptionsRegister)(nil)

const (
	exPhone = "aa:bb:cc:00:00:01"
	exYAML  = `school: {name: Test School, site_id: test}
timezone: Europe/London
interfaces: [{name: hmtest-absent0}]
zones:
  - {name: reception, type: reception, subnets: [10.0.1.0/24]}
  - {name: classroom-12, type: teaching, subnets: [10.0.12.0/24]}
register:
  - {mac: "` + exPhone + `", role: pupil, owner: A Pupil, kind: phone, managed: false}
rules:
  - name: pupil-device-beyond-reception
    when: {roles: [pupil], managed: false, not_zone_types: [reception]}
    then: {action: alert, severity: high, clauses: [OSS-2.1], message: Pupil's personal device beyond reception.}
default: {action: allow, message: No rule applies.}
location: {dwell: 0s}
`
)

// phoneInClassroom is a source that puts the pupil's phone in classroom-12 once.
type phoneInClassroom struct{}

func (phoneInClassroom) Run(ctx context.Context, out chan<- daemon.Observation) error {
	select {
	case out <- daemon.Observation{At: time.Now(), Kind: daemon.ObsARP, MAC: exPhone, IP: netip.MustParseAddr("10.0.12.40")}:
	case <-ctx.Done():
		return nil
	}
	<-ctx.Done()
	return nil
}

type exHarness struct {
	ctx context.Context
	cfg *config.Config
	st  *store.Store
	eng *daemon.Engine
	reg *exemptionsRegister
}

// startWithRegister wires store, register and engine as serve does: the register's
// policy (stored exemptions applied) before the engine runs.
func startWithRegister(t *testing.T) *exHarness {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "hallmonitor.yaml"), []byte(exYAML+"storage: {data_dir: "+dir+"}\n"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(dir, "hm.db"), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := newExemptionsRegister(st, cfg.Policy, nil, zap.NewNop())
	pol, err := reg.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := daemon.New(daemon.Options{SiteID: "test", Policy: pol, Classify: cfg.Fingerprints.Classify,
		Store: st, Sources: map[string]daemon.Source{"fake": phoneInClassroom{}}, Dwell: -1})
	if err != nil {
		t.Fatal(err)
	}
	reg.attach(eng)
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("engine: %v", err)
		}
		st.Close()
	})
	return &exHarness{ctx: ctx, cfg: cfg, st: st, eng: eng, reg: reg}
}

func (h *exHarness) phone() (daemon.Device, bool) {
	for _, d := range h.eng.Devices() {
		if d.MAC == exPhone {
			return d, true
		}
	}
	return daemon.Device{}, false
}

// waitFor polls until cond holds (the engine applies reloads asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (h *exHarness) openAlerts(t *testing.T) []daemon.Alert {
	t.Helper()
	as, err := h.st.OpenAlerts(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func medical(now time.Time) daemon.Exemption {
	return daemon.Exemption{
		MAC: "AA-BB-CC-00-00-01", Zones: []string{"classroom-12"},
		From: now.Add(-time.Hour), Until: now.Add(time.Hour),
		Reason: "medical", Clauses: []string{"SPT-7"}, Approver: "Mrs A Patel (Headteacher)",
		Note: "glucose monitor app",
	}
}

func TestExemptionsRegisterGrantAndRevoke(t *testing.T) {
	h := startWithRegister(t)
	waitFor(t, "the phone's alert in classroom-12", func() bool {
		d, ok := h.phone()
		return ok && d.Zone == "classroom-12" && d.Decision.Action == "alert" && len(h.openAlerts(t)) == 1
	})
	first := h.openAlerts(t)[0]

	got, err := h.reg.GrantExemption(h.ctx, medical(time.Now()), "slt.patel")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.CreatedAt.IsZero() || got.CreatedBy != "slt.patel" || got.MAC != exPhone {
		t.Errorf("granted = %+v: want ID, CreatedAt, CreatedBy and a normalised MAC", got)
	}
	waitFor(t, "allow citing the exemption", func() bool {
		d, _ := h.phone()
		return d.Decision.Action == "allow" && d.Decision.Exemption == got.ID
	})
	if d, _ := h.phone(); !strings.Contains(d.Decision.Reason, got.ID) || !strings.Contains(strings.Join(d.Decision.Clauses, ","), "SPT-7") {
		t.Errorf("decision %+v does not cite the exemption and its clause", d.Decision)
	}
	waitFor(t, "the alert to close", func() bool { return len(h.openAlerts(t)) == 0 })
	if a, err := h.st.GetAlert(h.ctx, first.ID); err != nil || a.ClosedAt == nil {
		t.Errorf("alert %s after the grant: %+v, %v; want closed", first.ID, a, err)
	}

	if err := h.reg.RevokeExemption(h.ctx, got.ID, "dsl.jones", "no longer needed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breach to come back", func() bool {
		d, _ := h.phone()
		return d.Decision.Action == "alert" && d.Decision.Exemption == "" && len(h.openAlerts(t)) == 1
	})
	if again := h.openAlerts(t)[0]; again.ID == first.ID || again.Zone != "classroom-12" {
		t.Errorf("after revoking: open alert %+v, want a new episode in classroom-12", again)
	}

	es, err := h.st.ListAudit(h.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Target == got.ID {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
	}
	if strings.Join(actions, "; ") != "exemption.revoke by dsl.jones; exemption.grant by slt.patel" {
		t.Errorf("audit for %s: %v", got.ID, actions)
	}
	list, err := h.reg.ListExemptions(h.ctx)
	if err != nil || len(list) != 1 || list[0].RevokedBy != "dsl.jones" {
		t.Errorf("ListExemptions = %+v, %v", list, err)
	}
	if err := h.reg.RevokeExemption(h.ctx, got.ID, "dsl.jones", ""); err == nil {
		t.Error("revoking twice succeeded")
	}
	if err := h.reg.RevokeExemption(h.ctx, "01HZZZZZZZZZZZZZZZZZZZZZZZ", "dsl.jones", ""); !errors.Is(err, daemon.ErrNotFound) {
		t.Errorf("revoking a missing exemption: %v, want ErrNotFound", err)
	}
}

func TestExemptionsRegisterRefusesInvalid(t *testing.T) {
	h := startWithRegister(t)
	now := time.Now()
	tests := []struct {
		name   string
		change func(*daemon.Exemption)
		want   string
	}{
		{"unknown zone", func(e *daemon.Exemption) { e.Zones = []string{"classroom-99"} }, `no zone is named "classroom-99"`},
		{"unknown reason", func(e *daemon.Exemption) { e.Reason = "because" }, `unknown reason "because"`},
		{"no approver", func(e *daemon.Exemption) { e.Approver = "" }, "approver"},
		{"mac and person", func(e *daemon.Exemption) { e.Person = "A Pupil" }, "exactly one of mac or person"},
		{"bad MAC", func(e *daemon.Exemption) { e.MAC = "phone" }, "MAC"},
		{"until before from", func(e *daemon.Exemption) { e.From = now.Add(2 * time.Hour) }, "until must be after from"},
		{"already ended", func(e *daemon.Exemption) { e.From, e.Until = now.Add(-2*time.Hour), now.Add(-time.Hour) }, "already passed"},
		{"clause not in the catalogue", func(e *daemon.Exemption) { e.Clauses = []string{"XYZ-1"} }, `"XYZ-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := medical(now)
			tc.change(&e)
			_, err := h.reg.GrantExemption(h.ctx, e, "slt.patel")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("GrantExemption: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	list, _ := h.st.ListExemptions(h.ctx)
	es, _ := h.st.ListAudit(h.ctx, 0)
	if len(list) != 0 || len(es) != 0 {
		t.Errorf("refused grants left %d exemptions and %d audit entries", len(list), len(es))
	}
}

// On start the stored exemptions apply before the engine runs; a reload of the
// configuration re-applies them; one that no longer fits is left out, not fatal.
func TestExemptionsRegisterStartAndRebase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "hallmonitor.yaml"), []byte(exYAML+"storage: {data_dir: "+dir+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "hm.db"), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	stored := func(e daemon.Exemption) daemon.Exemption {
		e.CreatedBy = "slt.patel"
		got, err := st.CreateExemption(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	active := stored(medical(now))
	stored(daemon.Exemption{MAC: "aa:bb:cc:00:00:02", ZoneTypes: []string{"teaching"}, From: now.Add(-3 * time.Hour), Until: now.Add(-2 * time.Hour),
		Reason: "curriculum", Approver: "Mr B Jones"}) // ended
	revoked := stored(medical(now))
	if err := st.RevokeExemption(ctx, revoked.ID, "dsl.jones", "", now); err != nil {
		t.Fatal(err)
	}

	reg := newExemptionsRegister(st, cfg.Policy, nil, nil)
	p, err := reg.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex := p.Exemptions(); len(ex) != 1 || ex[0].ID != active.ID {
		t.Fatalf("start policy exemptions = %+v, want only %s", ex, active.ID)
	}
	if len(cfg.Policy.Exemptions()) != 0 {
		t.Error("the register changed the configuration's policy")
	}

	// A reload whose policy has no classroom-12: the stored exemption no longer
	// fits and is left out; the reload still reaches the engine.
	next, err := config.Parse(filepath.Join(dir, "hallmonitor.yaml"), []byte(strings.Replace(exYAML, "classroom-12", "classroom-13", 1)+"storage: {data_dir: "+dir+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingReloader{}
	reg.attach(rec)
	if err := reg.rebase(ctx, next.Policy); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || len(rec.got[0].(*policy.Policy).Exemptions()) != 0 {
		t.Fatalf("reloads after a rebase that drops the zone: %d", len(rec.got))
	}
	// And back: the exemption applies again.
	if err := reg.rebase(ctx, cfg.Policy); err != nil {
		t.Fatal(err)
	}
	if ex := rec.got[1].(*policy.Policy).Exemptions(); len(ex) != 1 || ex[0].ID != active.ID {
		t.Errorf("after rebasing on the first policy: %+v", ex)
	}
}

type recordingReloader struct{ got []daemon.Policy }

func (r *recordingReloader) Reload(_ context.Context, p daemon.Policy) error {
	r.got = append(r.got, p)
	return nil
}
