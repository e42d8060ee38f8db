package firewall

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ipv4OnlySchool: the school's rules are IPv4 only; with iptables-nft there is no
// ip6 filter table until we write one.
func ipv4OnlySchool() *fakeSystem {
	fs := fakeWithAdmin(false)
	fs.fam[v6] = fakeTable{chains: map[string][]string{}, absent: true}
	return fs
}

// TestFlushRemovesTheTableItCreated: the filter table we created (ChainMarker) goes
// with Flush — also a Flush by another process, and after random failed Sets — unless
// someone put a rule in it meanwhile. A table that existed is never removed.
func TestFlushRemovesTheTableItCreated(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		fs := ipv4OnlySchool()
		o := Options{}
		if r.IntN(2) == 0 {
			o.Interfaces = []string{"br-pupil"}
		}
		b := backend(t, fs, o)
		var last Desired
		for range 1 + r.IntN(5) {
			last = randomDesired(r)
			fs.failAt = func(int) bool { return r.IntN(5) == 0 }
			_ = b.Set(ctx, last)
		}
		fs.failAt = nil
		if err := b.Set(ctx, last); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if _, ok := fs.fam[v4].chains[ChainMarker]; ok {
			t.Fatalf("seed %d: marker in the school's IPv4 table", seed)
		}
		if _, ok := fs.fam[v6].chains[ChainMarker]; !fs.fam[v6].absent && !ok && len(fs.fam[v6].chains) > 0 {
			t.Fatalf("seed %d: IPv6 table created without the marker: %+v", seed, fs.fam[v6])
		}
		if err := backend(t, fs, o).Flush(ctx); err != nil { // another process
			t.Fatalf("seed %d: flush: %v", seed, err)
		}
		if got, want := kernelSnapshot(fs), kernelSnapshot(ipv4OnlySchool()); got != want {
			t.Fatalf("seed %d: flush left\n%s\nwant\n%s", seed, got, want)
		}
	}

	// A rule of the school's in the table we created: the table stays, with it.
	fs := ipv4OnlySchool()
	b := backend(t, fs, Options{Interfaces: []string{"br-pupil"}})
	if err := b.Set(ctx, Desired{}); err != nil {
		t.Fatal(err)
	}
	if rep := b.LastReport(); rep.IPTablesRestores != 2 {
		t.Fatalf("install: %+v", rep)
	}
	if err := b.Set(ctx, Desired{}); err != nil || b.LastReport().IPTablesRestores+b.LastReport().IPSetRestores != 0 {
		t.Fatalf("second Set wrote: %v %+v", err, b.LastReport())
	}
	fs.fam[v6].forward = append(fs.fam[v6].forward, "-A FORWARD -s 2001:db8:9::/48 -j ACCEPT")
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if fs.fam[v6].absent || !slices.Equal(fs.fam[v6].forward, []string{"-A FORWARD -s 2001:db8:9::/48 -j ACCEPT"}) ||
		len(fs.fam[v6].chains) != 0 {
		t.Errorf("want the table kept with the school's rule and nothing of ours: %+v", fs.fam[v6])
	}
}

// TestMarkerInScripts pins the batches: the marker is declared with our chains when
// the table was missing, and deleted by Flush.
func TestMarkerInScripts(t *testing.T) {
	s := chainScript(famRules{noTable: true}, map[string][]string{ChainForward: nil, ChainDrop: {"-A " + ChainDrop + " -j DROP"}})
	want := fmt.Sprintf("*filter\n:%s - [0:0]\n:%s - [0:0]\n:%s - [0:0]\n", ChainMarker, ChainForward, ChainDrop)
	if !strings.HasPrefix(s, want) {
		t.Errorf("install batch:\n%s\nwant it to start with\n%s", s, want)
	}
	f := flushScript(famRules{marker: true, chains: map[string][]string{ChainForward: nil, ChainDrop: nil}})
	if !strings.Contains(f, "-X "+ChainMarker+"\n") {
		t.Errorf("flush batch lacks the marker's deletion:\n%s", f)
	}
}
