package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// DefaultDwell is how long a device must stay in a new zone before the move counts.
const DefaultDwell = 60 * time.Second

// ZoneHistory records closed stays in zones (adapters/store implements it).
type ZoneHistory interface {
	RecordZoneVisit(ctx context.Context, v ZoneVisit) error
}

// place moves d towards the zone its latest sighting resolves to. The first zone
// is taken at once; a change takes effect only after the dwell time, so a phone
// flickering between the staff-room and corridor access points stays put. A device
// whose sighting resolves to no zone keeps its zone until it ages out.
func (e *Engine) place(ctx context.Context, d *Device, zone, zoneType string, at time.Time) {
	switch {
	case zone == "":
		if d.Zone == "" {
			d.ZoneType = zoneType
		}
		e.clearPending(d)
	case d.Zone == "":
		e.enter(ctx, d, zone, zoneType, at)
	case zone == d.Zone:
		d.ZoneType = zoneType
		e.clearPending(d)
	case e.o.Dwell <= 0:
		e.enter(ctx, d, zone, zoneType, at)
	case zone != d.pendingZone:
		d.pendingZone, d.pendingType, d.pendingSince = zone, zoneType, at
		e.pending[d.MAC] = true
	case at.Sub(d.pendingSince) >= e.o.Dwell:
		e.enter(ctx, d, zone, zoneType, at)
	}
}

func (e *Engine) clearPending(d *Device) {
	d.pendingZone, d.pendingType, d.pendingSince = "", "", time.Time{}
	delete(e.pending, d.MAC)
}

// enter closes the stay in the current zone (zone history) and starts one in zone.
func (e *Engine) enter(ctx context.Context, d *Device, zone, zoneType string, at time.Time) {
	e.recordStay(ctx, d, at)
	d.Zone, d.ZoneType, d.zoneSince = zone, zoneType, at
	e.clearPending(d)
}

// leave takes d out of its zone at t (silence, disassociation).
func (e *Engine) leave(ctx context.Context, d *Device, at time.Time) {
	e.recordStay(ctx, d, at)
	d.Zone, d.ZoneType, d.zoneSince = "", "unknown", time.Time{}
	e.clearPending(d)
}

func (e *Engine) recordStay(ctx context.Context, d *Device, to time.Time) {
	if e.o.History == nil || d.Zone == "" || d.zoneSince.IsZero() || to.Before(d.zoneSince) {
		return
	}
	v := ZoneVisit{MAC: d.MAC, Zone: d.Zone, From: d.zoneSince, To: to}
	if err := e.o.History.RecordZoneVisit(ctx, v); err != nil {
		// MACs are personal data: only debug logs name the device.
		e.log.Error("zone history not stored", zap.String("zone", d.Zone), zap.Error(err))
		e.log.Debug("zone history not stored", zap.String("mac", d.MAC), zap.String("zone", d.Zone))
	}
}

// settle applies zone changes whose dwell time has passed, for devices that went
// quiet after moving (no packet needs to arrive for the move to count).
func (e *Engine) settle(ctx context.Context, now time.Time) {
	for mac := range e.pending {
		txn := e.db.Txn(false)
		raw, _ := txn.First(tableDevices, "id", mac)
		txn.Abort()
		if raw == nil {
			delete(e.pending, mac)
			continue
		}
		d := raw.(*Device)
		if d.pendingZone == "" {
			delete(e.pending, mac)
			continue
		}
		if now.Sub(d.pendingSince) < e.o.Dwell {
			continue
		}
		dc := cloneDevice(d)
		at := d.pendingSince.Add(e.o.Dwell)
		e.enter(ctx, &dc, d.pendingZone, d.pendingType, at)
		e.decide(ctx, &dc, at)
		e.put(&dc)
	}
}

// DefaultAPFresh is how long an access-point association stays the best evidence
// of where a device is without a new event (APs report interim updates every few
// minutes; a device that leaves without disassociating goes stale).
const DefaultAPFresh = 15 * time.Minute

// associate applies an AP association feed event to d; it reports whether the
// device's location evidence changed.
func (e *Engine) associate(d *Device, o Observation) bool {
	if o.Identity != "" {
		d.Identity = o.Identity
	}
	if o.APEvent == "disassociate" {
		if d.AP == "" && d.APMAC == "" {
			return false
		}
		if o.AP != "" && d.AP != "" && o.AP != d.AP {
			return false // an old AP's late disassociation after a roam
		}
		d.AP, d.APMAC, d.SSID, d.APSeen = "", "", "", time.Time{}
		return true
	}
	changed := o.AP != d.AP || o.APMAC != d.APMAC || o.SSID != d.SSID
	d.AP, d.APMAC, d.SSID, d.APSeen = o.AP, o.APMAC, o.SSID, o.At
	if o.VLAN != 0 {
		d.VLAN = o.VLAN
	}
	return changed
}

// apFresh reports whether d's AP association is recent enough to place it.
func (e *Engine) apFresh(d *Device, now time.Time) bool {
	return (d.AP != "" || d.APMAC != "") && now.Sub(d.APSeen) <= e.o.APFresh
}
