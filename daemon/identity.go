package daemon

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// maxLinkedMACs bounds the rotation history kept per device.
const maxLinkedMACs = 16

// maxLinkGap is the longest silence of a known MAC before a new private MAC may
// continue it. A phone rotates its address when it rejoins, so the old MAC falls
// silent moments before the new one appears; a phone quiet in a locker for an hour
// is still there, and another pupil's "Emmas-iPhone" arriving then is not it
// (fingerprint.LinkMaxGap allows 2 h; the daemon, which sees lockers, is stricter).
const maxLinkGap = 2 * time.Minute

func linkCandidate(d *Device, dhcp *fingerprint.DHCP, first, last time.Time) fingerprint.LinkCandidate {
	c := fingerprint.LinkCandidate{MAC: d.MAC, Hostname: d.Hostname, Kind: d.fp.Kind, OS: d.fp.OS,
		FirstSeen: first, LastSeen: last, VLAN: d.VLAN}
	if dhcp != nil {
		c.ClientID, c.ParamList, c.Options, c.VendorClass = dhcp.ClientID, dhcp.ParamList, dhcp.Options, dhcp.VendorClass
		if dhcp.Hostname != "" {
			c.Hostname = dhcp.Hostname
		}
	}
	return c
}

// tryLink looks for a known device that this fresh private MAC is the same
// physical device as (fingerprint.LinkScore: client id, host name, DHCP
// fingerprint, VLAN and timing agree; never two devices present at once). When one
// scores above the threshold, d takes over its record: first seen, profile,
// linked MACs, zone and any open alert episode.
func (e *Engine) tryLink(ctx context.Context, d *Device, o Observation) {
	fresh := linkCandidate(d, o.DHCP, d.FirstSeen, o.At)
	fresh.VLAN = o.VLAN
	var best *Device
	var bestScore float64
	var bestEv []fingerprint.Evidence
	for _, k := range e.snapshot() {
		if k.MAC == d.MAC || k.DHCP == nil || o.At.Sub(k.LastSeen) > maxLinkGap || e.apart[k.MAC+"|"+d.MAC] {
			continue
		}
		score, ev := fingerprint.LinkScore(linkCandidate(k, k.DHCP, k.FirstSeen, k.LastSeen), fresh)
		if score > bestScore {
			best, bestScore, bestEv = k, score, ev
		}
	}
	if best == nil || bestScore < fingerprint.LinkThreshold {
		return
	}
	old := cloneDevice(best)
	mac := d.MAC
	*d = old
	d.MAC = mac
	d.LinkedMACs = append(d.LinkedMACs, old.MAC)
	if len(d.LinkedMACs) > maxLinkedMACs {
		d.LinkedMACs = d.LinkedMACs[len(d.LinkedMACs)-maxLinkedMACs:]
	}
	d.LinkConfidence = bestScore
	d.LastSeen = o.At
	d.Evidence = append(slices.Clone(d.Evidence), bestEv...)
	// The old MAC's record goes; its open episode continues under the new MAC.
	txn := e.db.Txn(true)
	if err := txn.Delete(tableDevices, best); err == nil {
		txn.Commit()
		e.nDevices.Add(-1)
	} else {
		txn.Abort()
	}
	if a := e.episodes[policyKey(old.MAC)]; a != nil {
		delete(e.episodes, policyKey(old.MAC))
		e.episodes[policyKey(mac)] = a
	}
	delete(e.pending, old.MAC)
	if d.pendingZone != "" {
		e.pending[mac] = true
	}
	retired := old // the record as it was, to restore should the old MAC turn up again
	e.linkedTo[old.MAC] = linkRecord{holder: mac, retired: &retired}
	e.log.Info("private MAC linked to a known device", zap.Float64("confidence", bestScore)) // MACs only at debug
	e.log.Debug("private MAC linked to a known device",
		zap.String("mac", mac), zap.String("was", old.MAC), zap.Float64("confidence", bestScore))
}

// linkRecord remembers a retired MAC's device record and who took it over.
type linkRecord struct {
	holder  string
	retired *Device
}

// unlinkIfPresent undoes a link when the MAC it retired is seen again: two MACs
// present at the same time are two devices, whatever their fingerprints say. The
// retired record is restored, so nothing it had learnt is lost.
func (e *Engine) unlinkIfPresent(mac string, at time.Time) {
	rec, ok := e.linkedTo[mac]
	if !ok {
		return
	}
	delete(e.linkedTo, mac)
	if len(e.apart) > 10000 {
		clear(e.apart)
	}
	e.apart[rec.holder+"|"+mac], e.apart[mac+"|"+rec.holder] = true, true
	txn := e.db.Txn(false)
	raw, _ := txn.First(tableDevices, "id", rec.holder)
	txn.Abort()
	if raw != nil {
		d := cloneDevice(raw.(*Device))
		d.LinkedMACs = slices.DeleteFunc(d.LinkedMACs, func(m string) bool { return m == mac })
		d.LinkConfidence = 0
		e.put(&d)
	}
	restored := cloneDevice(rec.retired)
	e.put(&restored)
	e.log.Warn("MAC link undone: both MACs are present", zap.Time("at", at)) // MACs only at debug
	e.log.Debug("MAC link undone: both MACs are present", zap.String("mac", rec.holder), zap.String("other", mac), zap.Time("at", at))
}
