package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// The subject-access reads return the device's records and no one else's.
func TestExportReadsOneDeviceOnly(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	const subject, other = "02:00:00:00:00:aa", "02:00:00:00:00:bb"
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	first := insert(t, s, openAlert(subject, t0))
	second := insert(t, s, openAlert(subject, t0.Add(2*time.Hour)))
	theirs := insert(t, s, openAlert(other, t0.Add(time.Hour)))
	for _, a := range []daemon.Alert{first, theirs} {
		a.State, a.AcknowledgedBy = daemon.AlertAcknowledged, "dsl"
		ack := t0.Add(3 * time.Hour)
		a.AcknowledgedAt = &ack
		if err := s.UpdateAlertWithAudit(ctx, a, daemon.AuditEntry{Actor: "dsl", Action: "alert.acknowledge", Target: a.ID}); err != nil {
			t.Fatal(err)
		}
	}
	mine := fullExemption(t0)
	mine.MAC = subject
	byPerson := fullExemption(t0)
	byPerson.MAC, byPerson.Person = "", "J Smith"
	notMine := fullExemption(t0)
	notMine.MAC = other
	var ids []string
	for _, e := range []daemon.Exemption{mine, byPerson, notMine} {
		got, err := s.CreateExemption(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}

	alerts, err := s.DeviceAlerts(ctx, subject)
	if err != nil || len(alerts) != 2 || alerts[0].ID != first.ID || alerts[1].ID != second.ID {
		t.Fatalf("DeviceAlerts = %+v, %v; want the subject's two alerts, oldest first", alerts, err)
	}
	audit, err := s.AuditFor(ctx, []string{first.ID, second.ID, ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Action != "alert.acknowledge" || audit[0].Target != first.ID ||
		audit[1].Action != "exemption.grant" || audit[1].Target != ids[0] {
		t.Fatalf("AuditFor = %+v; want the subject's acknowledgement and exemption grant, in log order", audit)
	}
	ex, err := s.ExemptionsFor(ctx, subject, []string{"J Smith"})
	if err != nil || len(ex) != 2 || ex[0].ID != ids[0] || ex[1].ID != ids[1] {
		t.Fatalf("ExemptionsFor = %+v, %v; want the device's and the person's", ex, err)
	}
	if ex, _ := s.ExemptionsFor(ctx, subject, nil); len(ex) != 1 {
		t.Errorf("without persons: %d exemptions, want 1", len(ex))
	}
	if b, err := s.DeviceBlock(ctx, subject); err != nil || b != nil {
		t.Errorf("DeviceBlock = %+v, %v; want none", b, err)
	}
	if err := s.SaveBlocks(ctx, []daemon.Block{{MAC: subject, VLAN: 30, Rule: "r"}, {MAC: other, VLAN: 30, Rule: "r"}}); err != nil {
		t.Fatal(err)
	}
	if b, err := s.DeviceBlock(ctx, subject); err != nil || b == nil || b.MAC != subject || b.VLAN != 30 {
		t.Errorf("DeviceBlock = %+v, %v", b, err)
	}
}
