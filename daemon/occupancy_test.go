package daemon

import (
	"testing"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func TestOccupancyGroupsByZoneKindAndRole(t *testing.T) {
	devs := []Device{
		{Zone: "teaching", ZoneType: "teaching", Kind: "phone", Role: "pupil", Decision: policy.Decision{Action: "alert"}},
		{Zone: "teaching", ZoneType: "teaching", Kind: "laptop", Role: "staff-direct", Managed: true, Decision: policy.Decision{Action: "allow"}},
		{Zone: "teaching", ZoneType: "teaching", Kind: "phone", Role: "pupil", Decision: policy.Decision{Action: "block"}},
		{Zone: "reception", ZoneType: "reception", Kind: "phone", Decision: policy.Decision{Action: "allow"}},
	}
	got := Occupancy(devs)
	if len(got) != 2 || got[0].Zone != "teaching" {
		t.Fatalf("zones = %+v, want teaching (busiest) then reception", got)
	}
	z := got[0]
	if z.Devices != 3 || z.ByKind["phone"] != 2 || z.ByKind["laptop"] != 1 || z.ByRole["pupil"] != 2 || z.Managed != 1 || z.Breaches != 2 {
		t.Fatalf("teaching = %+v", z)
	}
	if got[1].ByRole["unknown"] != 1 {
		t.Fatalf("a device with no role is counted as unknown: %+v", got[1])
	}
}
