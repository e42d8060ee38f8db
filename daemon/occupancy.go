package daemon

import "sort"

// ZoneOccupancy is who is where now, for one zone (GET /api/v1/zones).
type ZoneOccupancy struct {
	Zone     string         `json:"zone"` // "" for devices not located
	ZoneType string         `json:"zone_type"`
	Devices  int            `json:"devices"`
	ByKind   map[string]int `json:"by_kind"`
	ByRole   map[string]int `json:"by_role"`
	Managed  int            `json:"managed"`
	Breaches int            `json:"breaches"` // devices whose current decision is alert or block
}

// Occupancy groups devices by their current zone, busiest zone first.
func Occupancy(devs []Device) []ZoneOccupancy {
	by := map[string]*ZoneOccupancy{}
	for _, d := range devs {
		z := by[d.Zone]
		if z == nil {
			z = &ZoneOccupancy{Zone: d.Zone, ZoneType: d.ZoneType, ByKind: map[string]int{}, ByRole: map[string]int{}}
			by[d.Zone] = z
		}
		z.Devices++
		z.ByKind[d.Kind]++
		role := d.Role
		if role == "" {
			role = "unknown"
		}
		z.ByRole[role]++
		if d.Managed {
			z.Managed++
		}
		if d.Decision.Breach() {
			z.Breaches++
		}
	}
	out := make([]ZoneOccupancy, 0, len(by))
	for _, z := range by {
		out = append(out, *z)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Devices != out[j].Devices {
			return out[i].Devices > out[j].Devices
		}
		return out[i].Zone < out[j].Zone
	})
	return out
}
