package daemon

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Episode keys: a device has at most one open policy episode (identity
// mismatches are policy rules too: when.kind_mismatch, SPT-10); a VLAN at most
// one open flood episode.
func policyKey(mac string) string   { return "p|" + mac }
func identityKey(mac string) string { return "i|" + mac }
func floodKey(vlan uint16) string   { return fmt.Sprintf("f|%d", vlan) }
func floodZone(vlan uint16) string  { return fmt.Sprintf("vlan-%d", vlan) }

const (
	ruleFlood = "dhcp-flood"
)

func episodeKey(a Alert) string {
	switch a.Rule {
	case ruleFlood:
		var vlan uint16
		_, _ = fmt.Sscanf(a.Zone, "vlan-%d", &vlan)
		return floodKey(vlan)
	}
	return policyKey(a.Device.MAC)
}

// flood tracks never-seen MACs per minute on one VLAN.
type flood struct {
	window   time.Time // start of the current one-minute window
	newMACs  int       // never-seen MACs in the window
	quiet    int       // consecutive windows below half the rate
	absorbed int       // DISCOVERs aggregated into the open episode
	alert    *Alert
}

// floodAbsorbs counts a never-seen MAC on its VLAN. While the VLAN floods, a new
// MAC that has only sent a DHCP DISCOVER (a starvation tool never completes the
// exchange) is aggregated into one flood episode instead of becoming a device:
// memory stays bounded and the DSL gets one alert, not 100,000. It reports
// whether the observation was absorbed.
func (e *Engine) floodAbsorbs(ctx context.Context, o Observation) bool {
	f := e.floods[o.VLAN]
	if f == nil {
		f = &flood{window: o.At}
		e.floods[o.VLAN] = f
	}
	if o.At.Sub(f.window) >= time.Minute {
		if f.alert != nil && f.newMACs < e.o.FloodRate/2 {
			f.quiet++
			if f.quiet >= 2 {
				e.endFlood(ctx, o.VLAN, f, o.At)
			}
		} else {
			f.quiet = 0
		}
		f.window, f.newMACs = o.At, 0
	}
	f.newMACs++
	if f.alert == nil && f.newMACs > e.o.FloodRate {
		e.startFlood(ctx, o.VLAN, f, o.At)
	}
	if f.alert != nil && o.Kind == ObsDHCP && o.DHCP != nil && o.DHCP.MessageType == 1 {
		f.absorbed++
		return true
	}
	return false
}

func (e *Engine) startFlood(ctx context.Context, vlan uint16, f *flood, at time.Time) {
	a := e.open(ctx, floodKey(vlan), Alert{
		Severity: "high",
		Action:   "alert",
		Device:   AlertDevice{Kind: "unknown", OS: "unknown"},
		Zone:     floodZone(vlan),
		Rule:     ruleFlood,
		Clauses:  []string{"SPT-2"},
		Reason: fmt.Sprintf("DHCP flood on VLAN %d: more than %d never-seen MACs in a minute (a DHCP starvation tool?); "+
			"new MACs that only send DISCOVERs are counted, not tracked, until it stops.", vlan, e.o.FloodRate),
	}, at)
	if a != nil {
		f.alert, f.absorbed, f.quiet = a, 0, 0
	}
}

func (e *Engine) endFlood(ctx context.Context, vlan uint16, f *flood, at time.Time) {
	e.log.Warn("DHCP flood over", zap.Uint16("vlan", vlan), zap.Int("discovers_aggregated", f.absorbed))
	e.closeEpisode(ctx, f.alert, at)
	if e.episodes[floodKey(vlan)] == nil { // closed (not left open by a store error)
		f.alert = nil
	}
}
