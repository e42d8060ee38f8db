// Package daemon is HallMonitor's core: the single writer loop that turns
// observations into devices, zones, policy decisions and alert episodes.
//
// It imports rules/ (pure logic) and declares the small interfaces it needs from
// the world (AlertStore, Clock, Source, Policy); cmd/ wires adapters into it.
// daemon never imports adapters/.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// Policy is what the engine needs of a loaded policy (rules/policy.*Policy).
type Policy interface {
	Evaluate(in policy.Input, at time.Time) policy.Decision
	ZoneForSighting(s policy.Sighting) (name, zoneType string)
	RoleForNetwork(vlan uint16, ip netip.Addr) string
	Registered(mac string) (policy.RegisterEntry, bool)
	NextEdge(after time.Time) time.Time
}

// Source produces observations until its input ends or ctx is cancelled.
type Source interface {
	Run(ctx context.Context, out chan<- Observation) error
}

// Classifier turns a device's signals into a profile (rules/fingerprint.Classify).
type Classifier func(fingerprint.Signals) fingerprint.Profile

// Refiner re-classifies a device given its previous profile, with hysteresis.
type Refiner func(prev fingerprint.Profile, s fingerprint.Signals) fingerprint.Profile

// Defaults.
const (
	DefaultMaxDevices  = 20000
	DefaultAbsentAfter = 2 * time.Hour
	// DefaultEnforceResync: the firewall is re-checked against the desired blocks
	// (and repaired) at least this often.
	DefaultEnforceResync = time.Minute
	// DefaultFloodRate is the number of never-seen MACs per minute on one VLAN above
	// which DHCP DISCOVERs from new MACs are aggregated into one flood episode
	// instead of becoming devices (a DHCP starvation tool; a real class arriving
	// at 08:25 brings perhaps 30 new devices a minute).
	DefaultFloodRate = 300
	// DefaultBypassFresh: a device seen going around the filter counts as
	// unfiltered for this long after the last sighting.
	DefaultBypassFresh = 30 * time.Minute
	maxDNSNames        = 32
)

// Options configure an Engine.
type Options struct {
	SiteID   string
	Policy   Policy
	Classify Classifier
	Refine   Refiner // optional: hysteresis
	Store    AlertStore
	Clock    Clock // nil → SystemClock
	Logger   *zap.Logger
	Metrics  *Metrics
	Sources  map[string]Source // name → source

	// StopWhenSourcesDone ends Run once every source has returned (replay).
	StopWhenSourcesDone bool
	// MaxDevices caps live state (a flood of random MACs must not grow memory
	// without bound); the least recently seen device without an open alert goes.
	MaxDevices int
	// AbsentAfter is the silence after which a device is taken to have left its zone.
	AbsentAfter time.Duration
	// EnforceResync is how often the last desired set of blocks is applied again,
	// unchanged, so the firewall repairs what was changed behind its back
	// (default DefaultEnforceResync; negative: never).
	EnforceResync time.Duration
	// FollowPacketTime makes observation timestamps the engine's clock (replay of a
	// capture): schedule edges between two packets are applied when the later packet
	// arrives, and no wall-clock timer runs.
	FollowPacketTime bool
	// FloodRate overrides DefaultFloodRate (new MACs per minute per VLAN).
	FloodRate int
	// Dwell is how long a device must stay in a new zone before the move takes
	// effect (default DefaultDwell), so a phone flickering between two access
	// points does not open and close alerts. A device's first zone is immediate.
	Dwell time.Duration
	// History, when set, receives every closed stay in a zone (zone history).
	History ZoneHistory
	// APFresh is how long an AP association places a device (default DefaultAPFresh).
	APFresh time.Duration
	// BypassFresh is how long a filter-bypass observation marks a device as
	// unfiltered (default DefaultBypassFresh).
	BypassFresh time.Duration
	// RoleForIdentity maps an 802.1X identity (RADIUS User-Name) to a role, "" if none.
	RoleForIdentity func(identity string) string
	// Enforcer receives the desired set of blocks (nil: blocks are only decisions).
	Enforcer Enforcer
	// Safety says what is never blocked, whatever a rule says.
	Safety Safety
	// BlockStore, when set, keeps the desired blocks across restarts.
	BlockStore BlockStore
}

// Engine owns the live state. Only its loop goroutine writes; everyone else reads
// memdb snapshots or goes through its methods.
type atomicInt = atomic.Int64

// Engine owns the live state.
type Engine struct {
	o       Options
	log     *zap.Logger
	m       *Metrics
	db      *memdb.MemDB
	broker  *broker
	obs     chan Observation
	reloads chan Policy

	// Owned by the loop goroutine.
	policy      Policy
	episodes    map[string]*Alert     // episodeKey → open alert episode
	pending     map[string]bool       // MACs with a zone change waiting for its dwell time
	linkedTo    map[string]linkRecord // retired private MAC → its record and the MAC that took it over
	apart       map[string]bool       // "a|b": seen at the same time, never to be linked
	blocks      map[string]Block      // MAC → the block its decision asks for (desired firewall state)
	blocksDirty bool
	restored    map[string]time.Time // blocks carried over from before a restart, not yet re-decided
	desired     chan []Block         // newest desired set, for the reconciler (capacity 1)
	floods      map[uint16]*flood    // per VLAN: new-MAC rate and any open flood episode
	fleetAt     time.Time            // every device has been evaluated at this instant
	latest      time.Time            // newest observation time seen

	nDevices   atomicInt     // devices in live state (written by the loop)
	ready      chan struct{} // closed once Run has resumed its episodes and runs
	lastObs    atomic.Int64  // unix nanos (wall clock) of the last observation applied
	started    atomic.Bool
	stopped    atomic.Bool
	storeMu    sync.Mutex // serialises alert state changes from the dashboard
	sourceErrs sync.Map   // source name → last error string
}

// New builds an engine. Call Run to start it.
func New(o Options) (*Engine, error) {
	if o.Policy == nil {
		return nil, errors.New("daemon: no policy")
	}
	if o.Classify == nil {
		return nil, errors.New("daemon: no classifier")
	}
	if o.Store == nil {
		return nil, errors.New("daemon: no alert store")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.MaxDevices <= 0 {
		o.MaxDevices = DefaultMaxDevices
	}
	if o.AbsentAfter <= 0 {
		o.AbsentAfter = DefaultAbsentAfter
	}
	if o.EnforceResync == 0 {
		o.EnforceResync = DefaultEnforceResync
	}
	if o.BypassFresh <= 0 {
		o.BypassFresh = DefaultBypassFresh
	}
	if o.APFresh <= 0 {
		o.APFresh = DefaultAPFresh
	}
	switch {
	case o.Dwell == 0:
		o.Dwell = DefaultDwell
	case o.Dwell < 0: // explicitly none
		o.Dwell = 0
	}
	if o.FloodRate <= 0 {
		o.FloodRate = DefaultFloodRate
	}
	db, err := newStateDB()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		o:        o,
		log:      o.Logger,
		m:        o.Metrics,
		db:       db,
		obs:      make(chan Observation, 4096),
		reloads:  make(chan Policy),
		policy:   o.Policy,
		episodes: map[string]*Alert{},
		ready:    make(chan struct{}),
		floods:   map[uint16]*flood{},
		pending:  map[string]bool{},
		linkedTo: map[string]linkRecord{},
		apart:    map[string]bool{},
		blocks:   map[string]Block{},
		restored: map[string]time.Time{},
		desired:  make(chan []Block, 1),
	}
	e.broker = newBroker(e.m.EventsDropped.Inc)
	return e, nil
}

// Ready is closed once the engine runs (its open episodes resumed): what a
// service manager's READY should wait for.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.m }

// Run starts the sources and the loop, and returns when ctx is cancelled (or, with
// StopWhenSourcesDone, when every source has finished and its observations are applied).
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("daemon: engine already running")
	}
	defer e.stopped.Store(true)
	if err := e.resumeEpisodes(ctx); err != nil {
		return err
	}
	if err := e.restoreBlocks(ctx, e.o.Clock.Now()); err != nil {
		return fmt.Errorf("daemon: restore blocks: %w", err)
	}
	close(e.ready)
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()

	var loop errgroup.Group
	loop.Go(func() error { return e.loop(loopCtx) })
	if e.o.Enforcer != nil {
		loop.Go(func() error { return e.reconcile(loopCtx) })
	}

	srcs, srcCtx := errgroup.WithContext(ctx)
	for name, src := range e.o.Sources {
		srcs.Go(func() error {
			err := src.Run(srcCtx, e.obs)
			if err != nil && !errors.Is(err, context.Canceled) {
				e.sourceErrs.Store(name, err.Error())
				return fmt.Errorf("source %s: %w", name, err)
			}
			e.log.Info("source finished", zap.String("source", name))
			return nil
		})
	}
	srcErr := srcs.Wait()
	if srcErr != nil {
		e.log.Error("source failed", zap.Error(srcErr))
	}
	if e.o.StopWhenSourcesDone || srcErr != nil {
		// Drain what the sources produced, then stop the loop.
		e.drain(ctx)
		stopLoop()
	} else {
		<-ctx.Done()
	}
	if err := loop.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return srcErr
}

// drain waits until the observation queue is empty (bounded by ctx).
func (e *Engine) drain(ctx context.Context) {
	done := make(chan struct{})
	select {
	case e.obs <- Observation{Kind: obsBarrier, Hostname: "", DNSName: "", MAC: "", DHCP: nil, barrier: done}:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// obsBarrier is an internal observation kind used to flush the queue.
const obsBarrier ObsKind = 255

// Reload swaps in a new policy; every device is re-evaluated against it. It returns
// once the loop has taken it (or ctx ends).
func (e *Engine) Reload(ctx context.Context, p Policy) error {
	select {
	case e.reloads <- p:
		e.m.Reloads.WithLabelValues("ok").Inc()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) loop(ctx context.Context) error {
	housekeeping := time.NewTicker(time.Second)
	defer housekeeping.Stop()
	if !e.o.FollowPacketTime {
		e.fleetAt = e.o.Clock.Now()
	}
	for {
		e.publishBlocks()
		var edgeAt time.Time
		var edgeC <-chan time.Time
		stopEdge := func() bool { return false }
		if !e.o.FollowPacketTime {
			// From the last fleet evaluation, not from now: an edge that passed while
			// the loop was busy fires at once instead of being skipped.
			edgeAt = e.policy.NextEdge(e.fleetAt)
			if !edgeAt.IsZero() {
				edgeC, stopEdge = e.o.Clock.Timer(edgeAt)
			}
		}
		select {
		case <-ctx.Done():
			stopEdge()
			return ctx.Err()
		case o := <-e.obs:
			stopEdge()
			if o.Kind == obsBarrier {
				close(o.barrier)
				continue
			}
			e.apply(ctx, o)
		case p := <-e.reloads:
			stopEdge()
			e.policy = p
			e.log.Info("policy reloaded; re-evaluating every device")
			e.reevaluateAll(ctx, e.now())
		case <-edgeC:
			e.m.Reevaluations.Inc()
			e.log.Info("schedule edge: re-evaluating every device", zap.Time("at", edgeAt))
			e.reevaluateAll(ctx, edgeAt)
			e.fleetAt = edgeAt
		case <-housekeeping.C:
			stopEdge()
			e.settle(ctx, e.now())
			e.ageOut(ctx, e.now())
			e.expireRestored(e.now())
		}
	}
}

// now is the engine's present: the clock, or the newest packet time on replay.
func (e *Engine) now() time.Time {
	if e.o.FollowPacketTime {
		return e.latest
	}
	return e.o.Clock.Now()
}

// catchUpEdges applies schedule edges that passed before t and that no timer
// handled (replay; or a loop busy when the timer fired). Bounded per call.
func (e *Engine) catchUpEdges(ctx context.Context, t time.Time) {
	if e.fleetAt.IsZero() {
		e.fleetAt = t
		return
	}
	for range 64 {
		edge := e.policy.NextEdge(e.fleetAt)
		if edge.IsZero() || edge.After(t) {
			return
		}
		e.m.Reevaluations.Inc()
		e.reevaluateAll(ctx, edge)
		e.fleetAt = edge
	}
	e.fleetAt = t
}

// Observe hands one observation to the loop (for sources that are not Source).
func (e *Engine) Observe(ctx context.Context, o Observation) error {
	select {
	case e.obs <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) apply(ctx context.Context, o Observation) {
	start := time.Now()
	defer func() { e.m.LoopSeconds.Observe(time.Since(start).Seconds()) }()
	e.lastObs.Store(time.Now().UnixNano())
	e.m.Observations.WithLabelValues(o.Kind.String()).Inc()
	if o.MAC == "" {
		return
	}
	if o.At.After(e.latest) {
		e.latest = o.At
	}
	e.catchUpEdges(ctx, o.At)
	if _, retired := e.linkedTo[o.MAC]; retired {
		e.unlinkIfPresent(o.MAC, o.At)
	}
	if len(e.pending) > 0 {
		e.settle(ctx, o.At) // moves whose dwell passed before this packet (replay has no ticker time)
	}
	txn := e.db.Txn(false)
	raw, _ := txn.First(tableDevices, "id", o.MAC)
	txn.Abort()
	var d Device
	fresh := raw == nil
	if fresh {
		if e.floodAbsorbs(ctx, o) {
			return
		}
		if e.nDevices.Load() >= int64(e.o.MaxDevices) {
			e.evict()
		}
		d = Device{MAC: o.MAC, FirstSeen: o.At, Kind: "unknown", OS: "unknown"}
	} else {
		d = cloneDevice(raw.(*Device))
	}
	if o.At.After(d.LastSeen) {
		d.LastSeen = o.At
	}
	if !(o.Kind == ObsDHCP && o.DHCP != nil && o.DHCP.MessageType == 1) {
		d.joined = true
	}
	signalsChanged := fresh
	evidenceReplaced := false
	locationChanged := fresh
	if o.VLAN != 0 && o.VLAN != d.VLAN {
		d.VLAN = o.VLAN
		locationChanged = true
	}
	if o.IP.IsValid() && o.IP.Is4() && !o.IP.IsUnspecified() && o.IP.String() != d.IP {
		d.IP = o.IP.String()
		locationChanged = true
	}
	if o.TTL != 0 && o.TTL != d.TTL {
		d.TTL = o.TTL
		signalsChanged = true
	}
	switch o.Kind {
	case ObsDHCP:
		if o.DHCP != nil && isClientMessage(o.DHCP.MessageType) {
			if d.DHCP == nil && fingerprint.IsRandomizedMAC(d.MAC) {
				// A private MAC's first DHCP message: perhaps a known device that
				// rotated its address. Alerts and history follow the device.
				e.tryLink(ctx, &d, o)
			}
			switch {
			case d.DHCP == nil:
				signalsChanged = true
			case !sameDHCPFingerprint(d.DHCP, o.DHCP):
				// Evidence replaced, not added (a renewal without a host name, a
				// REQUEST after a DISCOVER): hysteresis keeps weak readings from flapping.
				signalsChanged, evidenceReplaced = true, true
			}
			d.DHCP = o.DHCP
			if h := o.DHCP.Hostname; h != "" && h != d.Hostname {
				d.Hostname = h
			}
		}
	case ObsDNS:
		if o.DNSName != "" && !slices.Contains(d.DNSNames, o.DNSName) {
			d.DNSNames = append(d.DNSNames, o.DNSName)
			if len(d.DNSNames) > maxDNSNames {
				d.DNSNames = d.DNSNames[len(d.DNSNames)-maxDNSNames:]
				evidenceReplaced = true
			}
			signalsChanged = true
		}
	case ObsIPv6:
		// IPv6 tied to the MAC (DHCPv6, ND): blocks must cover IPv6 too.
		if a := o.IP; a.Is6() && !a.IsUnspecified() && !slices.Contains(d.IPv6, a.String()) {
			d.IPv6 = append(d.IPv6, a.String())
			if len(d.IPv6) > 4 {
				d.IPv6 = d.IPv6[len(d.IPv6)-4:]
			}
		}
	case ObsBypass:
		// Going around the filter (OSS-2.1): a fact the policy can act on for a while.
		d.bypassSeen = o.At
		if !d.Unfiltered {
			d.Unfiltered = true
			e.log.Warn("filter bypass seen", zap.String("what", o.Bypass), zap.Uint16("vlan", o.VLAN))
		}
		if o.Bypass != "" && !slices.Contains(d.Bypass, o.Bypass) {
			d.Bypass = append(d.Bypass, o.Bypass)
			if len(d.Bypass) > 8 {
				d.Bypass = d.Bypass[len(d.Bypass)-8:]
			}
		}
	case ObsAP, ObsRADIUS:
		if e.associate(&d, o) {
			locationChanged = true
		}
	}
	if o.DHCP != nil && (len(o.DHCP.CircuitID) > 0 || len(o.DHCP.RemoteID) > 0) {
		// Relayed DHCP: option 82 says which switch port or AP the request came through.
		if c, r := string(o.DHCP.CircuitID), string(o.DHCP.RemoteID); c != d.CircuitID || r != d.RemoteID {
			d.CircuitID, d.RemoteID = c, r
			locationChanged = true
		}
	}
	if o.Hostname != "" && d.Hostname == "" {
		d.Hostname = o.Hostname
		signalsChanged = true
	}
	if signalsChanged {
		e.classify(&d, evidenceReplaced)
	}
	if locationChanged || signalsChanged || d.Zone == "" {
		e.locate(ctx, &d, o.At)
	}
	e.decide(ctx, &d, o.At)
	e.put(&d)
}

func isClientMessage(t uint8) bool {
	switch t {
	case 1, 3, 4, 7, 8: // DISCOVER, REQUEST, DECLINE, RELEASE, INFORM
		return true
	}
	return false
}

// classify re-reads the device's evidence. While evidence only accumulates the
// newest reading stands (it rests on strictly more facts); when evidence was
// replaced (a different DHCP message, DNS names aged out), Refine's hysteresis
// keeps a weak contrary reading from flipping the device.
func (e *Engine) classify(d *Device, replaced bool) {
	s := fingerprint.Signals{MAC: d.MAC, DHCP: d.DHCP, DNSNames: d.DNSNames, TTL: d.TTL, Hostname: d.Hostname}
	var p fingerprint.Profile
	if replaced && e.o.Refine != nil && d.fp.Kind != "" {
		p = e.o.Refine(d.fp, s) // hysteresis: weak contrary readings do not flip the device
	} else {
		p = e.o.Classify(s)
	}
	d.fp = p
	e.m.Classified.Inc()
	d.Kind, d.OS, d.Vendor = orUnknown(p.Kind), orUnknown(p.OS), p.Vendor
	d.Confidence, d.RandomizedMAC, d.Evidence = p.Confidence, p.RandomizedMAC, p.Evidence
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// locate resolves zone and role from the policy and the register.
func (e *Engine) locate(ctx context.Context, d *Device, at time.Time) {
	var ip netip.Addr
	if d.IP != "" {
		ip, _ = netip.ParseAddr(d.IP)
	}
	// Precedence: a fresh AP association, then option 82, then VLAN/subnet — the
	// policy's zone matchers check each criterion the sighting carries.
	sight := policy.Sighting{VLAN: d.VLAN, IP: ip, CircuitID: d.CircuitID, RemoteID: d.RemoteID}
	if e.apFresh(d, at) {
		sight.AP, sight.APMAC, sight.SSID = d.AP, d.APMAC, d.SSID
	}
	zone, zoneType := e.policy.ZoneForSighting(sight)
	e.place(ctx, d, zone, zoneType, at)
	if reg, ok := e.policy.Registered(d.MAC); ok {
		d.Managed = reg.Managed
		d.Role = reg.Role
		if reg.Kind != "" && (d.Kind == "" || d.Kind == "unknown") {
			// The register knows what the school bought; the fingerprint could not tell.
			d.Kind = reg.Kind
			d.Evidence = append(slices.DeleteFunc(d.Evidence, func(ev fingerprint.Evidence) bool { return ev.Signal == "register" }),
				fingerprint.Evidence{Signal: "register", Value: reg.AssetTag, Suggests: "kind=" + reg.Kind, Weight: 1})
		}
	} else {
		d.Managed = false
		d.Role = ""
	}
	if d.Role == "" && d.Identity != "" && e.o.RoleForIdentity != nil {
		d.Role = e.o.RoleForIdentity(d.Identity) // a staff member's own phone on the staff SSID
	}
	if d.Role == "" {
		d.Role = e.policy.RoleForNetwork(d.VLAN, ip)
	}
}

// decide evaluates the policy and opens or closes the device's alert episode.
func (e *Engine) decide(ctx context.Context, d *Device, at time.Time) {
	var dec policy.Decision
	if d.Zone == "" {
		// Prefer no decision to a wrong one: a device not yet located (a DHCP
		// DISCOVER before its lease, or a network no zone describes) is not judged.
		dec = policy.Decision{Action: policy.ActionAllow, Severity: "info", Rule: "unlocated",
			Reason: fmt.Sprintf("No zone matches this device's network (VLAN %d, address %q): no decision until it is located.", d.VLAN, d.IP)}
	} else if !d.joined {
		// Only DHCP DISCOVERs so far: not on the network yet (a phone joining sends
		// its REQUEST within milliseconds; a starvation tool never does).
		dec = policy.Decision{Action: policy.ActionAllow, Severity: "info", Rule: "joining",
			Reason: "Only DHCP DISCOVERs seen: the device has not joined the network yet."}
	} else {
		dec = e.policy.Evaluate(policy.Input{
			MAC: d.MAC, Zone: d.Zone, ZoneType: d.ZoneType, Role: d.Role, Kind: d.Kind, Managed: d.Managed,
			Unfiltered: d.Unfiltered,
		}, at)
	}
	if dec.Action != d.Decision.Action || dec.Rule != d.Decision.Rule {
		e.m.Decisions.WithLabelValues(dec.Action).Inc()
	}
	d.Decision = dec
	e.noteBlock(d)
	open := e.episodes[policyKey(d.MAC)]
	if dec.Breach() {
		if open != nil && open.Rule == dec.Rule && open.Zone == d.Zone {
			return // same episode goes on
		}
		if open != nil {
			e.closeEpisode(ctx, open, at)
		}
		e.openEpisode(ctx, d, dec, at)
		return
	}
	if open != nil {
		e.closeEpisode(ctx, open, at)
	}
}

func (e *Engine) openEpisode(ctx context.Context, d *Device, dec policy.Decision, at time.Time) {
	e.open(ctx, policyKey(d.MAC), Alert{
		Severity: dec.Severity,
		Action:   dec.Action,
		Device:   AlertDevice{MAC: d.MAC, Kind: d.Kind, OS: d.OS, Hostname: d.Hostname, Role: d.Role},
		Zone:     d.Zone,
		Rule:     dec.Rule,
		Clauses:  slices.Clone(dec.Clauses),
		Reason:   dec.Reason,
	}, at)
}

// open makes a new alert episode durable and then tells subscribers. Durable
// first: nobody hears of an alert the store has not committed. On a store error
// the episode stays unopened and is retried at the next evaluation.
func (e *Engine) open(ctx context.Context, key string, a Alert, at time.Time) *Alert {
	a.ID = ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	a.SiteID, a.State, a.OpenedAt = e.o.SiteID, AlertNew, at.UTC()
	if err := e.o.Store.InsertAlert(ctx, a); err != nil {
		e.m.StoreErrors.Inc()
		e.log.Error("alert not stored; will retry", zap.String("rule", a.Rule), zap.String("zone", a.Zone), zap.Error(err)) // MACs only at debug
		e.log.Debug("alert not stored; will retry", zap.String("mac", a.Device.MAC), zap.String("rule", a.Rule))
		return nil
	}
	e.episodes[key] = &a
	e.m.AlertsOpened.WithLabelValues(a.Severity).Inc()
	e.log.Warn("alert opened",
		zap.String("alert", a.ID), zap.String("severity", a.Severity), zap.String("rule", a.Rule),
		zap.Strings("clauses", a.Clauses), zap.String("zone", a.Zone), zap.String("kind", a.Device.Kind),
		zap.String("role", a.Device.Role), zap.String("reason", a.Reason))
	e.broker.publish(Event{Type: "alert.opened", Alert: &a, MAC: a.Device.MAC})
	return &a
}

func (e *Engine) closeEpisode(ctx context.Context, a *Alert, at time.Time) {
	if err := e.o.Store.CloseAlert(ctx, a.ID, at.UTC()); err != nil {
		e.m.StoreErrors.Inc()
		e.log.Error("alert close not stored; will retry", zap.String("alert", a.ID), zap.Error(err))
		return
	}
	if k := episodeKey(*a); e.episodes[k] == a {
		delete(e.episodes, k)
	} else { // moved to another key (a device that rotated its MAC)
		for k, v := range e.episodes {
			if v == a {
				delete(e.episodes, k)
			}
		}
	}
	closed := *a
	t := at.UTC()
	closed.ClosedAt = &t
	e.m.AlertsClosed.Inc()
	e.log.Info("alert closed", zap.String("alert", a.ID), zap.String("rule", a.Rule))
	e.broker.publish(Event{Type: "alert.closed", Alert: &closed, MAC: a.Device.MAC})
}

// resumeEpisodes reloads episodes left open by a previous run, so a restart does
// not open a duplicate alert for a breach that is still going on.
func (e *Engine) resumeEpisodes(ctx context.Context) error {
	open, err := e.o.Store.OpenAlerts(ctx)
	if err != nil {
		return fmt.Errorf("daemon: resume open alerts: %w", err)
	}
	for i := range open {
		a := open[i]
		e.episodes[episodeKey(a)] = &a
		if a.Rule == ruleFlood {
			var vlan uint16
			_, _ = fmt.Sscanf(a.Zone, "vlan-%d", &vlan)
			e.floods[vlan] = &flood{window: a.OpenedAt, alert: e.episodes[episodeKey(a)]}
		}
	}
	if len(open) > 0 {
		e.log.Info("resumed open alert episodes", zap.Int("count", len(open)))
	}
	return nil
}

func (e *Engine) reevaluateAll(ctx context.Context, at time.Time) {
	for _, d := range e.snapshot() {
		dc := cloneDevice(d)
		e.locate(ctx, &dc, at)
		e.decide(ctx, &dc, at)
		e.put(&dc)
	}
}

// ageOut takes devices silent for longer than AbsentAfter out of their zone (their
// episode closes); they stay listed until evicted.
func (e *Engine) ageOut(ctx context.Context, now time.Time) {
	for _, d := range e.snapshot() {
		if d.Unfiltered && now.Sub(d.bypassSeen) > e.o.BypassFresh {
			dc := cloneDevice(d)
			dc.Unfiltered = false
			e.decide(ctx, &dc, now)
			e.put(&dc)
			d = &dc
		}
		if d.Zone == "" || now.Sub(d.LastSeen) < e.o.AbsentAfter {
			continue
		}
		dc := cloneDevice(d)
		e.leave(ctx, &dc, dc.LastSeen)
		if a := e.episodes[policyKey(dc.MAC)]; a != nil {
			e.closeEpisode(ctx, a, now)
		}
		dc.Decision = policy.Decision{Action: policy.ActionAllow, Rule: "absent", Reason: "Device not seen for " + e.o.AbsentAfter.String() + "; taken to have left."}
		e.noteBlock(&dc)
		e.put(&dc)
	}
}

func (e *Engine) put(d *Device) {
	txn := e.db.Txn(true)
	if existing, _ := txn.First(tableDevices, "id", d.MAC); existing == nil {
		e.nDevices.Add(1)
	}
	if err := txn.Insert(tableDevices, d); err != nil {
		txn.Abort()
		e.log.Error("live state insert", zap.Error(err)) // MACs only at debug
		e.log.Debug("live state insert", zap.String("mac", d.MAC))
		return
	}
	txn.Commit()
	e.m.Devices.Set(float64(e.nDevices.Load()))
}

// evict removes the least recently seen 5 % of devices that have no open alert,
// in one transaction, so a flood of new MACs costs one scan per 5 % and not one
// per device.
func (e *Engine) evict() {
	snap := e.snapshot()
	slices.SortFunc(snap, func(a, b *Device) int { return a.LastSeen.Compare(b.LastSeen) })
	want := max(1, e.o.MaxDevices/20)
	txn := e.db.Txn(true)
	n := 0
	for _, d := range snap {
		if n >= want {
			break
		}
		if e.episodes[policyKey(d.MAC)] != nil {
			continue
		}
		if err := txn.Delete(tableDevices, d); err != nil {
			continue
		}
		n++
	}
	txn.Commit()
	e.nDevices.Add(int64(-n))
	e.m.DevicesDropped.Add(float64(n))
	e.m.Devices.Set(float64(e.nDevices.Load()))
}

func (e *Engine) snapshot() []*Device {
	txn := e.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableDevices, "id")
	if err != nil {
		return nil
	}
	var out []*Device
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*Device))
	}
	return out
}

func cloneDevice(d *Device) Device {
	c := *d
	c.DNSNames = slices.Clone(d.DNSNames)
	c.LinkedMACs = slices.Clone(d.LinkedMACs)
	c.IPv6 = slices.Clone(d.IPv6)
	c.Bypass = slices.Clone(d.Bypass)
	c.Evidence = slices.Clone(d.Evidence)
	c.Decision.Clauses = slices.Clone(d.Decision.Clauses)
	return c
}

// Devices returns a consistent snapshot of every live device, sorted by MAC.
func (e *Engine) Devices() []Device {
	snap := e.snapshot()
	out := make([]Device, 0, len(snap))
	for _, d := range snap {
		out = append(out, cloneDevice(d))
	}
	return out
}

// DevicesInZone returns the devices currently in the named zone.
func (e *Engine) DevicesInZone(zone string) []Device {
	txn := e.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableDevices, "zone", zone)
	if err != nil {
		return nil
	}
	var out []Device
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, cloneDevice(obj.(*Device)))
	}
	return out
}

// DeviceByIP returns the device holding ip, if any.
func (e *Engine) DeviceByIP(ip string) (Device, bool) {
	txn := e.db.Txn(false)
	defer txn.Abort()
	obj, err := txn.First(tableDevices, "ip", ip)
	if err != nil || obj == nil {
		return Device{}, false
	}
	return cloneDevice(obj.(*Device)), true
}

// Subscribe returns live events committed after the call.
func (e *Engine) Subscribe() (<-chan Event, func()) { return e.broker.subscribe() }

// Health reports whether the engine runs, with details for /healthz.
func (e *Engine) Health() (bool, map[string]any) {
	detail := map[string]any{"devices": e.nDevices.Load()}
	if last := e.lastObs.Load(); last > 0 {
		detail["last_observation"] = time.Unix(0, last).UTC().Format(time.RFC3339)
	}
	errs := map[string]string{}
	e.sourceErrs.Range(func(k, v any) bool { errs[k.(string)] = v.(string); return true })
	if len(errs) > 0 {
		detail["source_errors"] = errs
	}
	running := e.started.Load() && !e.stopped.Load()
	detail["running"] = running
	return running, detail
}

// Outcome is a way an alert can be resolved (OSS-8), with its label for people.
type Outcome struct{ Value, Label string }

// Outcomes a DSL can record when resolving an alert.
var Outcomes = []Outcome{
	{"handed-in", "Device handed in"},
	{"exemption", "Permitted under an exemption"},
	{"emergency-call", "Emergency call (SPT-4)"},
	{"false-positive", "False positive"},
	{"other", "Other (see note)"},
}

// ValidOutcome reports whether v is one of Outcomes.
func ValidOutcome(v string) bool {
	return slices.ContainsFunc(Outcomes, func(o Outcome) bool { return o.Value == v })
}

// AcknowledgeAlert moves an alert from new to acknowledged, audited.
func (e *Engine) AcknowledgeAlert(ctx context.Context, id, actor, note string) (Alert, error) {
	return e.changeAlert(ctx, id, actor, "alert.acknowledge", func(a *Alert, now time.Time) error {
		if a.State != AlertNew {
			return fmt.Errorf("alert %s is %s, not new", id, a.State)
		}
		a.State, a.AcknowledgedBy, a.AcknowledgedAt = AlertAcknowledged, actor, &now
		if note != "" {
			a.Note = note
		}
		return nil
	})
}

// ResolveAlert resolves an alert with an outcome and a note, audited.
func (e *Engine) ResolveAlert(ctx context.Context, id, actor, outcome, note string) (Alert, error) {
	return e.changeAlert(ctx, id, actor, "alert.resolve", func(a *Alert, now time.Time) error {
		if a.State == AlertResolved {
			return fmt.Errorf("alert %s is already resolved", id)
		}
		if !ValidOutcome(outcome) {
			return fmt.Errorf("unknown outcome %q", outcome)
		}
		if a.State == AlertNew {
			a.AcknowledgedBy, a.AcknowledgedAt = actor, &now
		}
		a.State, a.ResolvedBy, a.ResolvedAt, a.Outcome, a.Note = AlertResolved, actor, &now, outcome, note
		return nil
	})
}

func (e *Engine) changeAlert(ctx context.Context, id, actor, action string, change func(*Alert, time.Time) error) (Alert, error) {
	e.storeMu.Lock()
	defer e.storeMu.Unlock()
	a, err := e.o.Store.GetAlert(ctx, id)
	if err != nil {
		return Alert{}, fmt.Errorf("daemon: %s: %w", action, err)
	}
	before, _ := json.Marshal(alertState(a))
	now := time.Now().UTC()
	if err := change(&a, now); err != nil {
		return Alert{}, fmt.Errorf("daemon: %s: %w", action, err)
	}
	after, _ := json.Marshal(alertState(a))
	if err := e.o.Store.UpdateAlertWithAudit(ctx, a, AuditEntry{
		SiteID: e.o.SiteID, At: now, Actor: actor, Action: action, Target: id, Before: string(before), After: string(after),
	}); err != nil {
		return Alert{}, fmt.Errorf("daemon: %s: %w", action, err)
	}
	e.log.Info("alert updated", zap.String("alert", id), zap.String("action", action), zap.String("actor", actor), zap.String("state", a.State))
	e.broker.publish(Event{Type: "alert.updated", Alert: &a, MAC: a.Device.MAC})
	return a, nil
}

func alertState(a Alert) map[string]any {
	return map[string]any{"state": a.State, "outcome": a.Outcome, "note": a.Note}
}

// sameDHCPFingerprint reports whether two client messages carry the same
// fingerprint (a renewal repeating itself adds nothing).
func sameDHCPFingerprint(a, b *fingerprint.DHCP) bool {
	return a.MessageType == b.MessageType && a.VendorClass == b.VendorClass && a.Hostname == b.Hostname &&
		a.MaxMsgSize == b.MaxMsgSize && a.UserClass == b.UserClass && a.FQDN == b.FQDN &&
		slices.Equal(a.Options, b.Options) && slices.Equal(a.ParamList, b.ParamList) && slices.Equal(a.ClientID, b.ClientID)
}
