package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// A pupil's DHCP starvation tool: 100,000 DISCOVERs from random MACs in a minute.
// The DSL gets one aggregated alert, live state stays bounded, and a real phone
// that completes its DHCP exchange during the flood is still tracked.
func TestDHCPFloodIsAggregated(t *testing.T) {
	store := newMemStore()
	h := start(t, store, func(o *Options) { o.FollowPacketTime = true })
	ctx := context.Background()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 100_000 {
		mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:01", i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff)
		o := Observation{At: at(9, 0).Add(time.Duration(i) * 500 * time.Microsecond), Kind: ObsDHCP, MAC: mac, VLAN: 30,
			DHCP: &fingerprint.DHCP{MessageType: 1}}
		if err := h.e.Observe(ctx, o); err != nil {
			t.Fatal(err)
		}
		if i == 50_000 { // a real phone joins in the middle of the flood
			h.observe(t, phoneDHCP("da:a1:19:00:00:99", "10.30.1.99", at(9, 0).Add(25*time.Second)))
		}
	}
	h.e.drain(ctx)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	devices := h.e.Devices()
	if len(devices) > DefaultFloodRate+2 {
		t.Errorf("%d devices tracked after the flood; want at most the %d before it was recognised (+ the real phone)", len(devices), DefaultFloodRate)
	}
	found := false
	for _, d := range devices {
		found = found || d.MAC == "da:a1:19:00:00:99"
	}
	if !found {
		t.Error("the real phone that joined during the flood is not tracked")
	}
	alerts, _ := store.snapshot()
	floods := 0
	for _, a := range alerts {
		if a.Rule == ruleFlood {
			floods++
			if a.Zone != "vlan-30" || len(a.Clauses) == 0 {
				t.Errorf("flood alert %+v: want zone vlan-30 and a clause", a)
			}
		}
	}
	if floods != 1 {
		t.Fatalf("%d flood alerts, want exactly 1 (alerts: %d)", floods, len(alerts))
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew %.1f MiB for 100,000 flood DISCOVERs; %d devices tracked", float64(grown)/(1<<20), len(devices))
	if grown > 64<<20 {
		t.Errorf("heap grew %d MiB during the flood, want < 64 MiB", grown>>20)
	}

	// Three quiet minutes later the flood episode closes.
	for i, m := range []int{2, 3, 4, 5} {
		h.observe(t, phoneDHCP(fmt.Sprintf("da:a1:19:00:01:%02x", i), "10.30.1.50", at(9, m)))
	}
	alerts, _ = store.snapshot()
	for _, a := range alerts {
		if a.Rule == ruleFlood && a.ClosedAt == nil {
			t.Errorf("flood alert still open after quiet minutes")
		}
	}
}

// Live state costs at most 4 KiB per device with realistic signals.
func BenchmarkDeviceMemory(b *testing.B) {
	for range b.N {
		store := newMemStore()
		e, err := New(Options{SiteID: "b", Policy: fakePolicy{edge: at(8, 30)}, Classify: fakeClassify, Store: store,
			Clock: &manualClock{now: at(8, 0)}, FollowPacketTime: true})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ctx := context.Background()
		for i := range 10_000 {
			mac := fmt.Sprintf("da:a1:%02x:%02x:00:01", i>>8, i&0xff)
			ip := netip.AddrFrom4([4]byte{10, 30, 1, byte(i)})
			e.apply(ctx, Observation{At: at(8, 0).Add(time.Duration(i) * 10 * time.Millisecond), Kind: ObsDHCP, MAC: mac, VLAN: 30, IP: ip,
				DHCP: &fingerprint.DHCP{MessageType: 3, VendorClass: "android-dhcp-14", Hostname: "Pixel-8",
					Options: []uint8{53, 61, 50, 54, 57, 60, 12, 55}, ParamList: []uint8{1, 3, 6, 15, 26, 28, 51, 58, 59, 43, 114, 108}}})
			for k := range 12 {
				e.apply(ctx, Observation{At: at(8, 1), Kind: ObsDNS, MAC: mac, VLAN: 30, IP: ip, DNSName: fmt.Sprintf("host-%d.example-cdn.com", k)})
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10_000, "bytes/device")
		runtime.KeepAlive(e)
	}
}
