package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

const briggs = "Mr T Briggs (Class 6 teacher)" // owns a4:5e:60:c1:00:03 and ac:de:48:00:11:22 in spt.yaml

// exportFixture is the report fixture plus what a subject-access export must
// find: an acknowledged alert with its audit entry, a delivery whose payload names
// another device, exemptions by MAC and by person, and a register owner's stays.
func exportFixture(t *testing.T) (cfgPath string, cfg *config.Config) {
	t.Helper()
	cfgPath, _ = reportFixture(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbPath(cfg), cfg.School.SiteID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alerts, err := st.DeviceAlerts(ctx, pupilPhone)
	if err != nil || len(alerts) != 3 {
		t.Fatalf("fixture alerts: %d, %v", len(alerts), err)
	}
	a := alerts[0]
	a.State, a.AcknowledgedBy, a.Note = daemon.AlertAcknowledged, "dsl", "phone handed in at reception"
	at := a.OpenedAt.Add(5 * time.Minute)
	a.AcknowledgedAt = &at
	if err := st.UpdateAlertWithAudit(ctx, a, daemon.AuditEntry{At: at, Actor: "dsl", Action: "alert.acknowledge", Target: a.ID}); err != nil {
		t.Fatal(err)
	}
	payload := `{"alert":{"device":{"mac":"` + pupilPhone + `"}},"grouped":[{"device":{"mac":"` + staffPhone + `"}}]}`
	if err := st.Enqueue(ctx, a.ID, []string{"dsl-email"}, []byte(payload), a.OpenedAt); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, e := range []daemon.Exemption{
		{MAC: pupilPhone, Zones: []string{"teaching"}, From: from, Until: from.Add(8 * time.Hour), Reason: "medical", Approver: "Head", CreatedBy: "slt"},
		{MAC: staffPhone, Zones: []string{"pupil-area"}, From: from, Until: from.Add(time.Hour), Reason: "other", Approver: "Head", CreatedBy: "slt"},
		{Person: briggs, Zones: []string{"teaching"}, From: from, Until: from.Add(time.Hour), Reason: "curriculum", Approver: "Head", CreatedBy: "slt"},
	} {
		if _, err := st.CreateExemption(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordZoneVisit(ctx, daemon.ZoneVisit{MAC: "ac:de:48:00:11:22", Zone: "staffroom", From: from, To: from.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

func TestExportDevice(t *testing.T) {
	cfgPath, cfg := exportFixture(t)
	out := filepath.Join(t.TempDir(), "sar.json")
	before := time.Now().UTC().Add(-time.Second)
	if _, stderr, code := runReportCmd(t, "export", "--config", cfgPath, "--mac", "02-11-22-33-44-01", "--actor", "dsl.jones", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	raw := mustReadFile(t, out)
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export written with mode %v, want 0600", fi.Mode().Perm())
	}
	var doc sarExport
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.GeneratedAt.Before(before) || doc.GeneratedBy != "dsl.jones" || doc.Subject.MAC != pupilPhone || doc.Site.ID != "spt-01" {
		t.Errorf("header %+v %+v %v", doc.Subject, doc.Site, doc.GeneratedAt)
	}
	if !strings.HasPrefix(doc.Retention.Alerts, "400d") || !strings.HasPrefix(doc.Retention.ZoneHistory, "30d") || !strings.Contains(doc.Retention.AuditLog, "without limit") {
		t.Errorf("retention %+v; want spt.yaml's 400d for alerts and the 30d default for zone history", doc.Retention)
	}
	if len(doc.Devices) != 1 {
		t.Fatalf("%d devices", len(doc.Devices))
	}
	d := doc.Devices[0]
	if len(d.ZoneHistory) != 2 || len(d.Alerts) != 3 || d.Register != nil {
		t.Errorf("device: %d stays (want Friday's and Monday's), %d alerts (want 3), register %+v", len(d.ZoneHistory), len(d.Alerts), d.Register)
	}
	first := d.Alerts[0]
	if len(first.Audit) != 1 || first.Audit[0].Action != "alert.acknowledge" || first.Note != "phone handed in at reception" {
		t.Errorf("first alert: audit %+v, note %q", first.Audit, first.Note)
	}
	if len(first.Deliveries) != 1 || first.Deliveries[0].Channel != "dsl-email" || first.Deliveries[0].State != "pending" {
		t.Errorf("deliveries %+v", first.Deliveries)
	}
	if len(doc.Exemptions) != 1 || doc.Exemptions[0].MAC != pupilPhone || len(doc.Exemptions[0].Audit) != 1 || doc.Exemptions[0].Audit[0].Action != "exemption.grant" {
		t.Errorf("exemptions %+v", doc.Exemptions)
	}
	// Nothing about anyone else: not the other devices of the day, not the grouped payload.
	for _, other := range []string{staffPhone, laptop, "payload", "grouped"} {
		if strings.Contains(string(raw), other) {
			t.Errorf("the export contains %q", other)
		}
	}
	// The export is audited, by pseudonym: the never-purged log does not keep the MAC.
	st, err := store.Open(context.Background(), dbPath(cfg), cfg.School.SiteID, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last, err := st.ListAudit(context.Background(), 1)
	if err != nil || len(last) != 1 {
		t.Fatal(err)
	}
	e := last[0]
	if e.Action != "sar.export" || e.Actor != "dsl.jones" || !strings.HasPrefix(e.Target, "device-") ||
		strings.Contains(e.Target+e.After, pupilPhone) || !strings.Contains(e.After, `"alerts":3`) || !strings.Contains(e.After, `"sha256":"`) {
		t.Errorf("audit entry %+v", e)
	}
}

func TestExportPerson(t *testing.T) {
	cfgPath, _ := exportFixture(t)
	stdout, stderr, code := runReportCmd(t, "export", "--config", cfgPath, "--person", briggs, "--actor", "dsl.jones")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc sarExport
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	var macs []string
	for _, d := range doc.Devices {
		macs = append(macs, d.MAC)
		if d.Register == nil || d.Register.Owner != briggs {
			t.Errorf("%s: register entry %+v", d.MAC, d.Register)
		}
	}
	if strings.Join(macs, ",") != "a4:5e:60:c1:00:03,ac:de:48:00:11:22" {
		t.Errorf("devices %v; want both of the register's devices for %s", macs, briggs)
	}
	if len(doc.Devices) == 2 && len(doc.Devices[1].ZoneHistory) != 1 {
		t.Errorf("phone's zone history: %+v", doc.Devices[1].ZoneHistory)
	}
	if len(doc.Exemptions) != 1 || doc.Exemptions[0].Person != briggs {
		t.Errorf("exemptions %+v; want the one granted to him by name", doc.Exemptions)
	}
	if strings.Contains(stdout, pupilPhone) || strings.Contains(stdout, staffPhone) {
		t.Error("the export holds other devices' data")
	}
}

func TestExportErrors(t *testing.T) {
	cfgPath, _ := reportFixture(t)
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"actor required", []string{"--config", cfgPath, "--mac", pupilPhone}, "--actor is required"},
		{"one subject", []string{"--config", cfgPath, "--mac", pupilPhone, "--person", briggs, "--actor", "dsl"}, "give --mac or --person"},
		{"no subject", []string{"--config", cfgPath, "--actor", "dsl"}, "give --mac or --person"},
		{"bad MAC", []string{"--config", cfgPath, "--mac", "02:11:22", "--actor", "dsl"}, "--mac"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runReportCmd(t, append([]string{"export"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.msg) || stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %d bytes; want 2 and %q and nothing exported", code, stderr, len(stdout), tc.msg)
			}
		})
	}
}
