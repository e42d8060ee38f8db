package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// blockPolicy turns the fake policy's alerts into blocks.
type blockPolicy struct{ fakePolicy }

func (p blockPolicy) Evaluate(in policy.Input, at time.Time) policy.Decision {
	d := p.fakePolicy.Evaluate(in, at)
	if d.Action == policy.ActionAlert {
		d.Action = policy.ActionBlock
	}
	return d
}

type fakeEnforcer struct {
	mu   sync.Mutex
	sets [][]Block
}

func (f *fakeEnforcer) Apply(_ context.Context, b []Block) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, b)
	return nil
}

func (f *fakeEnforcer) last(t *testing.T, n int) []Block {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		if len(f.sets) >= n {
			s := f.sets[len(f.sets)-1]
			f.mu.Unlock()
			return s
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the firewall got fewer than %d desired sets", n)
	return nil
}

// first waits for the first desired set that ok accepts and returns how many
// sets the firewall had got by then, and that set.
func (f *fakeEnforcer) first(t *testing.T, ok func([]Block) bool) (int, []Block) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for i, s := range f.sets {
			if ok(s) {
				f.mu.Unlock()
				return i + 1, s
			}
		}
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the firewall never got the desired set")
	return 0, nil
}

// Block decisions reach the firewall as one desired set; registered school
// devices, allowlisted MACs and unprotected VLANs are never blocked, whatever a
// rule says; leaving the breach removes the block.
func TestEnforcementDesiredSetAndSafety(t *testing.T) {
	fw := &fakeEnforcer{}
	h := start(t, newMemStore(), func(o *Options) {
		o.FollowPacketTime = true
		o.Policy = blockPolicy{fakePolicy{edge: at(8, 30)}}
		o.Enforcer = fw
		o.Safety = Safety{NeverBlock: map[string]bool{"da:a1:19:00:00:22": true}, ProtectedVLANs: map[uint16]bool{30: true}}
	})
	h.observe(t, phoneDHCP("da:a1:19:00:00:21", "10.30.10.21", at(9, 0))) // a pupil phone in teaching: block
	h.observe(t, phoneDHCP("da:a1:19:00:00:22", "10.30.10.22", at(9, 0))) // allowlisted
	h.observe(t, phoneDHCP("00:11:22:33:44:55", "10.30.10.23", at(9, 0))) // on the register (managed)
	set := fw.last(t, 1)
	if len(set) != 1 || set[0].MAC != "da:a1:19:00:00:21" || set[0].IPv4[0].String() != "10.30.10.21" || set[0].Rule != "pupil-device-beyond-reception" {
		t.Fatalf("desired set %+v, want only the unregistered, non-allowlisted phone", set)
	}
	for _, d := range h.e.Devices() {
		if d.MAC == "da:a1:19:00:00:22" && d.Decision.Action != "block" {
			t.Errorf("the allowlisted phone's decision is %q; the decision stays, only enforcement is withheld", d.Decision.Action)
		}
	}
	// Back to reception (after the dwell time): the block goes.
	h.observe(t, phoneDHCP("da:a1:19:00:00:21", "10.30.1.21", at(9, 10)))
	h.observe(t, phoneDHCP("da:a1:19:00:00:21", "10.30.1.21", at(9, 12)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if set := fw.last(t, 2); len(set) == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after leaving the breach the desired set is %+v, want empty", set)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type memBlocks struct {
	mu    sync.Mutex
	saved []Block
}

func (m *memBlocks) SaveBlocks(_ context.Context, b []Block) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saved = append([]Block(nil), b...)
	return nil
}

func (m *memBlocks) LoadBlocks(context.Context) ([]Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Block(nil), m.saved...), nil
}

// After a restart (even kill -9) the firewall keeps blocking: the saved desired
// set is applied before the devices are seen again; a block whose device never
// comes back goes after AbsentAfter.
func TestBlocksSurviveRestart(t *testing.T) {
	bs := &memBlocks{saved: []Block{
		{MAC: "da:a1:19:00:00:31", VLAN: 30, Rule: "pupil-device-beyond-reception"},
		{MAC: "da:a1:19:00:00:32", VLAN: 99, Rule: "old-rule"}, // VLAN no longer protected
	}}
	fw := &fakeEnforcer{}
	h := start(t, newMemStore(), func(o *Options) {
		o.Policy = blockPolicy{fakePolicy{edge: at(8, 30)}}
		o.Enforcer, o.BlockStore = fw, bs
		o.Safety = Safety{ProtectedVLANs: map[uint16]bool{30: true}}
		o.AbsentAfter = 30 * time.Minute
	})
	set := fw.last(t, 1)
	if len(set) != 1 || set[0].MAC != "da:a1:19:00:00:31" {
		t.Fatalf("first desired set after restart %+v, want the saved block on the protected VLAN", set)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		bs.mu.Lock()
		n := len(bs.saved)
		bs.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the applied set was not saved back (%d saved)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.clock.Set(at(8, 45)) // the device never comes back
	deadline = time.Now().Add(5 * time.Second)
	for {
		if set := fw.last(t, 2); len(set) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a restored block whose device never came back was not dropped after AbsentAfter")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingBlocks counts saves of the desired set.
type countingBlocks struct {
	memBlocks
	saves int
}

func (c *countingBlocks) SaveBlocks(ctx context.Context, b []Block) error {
	c.mu.Lock()
	c.saves++
	c.mu.Unlock()
	return c.memBlocks.SaveBlocks(ctx, b)
}

// The last desired set is applied again every EnforceResync, unchanged, so a
// firewall changed behind the daemon's back is repaired without waiting for the
// next decision; a resync saves nothing.
func TestEnforcementResync(t *testing.T) {
	fw := &fakeEnforcer{}
	blocks := &countingBlocks{}
	h := start(t, newMemStore(), func(o *Options) {
		o.FollowPacketTime = true
		o.Policy = blockPolicy{fakePolicy{edge: at(8, 30)}}
		o.Enforcer = fw
		o.BlockStore = blocks
		o.EnforceResync = 20 * time.Millisecond
		o.Safety = Safety{ProtectedVLANs: map[uint16]bool{30: true}}
	})
	h.observe(t, phoneDHCP("da:a1:19:00:00:31", "10.30.10.31", at(9, 0)))
	// A resync of the (empty) set restored at start may come before the
	// phone's decision: wait for the first set with the phone in it.
	n, first := fw.first(t, func(b []Block) bool { return len(b) > 0 })
	if len(first) != 1 {
		t.Fatalf("desired set %+v, want the phone", first)
	}
	again := fw.last(t, n+3) // three resyncs later
	if len(again) != 1 || again[0].MAC != first[0].MAC {
		t.Errorf("a resync applied %+v, want the same set %+v", again, first)
	}
	blocks.mu.Lock()
	saves := blocks.saves
	blocks.mu.Unlock()
	if saves > 2 { // the restore at start may save the (empty) set once, the phone's set once
		t.Errorf("the desired set was saved %d times: resyncs must not write to the store", saves)
	}
}
