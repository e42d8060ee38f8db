package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// fakePolicy: VLAN 30 is the pupil network; subnet 10.30.1.0/24 is reception,
// 10.30.10.0/24 teaching. Pupil phones beyond reception breach from 08:30 (edge).
type fakePolicy struct{ edge time.Time }

func (p fakePolicy) Evaluate(in policy.Input, at time.Time) policy.Decision {
	if in.Role == "pupil" && in.Kind == "phone" && !in.Managed && in.ZoneType == "teaching" && !at.Before(p.edge) {
		return policy.Decision{Action: "alert", Severity: "high", Rule: "pupil-device-beyond-reception",
			Clauses: []string{"OSS-2.1"}, Reason: "Pupil's personal device beyond reception."}
	}
	return policy.Decision{Action: "allow", Severity: "info", Rule: "default"}
}

func (fakePolicy) ZoneForSighting(s policy.Sighting) (string, string) {
	ip := s.IP
	switch {
	case s.AP == "ap-staffroom":
		return "staffroom", "staffroom"
	case s.AP == "ap-class-12":
		return "teaching", "teaching"
	case netip.MustParsePrefix("10.30.1.0/24").Contains(ip):
		return "reception", "reception"
	case netip.MustParsePrefix("10.30.10.0/24").Contains(ip):
		return "teaching", "teaching"
	}
	return "", "unknown"
}

func (fakePolicy) RoleForNetwork(vlan uint16, ip netip.Addr) string {
	if vlan == 30 {
		return "pupil"
	}
	return ""
}

func (fakePolicy) Registered(mac string) (policy.RegisterEntry, bool) {
	if mac == "00:11:22:33:44:55" {
		return policy.RegisterEntry{MAC: mac, Role: "pupil", Managed: true}, true
	}
	return policy.RegisterEntry{}, false
}

func (p fakePolicy) NextEdge(after time.Time) time.Time {
	if after.Before(p.edge) {
		return p.edge
	}
	return time.Time{}
}

func fakeClassify(s fingerprint.Signals) fingerprint.Profile {
	if s.DHCP != nil && s.DHCP.VendorClass == "android-dhcp-14" {
		return fingerprint.Profile{Kind: "phone", OS: "android", Confidence: 0.9}
	}
	return fingerprint.Profile{Kind: "unknown", OS: "unknown"}
}

// memStore records the order of events so tests can check "durable first".
type memStore struct {
	visits  []ZoneVisit
	mu      sync.Mutex
	alerts  map[string]Alert
	log     []string
	audit   []AuditEntry
	failing bool
}

func newMemStore() *memStore { return &memStore{alerts: map[string]Alert{}} }

func (s *memStore) InsertAlert(_ context.Context, a Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return errors.New("disk full")
	}
	s.alerts[a.ID] = a
	s.log = append(s.log, "insert:"+a.ID)
	return nil
}

func (s *memStore) CloseAlert(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.alerts[id]
	a.ClosedAt = &at
	s.alerts[id] = a
	s.log = append(s.log, "close:"+id)
	return nil
}

func (s *memStore) UpdateAlertWithAudit(_ context.Context, a Alert, e AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts[a.ID] = a
	s.audit = append(s.audit, e)
	return nil
}

func (s *memStore) GetAlert(_ context.Context, id string) (Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	if !ok {
		return Alert{}, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	return a, nil
}

func (s *memStore) OpenAlerts(context.Context) ([]Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Alert
	for _, a := range s.alerts {
		if a.ClosedAt == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *memStore) AppendAudit(_ context.Context, e AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit = append(s.audit, e)
	return nil
}

func (s *memStore) snapshot() (map[string]Alert, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]Alert{}
	for k, v := range s.alerts {
		m[k] = v
	}
	return m, append([]string(nil), s.log...)
}

// manualClock only moves when the test says so.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	c  chan time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Timer(at time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !at.After(c.now) {
		ch <- c.now
	} else {
		c.timers = append(c.timers, manualTimer{at, ch})
	}
	return ch, func() bool { return true }
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(t) {
			tm.c <- t
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
}

var day = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday

func at(h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func phoneDHCP(mac, ip string, t time.Time) Observation {
	return Observation{At: t, Kind: ObsDHCP, MAC: mac, VLAN: 30, IP: netip.MustParseAddr(ip),
		DHCP: &fingerprint.DHCP{MessageType: 3, VendorClass: "android-dhcp-14", Hostname: "Pixel-8"}}
}

type harness struct {
	e      *Engine
	store  *memStore
	clock  *manualClock
	events <-chan Event
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, store *memStore, opts ...func(*Options)) *harness {
	t.Helper()
	clock := &manualClock{now: at(8, 0)}
	o := Options{SiteID: "test", Policy: fakePolicy{edge: at(8, 30)}, Classify: fakeClassify, Store: store, Clock: clock}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	events, unsub := e.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	h := &harness{e: e, store: store, clock: clock, events: events, cancel: cancel, done: done}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("engine did not stop within 5s of cancel")
		}
		unsub()
	})
	return h
}

func (h *harness) observe(t *testing.T, o Observation) {
	t.Helper()
	if err := h.e.Observe(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h.e.drain(context.Background())
}

func (h *harness) nextEvent(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return Event{}
	}
}

func TestBreachOpensOneDurableAlertPerEpisode(t *testing.T) {
	h := start(t, newMemStore())
	h.clock.Set(at(9, 0))
	mac := "da:a1:19:00:00:01"
	for i := 0; i < 20; i++ { // twenty packets in one episode
		h.observe(t, phoneDHCP(mac, "10.30.10.7", at(9, i)))
	}
	ev := h.nextEvent(t)
	if ev.Type != "alert.opened" || ev.Alert.Rule != "pupil-device-beyond-reception" || ev.Alert.Clauses[0] != "OSS-2.1" {
		t.Fatalf("event = %+v, want alert.opened citing OSS-2.1", ev)
	}
	alerts, log := h.store.snapshot()
	if len(alerts) != 1 {
		t.Fatalf("stored %d alerts for one episode of 20 packets, want 1", len(alerts))
	}
	if _, ok := alerts[ev.Alert.ID]; !ok || log[0] != "insert:"+ev.Alert.ID {
		t.Fatalf("the published alert %s was not committed first (store log %v)", ev.Alert.ID, log)
	}
	devs := h.e.Devices()
	if len(devs) != 1 || devs[0].Kind != "phone" || devs[0].Zone != "teaching" || devs[0].Role != "pupil" || devs[0].Decision.Action != "alert" {
		t.Fatalf("device = %+v", devs)
	}

	// Back to reception: after the dwell time the episode closes, even though
	// the phone sends nothing more.
	h.observe(t, phoneDHCP(mac, "10.30.1.7", at(9, 30)))
	if d := h.e.Devices()[0]; d.Zone != "teaching" {
		t.Fatalf("zone %q right after the move, want teaching until the dwell time passes", d.Zone)
	}
	h.clock.Set(at(9, 31))
	ev = h.nextEvent(t)
	if ev.Type != "alert.closed" || ev.Alert.ClosedAt == nil || !ev.Alert.ClosedAt.Equal(at(9, 31)) {
		t.Fatalf("after moving to reception: event %+v, want alert.closed at 09:31", ev)
	}
}

func TestScheduleEdgeChangesDecisionWithoutPackets(t *testing.T) {
	h := start(t, newMemStore())
	mac := "da:a1:19:00:00:02"
	h.observe(t, phoneDHCP(mac, "10.30.10.9", at(8, 10))) // before pupil hours: allowed
	if d := h.e.Devices()[0]; d.Decision.Action != "allow" {
		t.Fatalf("08:10 decision %q, want allow", d.Decision.Action)
	}
	h.clock.Set(at(8, 30)) // the phone sends nothing; time alone changes the decision
	ev := h.nextEvent(t)
	if ev.Type != "alert.opened" || !ev.Alert.OpenedAt.Equal(at(8, 30)) {
		t.Fatalf("at 08:30 got %+v, want an alert opened at 08:30", ev)
	}
}

func TestStoreFailureNotifiesNobodyAndRetries(t *testing.T) {
	store := newMemStore()
	store.failing = true
	h := start(t, store)
	h.clock.Set(at(9, 0))
	mac := "da:a1:19:00:00:03"
	h.observe(t, phoneDHCP(mac, "10.30.10.5", at(9, 0)))
	select {
	case ev := <-h.events:
		t.Fatalf("event %+v published although the store failed", ev)
	case <-time.After(100 * time.Millisecond):
	}
	store.mu.Lock()
	store.failing = false
	store.mu.Unlock()
	h.observe(t, phoneDHCP(mac, "10.30.10.5", at(9, 1)))
	if ev := h.nextEvent(t); ev.Type != "alert.opened" {
		t.Fatalf("after the store recovered: %+v, want alert.opened", ev)
	}
}

func TestRestartResumesOpenEpisode(t *testing.T) {
	store := newMemStore()
	mac := "da:a1:19:00:00:04"
	{
		h := start(t, store)
		h.clock.Set(at(9, 0))
		h.observe(t, phoneDHCP(mac, "10.30.10.5", at(9, 0)))
		h.nextEvent(t)
		h.cancel()
		<-h.done
		h.done <- nil // let the cleanup's wait succeed
	}
	h := start(t, store)
	h.clock.Set(at(9, 10))
	h.observe(t, phoneDHCP(mac, "10.30.10.5", at(9, 10)))
	if alerts, _ := store.snapshot(); len(alerts) != 1 {
		t.Fatalf("after restart %d alerts, want the one resumed episode", len(alerts))
	}
}

func TestManagedDeviceIsNotAlerted(t *testing.T) {
	h := start(t, newMemStore())
	h.clock.Set(at(9, 0))
	h.observe(t, phoneDHCP("00:11:22:33:44:55", "10.30.10.5", at(9, 0)))
	d := h.e.Devices()[0]
	if !d.Managed || d.Decision.Action != "allow" {
		t.Fatalf("registered device: managed=%v action=%s, want managed allow", d.Managed, d.Decision.Action)
	}
}

func TestRandomMACFloodIsCapped(t *testing.T) {
	h := start(t, newMemStore(), func(o *Options) { o.MaxDevices = 100 })
	for i := 0; i < 1000; i++ {
		mac := fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)
		if err := h.e.Observe(context.Background(), Observation{At: at(8, 0), Kind: ObsDHCP, MAC: mac, VLAN: 30,
			DHCP: &fingerprint.DHCP{MessageType: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	h.e.drain(context.Background())
	if n := len(h.e.Devices()); n > 100 {
		t.Fatalf("%d devices in live state after a 1000-MAC flood, cap is 100", n)
	}
}

func TestAcknowledgeAndResolveAreAudited(t *testing.T) {
	h := start(t, newMemStore())
	h.clock.Set(at(9, 0))
	h.observe(t, phoneDHCP("da:a1:19:00:00:05", "10.30.10.5", at(9, 0)))
	id := h.nextEvent(t).Alert.ID
	ctx := context.Background()
	if _, err := h.e.ResolveAlert(ctx, id, "dsl", "made-up", ""); err == nil {
		t.Fatal("resolve with an unknown outcome was accepted")
	}
	a, err := h.e.AcknowledgeAlert(ctx, id, "dsl", "on my way")
	if err != nil || a.State != AlertAcknowledged || a.AcknowledgedBy != "dsl" {
		t.Fatalf("ack: %+v, %v", a, err)
	}
	if _, err := h.e.AcknowledgeAlert(ctx, id, "dsl", ""); err == nil {
		t.Fatal("second acknowledge accepted")
	}
	a, err = h.e.ResolveAlert(ctx, id, "dsl", "handed-in", "Phone handed in at reception")
	if err != nil || a.State != AlertResolved || a.Outcome != "handed-in" {
		t.Fatalf("resolve: %+v, %v", a, err)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	if len(h.store.audit) != 2 || h.store.audit[0].Action != "alert.acknowledge" || h.store.audit[1].Action != "alert.resolve" {
		t.Fatalf("audit = %+v, want acknowledge then resolve", h.store.audit)
	}
	if h.store.audit[1].Before == h.store.audit[1].After {
		t.Fatal("audit entry does not show before and after")
	}
}

func TestReplayAppliesEdgesBetweenPackets(t *testing.T) {
	h := start(t, newMemStore(), func(o *Options) { o.FollowPacketTime = true })
	quiet := "da:a1:19:00:00:06"
	h.observe(t, phoneDHCP(quiet, "10.30.10.9", at(8, 10)))
	// Another device's packet at 08:40: the quiet phone's state changed at 08:30.
	h.observe(t, phoneDHCP("da:a1:19:00:00:07", "10.30.1.9", at(8, 40)))
	ev := h.nextEvent(t)
	if ev.Type != "alert.opened" || ev.Alert.Device.MAC != quiet || !ev.Alert.OpenedAt.Equal(at(8, 30)) {
		t.Fatalf("got %+v, want the quiet phone's alert opened at 08:30", ev)
	}
}

func TestUnlocatedDeviceIsNotJudged(t *testing.T) {
	h := start(t, newMemStore())
	h.clock.Set(at(9, 0))
	// A DISCOVER carries no address yet: no zone, so no decision (and no alert).
	h.observe(t, Observation{At: at(9, 0), Kind: ObsDHCP, MAC: "da:a1:19:00:00:08", VLAN: 30,
		DHCP: &fingerprint.DHCP{MessageType: 1, VendorClass: "android-dhcp-14"}})
	d := h.e.Devices()[0]
	if d.Decision.Rule != "unlocated" || d.Decision.Action != "allow" {
		t.Fatalf("decision %+v, want unlocated allow", d.Decision)
	}
	select {
	case ev := <-h.events:
		t.Fatalf("event %+v for an unlocated device", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func (s *memStore) RecordZoneVisit(_ context.Context, v ZoneVisit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.visits = append(s.visits, v)
	return nil
}

func TestZoneHistoryRecordsStays(t *testing.T) {
	store := newMemStore()
	h := start(t, store, func(o *Options) { o.FollowPacketTime = true; o.History = store })
	mac := "da:a1:19:00:00:0a"
	h.observe(t, phoneDHCP(mac, "10.30.1.7", at(8, 0)))
	h.observe(t, phoneDHCP(mac, "10.30.10.7", at(8, 20)))
	h.observe(t, phoneDHCP(mac, "10.30.10.7", at(8, 21)))
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.visits) != 1 {
		t.Fatalf("visits = %+v, want the one stay in reception", store.visits)
	}
	v := store.visits[0]
	if v.Zone != "reception" || !v.From.Equal(at(8, 0)) || !v.To.Equal(at(8, 21)) {
		t.Fatalf("visit = %+v, want reception 08:00-08:21", v)
	}
}

// The access point a device is associated with places it, ahead of its subnet;
// a disassociation (or staleness) hands location back to the subnet.
func TestAPAssociationPlacesDevice(t *testing.T) {
	h := start(t, newMemStore(), func(o *Options) { o.FollowPacketTime = true })
	mac := "da:a1:19:00:00:0b"
	h.observe(t, phoneDHCP(mac, "10.30.1.7", at(9, 0))) // the subnet says reception
	h.observe(t, Observation{At: at(9, 1), Kind: ObsAP, MAC: mac, AP: "ap-class-12", SSID: "School", APEvent: "associate"})
	h.observe(t, Observation{At: at(9, 2), Kind: ObsAP, MAC: mac, AP: "ap-class-12", SSID: "School", APEvent: "roam"})
	ev := h.nextEvent(t)
	if ev.Type != "alert.opened" || ev.Alert.Zone != "teaching" || !ev.Alert.OpenedAt.Equal(at(9, 2)) {
		t.Fatalf("got %+v, want an alert in teaching once the dwell time has passed (09:02)", ev)
	}
	if d := h.e.Devices()[0]; d.AP != "ap-class-12" || d.SSID != "School" {
		t.Fatalf("device AP %q SSID %q", d.AP, d.SSID)
	}
	h.observe(t, Observation{At: at(9, 10), Kind: ObsAP, MAC: mac, AP: "ap-class-12", APEvent: "disassociate"})
	h.observe(t, phoneDHCP(mac, "10.30.1.7", at(9, 12)))
	if ev := h.nextEvent(t); ev.Type != "alert.closed" {
		t.Fatalf("after disassociating: %+v, want the episode closed (back to the subnet's zone)", ev)
	}
}

// An iPhone rotates its private MAC: the new MAC is the same device, its open
// alert episode continues (no second alert), and the old MAC is listed as linked.
func TestPrivateMACRotationFollowsDevice(t *testing.T) {
	store := newMemStore()
	h := start(t, store, func(o *Options) {
		o.FollowPacketTime = true
		o.Classify = func(s fingerprint.Signals) fingerprint.Profile {
			return fingerprint.Profile{Kind: "phone", OS: "ios", Confidence: 0.9, RandomizedMAC: true}
		}
	})
	iphone := func(mac string, t0 time.Time) Observation {
		return Observation{At: t0, Kind: ObsDHCP, MAC: mac, VLAN: 30, IP: netip.MustParseAddr("10.30.10.8"),
			DHCP: &fingerprint.DHCP{MessageType: 3, Hostname: "Ellies-iPhone", ParamList: []uint8{1, 121, 3, 6, 15, 108, 114, 119, 252},
				Options: []uint8{53, 55, 57, 61, 50, 51, 12}, ClientID: append([]byte{1}, macBytes(mac)...)}}
	}
	h.observe(t, iphone("da:00:00:00:00:01", at(9, 0)))
	first := h.nextEvent(t)
	if first.Type != "alert.opened" {
		t.Fatalf("first event %+v", first)
	}
	h.observe(t, iphone("6e:00:00:00:00:02", at(9, 1))) // the same phone rejoining with its next private MAC
	devs := h.e.Devices()
	if len(devs) != 1 {
		t.Fatalf("%d devices after a MAC rotation, want 1 (linked)", len(devs))
	}
	d := devs[0]
	if d.MAC != "6e:00:00:00:00:02" || len(d.LinkedMACs) != 1 || d.LinkedMACs[0] != "da:00:00:00:00:01" || d.LinkConfidence < fingerprint.LinkThreshold {
		t.Fatalf("device %s linked %v (%.2f), want the old MAC linked", d.MAC, d.LinkedMACs, d.LinkConfidence)
	}
	if !d.FirstSeen.Equal(at(9, 0)) {
		t.Errorf("first seen %v, want the old MAC's 09:00", d.FirstSeen)
	}
	if alerts, _ := store.snapshot(); len(alerts) != 1 {
		t.Fatalf("%d alerts, want the one episode continued", len(alerts))
	}
	// The retired MAC shows up again: the two MACs are present at the same time,
	// so they are two devices and the link is undone.
	h.observe(t, iphone("da:00:00:00:00:01", at(9, 6)))
	devs = h.e.Devices()
	if len(devs) != 2 {
		t.Fatalf("%d devices, want 2: a device present at the same time is not the same device", len(devs))
	}
	for _, d := range devs {
		if len(d.LinkedMACs) != 0 {
			t.Errorf("%s still lists linked MACs %v after both were seen together", d.MAC, d.LinkedMACs)
		}
		if d.MAC == "da:00:00:00:00:01" && (d.DHCP == nil || !d.FirstSeen.Equal(at(9, 0))) {
			t.Errorf("the restored device lost what it had learnt: %+v", d)
		}
	}
}

func macBytes(mac string) []byte {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return hw
}
