package firewall

import (
	"net/netip"
	"slices"
	"testing"
)

// cacheFor is the cache after installing d with config c (as Set leaves it).
func cacheFor(t *testing.T, c config, d Desired) *nftCache {
	t.Helper()
	return c.newCache(wantFor(t, c, d).state(), 7)
}

func TestNFTCacheDiff(t *testing.T) {
	c := nftCfg() // eth1.30 configured
	nc := cacheFor(t, c, twoBlocks)
	d := func(macs ...string) Desired {
		var out Desired
		for _, m := range macs {
			out.Blocks = append(out.Blocks, Block{MAC: m, Interface: "br-pupil"})
		}
		return out
	}
	check := func(what string, d Desired, wantAdd, wantDel []string) {
		t.Helper()
		added, removed, ok := nc.diff(d)
		s := nc.sets["hm-block-br-pupil"]
		slices.Sort(s.del)
		if !ok || added != len(wantAdd) || removed != len(wantDel) || !slices.Equal(s.add, wantAdd) || !slices.Equal(s.del, wantDel) {
			t.Errorf("%s: ok %v +%d %v -%d %v; want +%v -%v", what, ok, added, s.add, removed, s.del, wantAdd, wantDel)
		}
	}
	check("same", d("02:00:00:00:00:01", "02:00:00:00:00:02"), nil, nil)
	check("same, duplicated, upper case", d("02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:02", "02-00-00-00-00-01"), nil, nil)
	check("one more, twice", d("02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:09", "02:00:00:00:00:09"), []string{"02:00:00:00:00:09"}, nil)
	check("one less", d("02:00:00:00:00:02"), nil, []string{"02:00:00:00:00:01"})
	check("swap", d("02:00:00:00:00:02", "02:00:00:00:00:03"), []string{"02:00:00:00:00:03"}, []string{"02:00:00:00:00:01"})
	nc.commit()
	if nc.gen != 8 || len(nc.sets["hm-block-br-pupil"].elems) != 2 {
		t.Errorf("after commit: gen %d, set %v", nc.gen, nc.sets["hm-block-br-pupil"].elems)
	}
	check("after commit", d("02:00:00:00:00:02", "02:00:00:00:00:03"), nil, nil)
	if k := nc.state(); !slices.Equal(sortedKeys(k.sets["hm-block-br-pupil"].elems), []string{"02:00:00:00:00:02", "02:00:00:00:00:03"}) || k.structural(wantFor(t, c, d("02:00:00:00:00:02"))) != "" {
		t.Errorf("state after commit: %+v", k)
	}

	// Everything else goes to the slow path (which reports invalid input).
	for _, tc := range []struct {
		what string
		d    Desired
	}{
		{"a new interface", Desired{Blocks: []Block{{MAC: "02:00:00:00:00:02", Interface: "br-pupil"}, {MAC: "02:00:00:00:00:05", Interface: "wlan0"}}}},
		{"the unconfigured interface's set would go", Desired{}},
		{"bad MAC", d("02:00:00:00:00:02", "nope")},
		{"bad interface", Desired{Blocks: []Block{{MAC: "02:00:00:00:00:02", Interface: "br-pupil"}, {MAC: "02:00:00:00:00:05", Interface: "-x y"}}}},
		{"IPv6 address as IPv4", Desired{Blocks: []Block{{MAC: "02:00:00:00:00:02", Interface: "br-pupil", IPv4: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}}}},
		{"IPv4 address as IPv6", Desired{Blocks: []Block{{MAC: "02:00:00:00:00:02", Interface: "br-pupil", IPv6: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}}}},
		{"zero address", Desired{Blocks: []Block{{MAC: "02:00:00:00:00:02", Interface: "br-pupil", IPv4: []netip.Addr{{}}}}}},
	} {
		if _, _, ok := nc.diff(tc.d); ok {
			t.Errorf("%s: fast path taken, want the slow path", tc.what)
		}
	}
	// The configured interface may be emptied without a structural change.
	nc2 := cacheFor(t, c, Desired{Blocks: []Block{{MAC: "02:00:00:00:00:01", Interface: "eth1.30"}, {MAC: "02:00:00:00:00:02", Interface: "br-pupil"}}})
	if added, removed, ok := nc2.diff(d("02:00:00:00:00:02")); !ok || added != 0 || removed != 1 {
		t.Errorf("emptying the configured interface: ok %v +%d -%d, want -1", ok, added, removed)
	}
}

func TestElemMsgEncoding(t *testing.T) {
	m, err := elemMsg(uint16(0x0c), "hm-block-br-pupil", []string{"02:00:00:00:00:01"}) // NFT_MSG_NEWSETELEM
	if err != nil {
		t.Fatal(err)
	}
	// nfgenmsg, table, set, elements { elem { key { value: 6 bytes + 2 padding } } }
	if m.Data[0] != 1 /* NFPROTO_INET */ || len(m.Data) != 4+16+24+4+4+4+4+8 {
		t.Errorf("message %x", m.Data)
	}
	if b := batchBegin(0x01020304); len(b.Data) != 12 || !slices.Equal(b.Data[8:], []byte{1, 2, 3, 4}) {
		t.Errorf("batch begin %x", b.Data)
	}
}
