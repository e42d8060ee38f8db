package firewall

import (
	encbin "encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// This file is the nftables steady-state path. After a Set (or a consistent read) the
// backend keeps our table in memory, keyed by the kernel's ruleset generation at that
// moment. The next Set then diffs the desired blocks against that memory (one map
// lookup per block, no sorting, no per-block allocation) and, when only elements
// change, sends them as one netlink batch carrying the generation
// (NFNL_BATCH_GENID): the kernel checks it under its commit lock and refuses the whole
// batch with ERESTART when anyone committed anything since — the element someone
// deleted with `nft delete element`, the table someone removed. Set then falls back to
// reading the table and reconciling it whole (the slow path in nft.go). A commit we
// make moves the generation by exactly one, so the memory stays valid without asking.

// nftCache is our table as the kernel holds it at generation gen.
type nftCache struct {
	gen     uint32
	chains  map[string]nftChainState
	sets    map[string]*cacheSet // set name →
	byIface map[string]*cacheSet // protected interface → its set
	stamp   uint32               // bumped per Set: marks the elements it wants
}

// cacheSet is one of our sets in the cache.
type cacheSet struct {
	name       string
	configured bool              // its interface is in Options.Interfaces: it stays without blocks
	elems      map[string]uint32 // MAC → stamp of the last Set that wanted it
	seen       int               // elements the current Set wants that the set holds
	add        []string          // elements the current Set wants that the set lacks
	del        []string
}

// newCache remembers k, the kernel's table at generation gen, which must be the
// wanted structure (structural(…) == "").
func (c config) newCache(k nftState, gen uint32) *nftCache {
	nc := &nftCache{gen: gen, chains: k.chains, sets: map[string]*cacheSet{}, byIface: map[string]*cacheSet{}}
	configured := map[string]bool{}
	for _, i := range c.interfaces {
		configured[i] = true
	}
	for name, s := range k.sets {
		iface := name[len(SetPrefix):]
		cs := &cacheSet{name: name, configured: configured[iface], elems: make(map[string]uint32, len(s.elems))}
		for m := range s.elems {
			cs.elems[m] = 0
		}
		nc.sets[name], nc.byIface[iface] = cs, cs
	}
	return nc
}

// state is the cached table as nftState (for the slow path).
func (nc *nftCache) state() nftState {
	k := nftState{table: true, tableOK: true, chains: nc.chains, sets: map[string]nftSetState{}}
	for name, s := range nc.sets {
		elems := make(map[string]bool, len(s.elems))
		for m := range s.elems {
			elems[m] = true
		}
		k.sets[name] = nftSetState{ok: true, elems: elems}
	}
	return k
}

// diff computes, per set, the elements to add and delete to take the cache to d.
// ok is false when d needs more than element changes (a new interface, a set that
// would go away) or is invalid: the slow path handles (and reports) those.
func (nc *nftCache) diff(d Desired) (added, removed int, ok bool) {
	nc.stamp++
	if nc.stamp == 0 {
		nc.stamp = 1 // 0 marks "not wanted yet" in newCache
		for _, s := range nc.sets {
			for m := range s.elems {
				s.elems[m] = 0
			}
		}
	}
	cur := nc.stamp
	for _, s := range nc.sets {
		s.seen, s.add, s.del = 0, s.add[:0], s.del[:0]
	}
	var last *cacheSet
	lastIface := ""
	for i := range d.Blocks {
		b := &d.Blocks[i]
		s := last
		if s == nil || b.Interface != lastIface {
			if s = nc.byIface[b.Interface]; s == nil {
				return 0, 0, false
			}
			last, lastIface = s, b.Interface
		}
		mac := b.MAC
		if !canonicalMAC(mac) {
			m, err := NormalizeMAC(mac)
			if err != nil {
				return 0, 0, false
			}
			mac = m
		}
		for _, a := range b.IPv4 {
			if !a.Unmap().Is4() {
				return 0, 0, false
			}
		}
		for _, a := range b.IPv6 {
			if !a.Is6() || a.Is4In6() {
				return 0, 0, false
			}
		}
		if st, ok := s.elems[mac]; ok {
			if st != cur {
				s.elems[mac] = cur
				s.seen++
			}
			continue
		}
		s.add = append(s.add, mac)
	}
	for _, s := range nc.sets {
		if len(s.add) > 1 {
			slices.Sort(s.add)
			s.add = slices.Compact(s.add)
		}
		if !s.configured && s.seen == 0 && len(s.add) == 0 {
			return 0, 0, false // nobody blocked on an unconfigured interface: its set goes
		}
		if s.seen < len(s.elems) {
			for m, st := range s.elems {
				if st != cur {
					s.del = append(s.del, m)
				}
			}
		}
		added += len(s.add)
		removed += len(s.del)
	}
	return added, removed, true
}

// commit records that the kernel applied the diff (generation + 1).
func (nc *nftCache) commit() {
	for _, s := range nc.sets {
		for _, m := range s.del {
			delete(s.elems, m)
		}
		for _, m := range s.add {
			s.elems[m] = nc.stamp
		}
	}
	nc.gen++
}

// errGenChanged: the kernel refused a batch because its generation moved on.
var errGenChanged = errors.New("ruleset generation changed")

// elemBatch sends the cache's pending element changes as one transaction, valid only
// at generation gen.
func (g *genConn) elemBatch(gen uint32, nc *nftCache) error {
	msgs := []netlink.Message{batchBegin(gen)}
	for _, name := range sortedSetNames(nc.sets) {
		s := nc.sets[name]
		for _, op := range []struct {
			typ   uint16
			elems []string
		}{{unix.NFT_MSG_DELSETELEM, s.del}, {unix.NFT_MSG_NEWSETELEM, s.add}} {
			for c := range slices.Chunk(op.elems, elemChunk) {
				m, err := elemMsg(op.typ, name, c)
				if err != nil {
					return err
				}
				msgs = append(msgs, m)
			}
		}
	}
	msgs = append(msgs, batchEnd())
	return g.send(msgs, len(msgs)-2)
}

func sortedSetNames(m map[string]*cacheSet) []string {
	if len(m) == 1 {
		for k := range m {
			return []string{k}
		}
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// batchBegin starts an nf_tables batch; a non-zero gen makes the kernel refuse the
// batch (ERESTART) unless its ruleset generation is gen.
func batchBegin(gen uint32) netlink.Message {
	data := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}
	if gen != 0 {
		// struct nlattr {len 8, type NFNL_BATCH_GENID}, value big-endian.
		data = encbin.NativeEndian.AppendUint16(data, 8)
		data = encbin.NativeEndian.AppendUint16(data, unix.NFNL_BATCH_GENID)
		data = encbin.BigEndian.AppendUint32(data, gen)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request}, Data: data}
}

func batchEnd() netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}}
}

// elemMsg adds (NEWSETELEM) or deletes (DELSETELEM) MACs in one of our sets.
func elemMsg(typ uint16, set string, macs []string) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, NFTTable)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(ae *netlink.AttributeEncoder) error {
		for _, m := range macs {
			ae.Nested(unix.NFTA_LIST_ELEM, func(ae *netlink.AttributeEncoder) error {
				ae.Nested(unix.NFTA_SET_ELEM_KEY, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(unix.NFTA_DATA_VALUE, macKey(m))
					return nil
				})
				return nil
			})
		}
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("encode set elements: %w", err)
	}
	flags := netlink.Request | netlink.Acknowledge
	if typ == unix.NFT_MSG_NEWSETELEM {
		flags |= netlink.Create
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: flags},
		Data:   append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}, nil
}

// send writes a batch and waits for the acknowledgements of its acks messages. An
// ERESTART (the batch's generation check failed: the kernel sends that one error and
// ignores the rest) is errGenChanged. After any other error the socket may hold
// unread answers: the caller must reopen it.
func (g *genConn) send(msgs []netlink.Message, acks int) error {
	if g == nil || g.c == nil {
		return errors.New("firewall: nftables backend closed")
	}
	if err := g.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	defer func() { _ = g.c.SetReadDeadline(time.Time{}) }()
	if _, err := g.c.SendMessages(msgs); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	for acks > 0 {
		replies, err := g.c.Receive()
		if errors.Is(err, unix.ERESTART) {
			return errGenChanged
		}
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error {
				acks--
			}
		}
	}
	return nil
}

// probeGenCheck reports whether the kernel honours NFNL_BATCH_GENID: a batch with a
// generation that is not the current one, holding only the deletion of a table that
// does not exist, must be refused with ERESTART (a kernel ignoring the attribute
// answers ENOENT for the deletion instead; either way nothing changes).
func (g *genConn) probeGenCheck() (bool, error) {
	cur, err := g.gen()
	if err != nil {
		return false, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_TABLE_NAME, "hallmonitor-genid-probe")
	attrs, err := ae.Encode()
	if err != nil {
		return false, err
	}
	del := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELTABLE), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	err = g.send([]netlink.Message{batchBegin(cur + 0x40000000), del, batchEnd()}, 1)
	switch {
	case errors.Is(err, errGenChanged):
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case err == nil:
		return false, errors.New("genid probe: deleting a missing table succeeded")
	}
	return false, err
}
