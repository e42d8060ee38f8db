package firewall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// This file is the iptables backend's steady-state path. Every program run costs
// ~15–20 ms on a small gateway, so a Set that reads (`ipset save`, `iptables -S`) and
// writes (`ipset restore`) cannot take a decision to the kernel within 20 ms. After a
// Set that left the chains as they were (no iptables batch, no set created or
// destroyed), the backend remembers the state it left: the chains it read and the sets
// it wanted. The next Set, while that full read is younger than Options.Resync,
// diffs against the memory and sends the membership changes straight to the kernel's
// ipset subsystem over netlink — no program at all. Anything unexpected (a set missing,
// a netlink error, a new interface, a set that would go) drops the memory and takes
// the full path in the same Set. Tampering (a member deleted by hand, a chain flushed)
// is therefore repaired at the next full read, at most Resync later, or at once after
// Invalidate.

// DefaultResync is the default Options.Resync.
const DefaultResync = 30 * time.Second

// ipset netlink protocol (linux/netfilter/ipset/ip_set.h).
const (
	ipsetProtocol        = 7  // IPSET_PROTOCOL
	ipsetCmdAdd          = 9  // IPSET_CMD_ADD
	ipsetCmdDel          = 10 // IPSET_CMD_DEL
	ipsetAttrProtocol    = 1  // IPSET_ATTR_PROTOCOL
	ipsetAttrSetName     = 2  // IPSET_ATTR_SETNAME
	ipsetAttrData        = 7  // IPSET_ATTR_DATA (nested)
	ipsetAttrIP          = 1  // IPSET_ATTR_IP (nested, in DATA)
	ipsetAttrEther       = 17 // IPSET_ATTR_ETHER (in DATA)
	ipsetAttrIPAddrIPv4  = 1  // IPSET_ATTR_IPADDR_IPV4 (in IP, network byte order)
	ipsetAttrIPAddrIPv6  = 2  // IPSET_ATTR_IPADDR_IPV6
	ipsetMsgsPerSend     = 256
	ipsetNetlinkDeadline = 5 * time.Second
)

// memberOp is one set membership change.
type memberOp struct {
	set    string
	typ    string // typeMAC | typeIP
	family string // inet | inet6 for hash:ip
	member string // normalised (normalizeMember)
	del    bool
}

// fastSystem is a kernel that takes membership changes without running a program.
type fastSystem interface {
	// netlinkOK reports whether setMembers may be used at all.
	netlinkOK() bool
	// setMembers applies ops (adds of present and deletions of absent members are no
	// errors, like ipset -exist); it returns the messages sent. After an error some
	// ops may have been applied.
	setMembers(ctx context.Context, ops []memberOp) (int, error)
}

// iptCache is the kernel state the last Set left, as far as Set reads it.
type iptCache struct {
	fam    [2]famRules
	sets   map[string]*ipsetState
	readAt time.Time // when the full read it derives from started
}

// Invalidate drops the remembered kernel state: the next Set reads the kernel and
// repairs whatever differs (the daemon can call it on SIGHUP, or after an admin ran
// `ipset`/`iptables` by hand).
func (b *IPTables) Invalidate() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cache = nil
}

// fastSet applies w against the cache; false means the caller must take the full path
// (the cache is then dropped).
func (b *IPTables) fastSet(ctx context.Context, w wanted, rep *Report) bool {
	c := b.cache
	b.cache = nil
	fs, ok := b.sys.(fastSystem)
	if c == nil || !ok || !fs.netlinkOK() || b.resync < 0 || time.Since(c.readAt) >= b.resync {
		return false
	}
	for _, f := range b.cfg.families() {
		if chainScript(c.fam[f], w.chains[f]) != "" {
			return false
		}
	}
	ops, ok := memberOps(c.sets, w.sets)
	if !ok {
		return false
	}
	if len(ops) > 0 {
		n, err := fs.setMembers(ctx, ops)
		rep.Netlink += n
		if err != nil {
			b.log.Warn("firewall: netlink set update failed; reading the kernel", zap.Int("changes", len(ops)), zap.Error(err))
			return false
		}
	}
	for _, op := range ops {
		if op.del {
			rep.Removed++
		} else {
			rep.Added++
		}
	}
	c.sets = w.sets
	b.cache = c
	if len(ops) > 0 {
		b.log.Info("firewall set", zap.Int("added", rep.Added), zap.Int("removed", rep.Removed), zap.Bool("netlink", true))
	}
	return true
}

// memberOps lists the membership changes taking have to want; false when more than
// membership differs (a set missing, of another type, or one that would go).
func memberOps(have, want map[string]*ipsetState) ([]memberOp, bool) {
	if len(have) != len(want) {
		return nil, false
	}
	var ops []memberOp
	for name, ws := range want {
		hs := have[name]
		if hs == nil || hs.typ != ws.typ || hs.family != ws.family {
			return nil, false
		}
		before := len(ops)
		for m := range ws.members {
			if !hs.members[m] {
				ops = append(ops, memberOp{set: name, typ: ws.typ, family: ws.family, member: m})
			}
		}
		if len(hs.members) == len(ws.members) && len(ops) == before {
			continue // same size, nothing added: nothing deleted either
		}
		for m := range hs.members {
			if !ws.members[m] {
				ops = append(ops, memberOp{set: name, typ: ws.typ, family: ws.family, member: m, del: true})
			}
		}
	}
	if len(ops) > 1 {
		slices.SortFunc(ops, func(a, b memberOp) int {
			return cmp.Or(cmp.Compare(a.set, b.set), boolCmp(a.del, b.del), cmp.Compare(a.member, b.member))
		})
	}
	return ops, true
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1 // deletions first, as the restore script's order does not matter but stays stable
	}
	return 1
}

// ipsetMsg encodes one IPSET_CMD_ADD / IPSET_CMD_DEL request. Without NLM_F_EXCL the
// kernel ignores adding a present member and deleting an absent one (`-exist`).
func ipsetMsg(op memberOp) (netlink.Message, error) {
	fam := byte(unix.AF_UNSPEC)
	var data func(nae *netlink.AttributeEncoder) error
	switch op.typ {
	case typeMAC:
		hw, err := net.ParseMAC(op.member)
		if err != nil || len(hw) != 6 {
			return netlink.Message{}, fmt.Errorf("bad MAC %q", op.member)
		}
		data = func(nae *netlink.AttributeEncoder) error {
			nae.Bytes(ipsetAttrEther, hw)
			return nil
		}
	case typeIP:
		a, err := netip.ParseAddr(op.member)
		if err != nil {
			return netlink.Message{}, fmt.Errorf("bad address %q", op.member)
		}
		a = a.Unmap()
		typ, raw := uint16(ipsetAttrIPAddrIPv4), a.AsSlice()
		fam = unix.AF_INET
		if a.Is6() {
			typ, fam = ipsetAttrIPAddrIPv6, unix.AF_INET6
		}
		if (op.family == "inet6") != a.Is6() {
			return netlink.Message{}, fmt.Errorf("%s is the wrong family for %s", a, op.set)
		}
		data = func(nae *netlink.AttributeEncoder) error {
			nae.Nested(ipsetAttrIP, func(ip *netlink.AttributeEncoder) error {
				ip.Bytes(netlink.NetByteOrder|typ, raw)
				return nil
			})
			return nil
		}
	default:
		return netlink.Message{}, fmt.Errorf("set %s: unknown type %q", op.set, op.typ)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint8(ipsetAttrProtocol, ipsetProtocol)
	ae.String(ipsetAttrSetName, op.set)
	ae.Nested(ipsetAttrData, data)
	attrs, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	cmd := uint16(ipsetCmdAdd)
	if op.del {
		cmd = ipsetCmdDel
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_IPSET<<8 | cmd), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append([]byte{fam, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}, nil
}

// netlinkOK: the programs act on the caller's namespace (no BinDir), or BinDir's
// wrappers act on Options.NetNS, where the socket is opened. BinDir without NetNS
// (wrappers into an unknown namespace) never uses netlink, so the caller's namespace
// is never touched.
func (s *execSystem) netlinkOK() bool { return s.r.binDir == "" || s.netns != "" }

// setMembers sends one IPSET_CMD_ADD/DEL per op on a fresh NETLINK_NETFILTER socket
// (in Options.NetNS when set): up to ipsetMsgsPerSend messages per sendmsg, then
// their acknowledgements. ipset has no nfnetlink batches (BATCH_BEGIN is refused for
// it); the kernel handles the messages of one sendmsg in order.
func (s *execSystem) setMembers(_ context.Context, ops []memberOp) (int, error) {
	msgs := make([]netlink.Message, 0, len(ops))
	for _, op := range ops {
		m, err := ipsetMsg(op)
		if err != nil {
			return 0, err
		}
		msgs = append(msgs, m)
	}
	cfg := &netlink.Config{}
	if s.netns != "" {
		f, err := os.Open(s.netns)
		if err != nil {
			return 0, fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(ipsetNetlinkDeadline)); err != nil {
		return 0, err
	}
	sent := 0
	for chunk := range slices.Chunk(msgs, ipsetMsgsPerSend) {
		if _, err := c.SendMessages(chunk); err != nil {
			return sent, fmt.Errorf("netlink send: %w", err)
		}
		sent += len(chunk)
		for acks := 0; acks < len(chunk); {
			replies, err := c.Receive()
			if err != nil {
				return sent, fmt.Errorf("ipset: %w", err)
			}
			for _, r := range replies {
				if r.Header.Type == netlink.Error {
					acks++
				}
			}
		}
	}
	return sent, nil
}

// errFakeNetlink marks the fake kernel refusing a netlink message.
var errFakeNetlink = errors.New("fake netlink")

func (f *fakeSystem) netlinkOK() bool { return f.netlink }

// setMembers applies ops one message at a time, as the kernel does: a failure leaves
// the earlier ones applied.
func (f *fakeSystem) setMembers(_ context.Context, ops []memberOp) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, op := range ops {
		if err := f.fail(); err != nil {
			return i + 1, err
		}
		s := f.sets[op.set]
		switch {
		case s == nil:
			return i + 1, fmt.Errorf("%w: set %s does not exist", errFakeNetlink, op.set)
		case s.typ != op.typ || s.family != op.family:
			return i + 1, fmt.Errorf("%w: set %s has another type", errFakeNetlink, op.set)
		}
		if op.del {
			delete(s.members, op.member)
		} else {
			s.members[op.member] = true
		}
	}
	return len(ops), nil
}
