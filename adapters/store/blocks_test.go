package store_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// The desired blocks survive a restart exactly, and saving replaces the set.
func TestBlocksSurviveReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	want := []daemon.Block{
		{MAC: "da:a1:19:00:00:01", VLAN: 30, IPv4: []netip.Addr{netip.MustParseAddr("10.30.10.7")},
			IPv6: []netip.Addr{netip.MustParseAddr("fe80::1")}, Rule: "pupil-device-unfiltered", Clauses: []string{"OSS-2.1", "OSS-8"}},
		{MAC: "da:a1:19:00:00:02", VLAN: 30, Rule: "pupil-device-unfiltered", Clauses: []string{"OSS-2.1"}},
	}
	if err := s.SaveBlocks(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	got, err := s.LoadBlocks(ctx)
	if err != nil || len(got) != 2 || got[0].MAC != want[0].MAC || got[0].IPv4[0] != want[0].IPv4[0] ||
		got[0].IPv6[0] != want[0].IPv6[0] || got[0].Clauses[1] != "OSS-8" || got[1].VLAN != 30 {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if err := s.SaveBlocks(ctx, want[1:]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LoadBlocks(ctx); len(got) != 1 || got[0].MAC != want[1].MAC {
		t.Fatalf("saving a smaller set did not replace it: %+v", got)
	}
}
