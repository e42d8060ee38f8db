package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// historyStore adds zone history to the fake store.
type historyStore struct {
	*fakeStore
	asked string
}

func (h *historyStore) ZoneVisits(_ context.Context, mac string, from, to time.Time) ([]daemon.ZoneVisit, error) {
	h.asked = mac
	return []daemon.ZoneVisit{{MAC: mac, Zone: "reception", From: from.Add(time.Hour), To: from.Add(2 * time.Hour)}}, nil
}

// Who is where now, and where one device has been: both behind the API token.
func TestAPIZonesAndDeviceHistory(t *testing.T) {
	var hs *historyStore
	f := newFixture(t, func(o *Options) {
		hs = &historyStore{fakeStore: o.Store.(*fakeStore)}
		o.Store = hs
	})
	resp := f.do(http.MethodGet, "/api/v1/zones", dslToken, nil)
	var zones []daemon.ZoneOccupancy
	if err := json.NewDecoder(resp.Body).Decode(&zones); err != nil || resp.StatusCode != 200 || len(zones) == 0 || zones[0].Devices == 0 {
		t.Fatalf("GET /api/v1/zones = %d %+v %v", resp.StatusCode, zones, err)
	}
	resp.Body.Close()
	resp = f.do(http.MethodGet, "/api/v1/devices/DA:A1:19:00:00:01/zones?days=7", dslToken, nil)
	var visits []daemon.ZoneVisit
	if err := json.NewDecoder(resp.Body).Decode(&visits); err != nil || resp.StatusCode != 200 || len(visits) != 1 || visits[0].Zone != "reception" {
		t.Fatalf("GET device zones = %d %+v %v", resp.StatusCode, visits, err)
	}
	resp.Body.Close()
	if hs.asked != "da:a1:19:00:00:01" {
		t.Errorf("store asked for %q, want the lower-case MAC", hs.asked)
	}
	if r := f.do(http.MethodGet, "/api/v1/devices/da:a1:19:00:00:01/zones?days=99", dslToken, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("days=99: %d, want 400", r.StatusCode)
	}
	if r := f.do(http.MethodGet, "/api/v1/devices/da:a1:19:00:00:01/zones", "", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", r.StatusCode)
	}
}
