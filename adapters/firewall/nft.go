package firewall

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"go.uber.org/zap"
)

// ModeNFTables is the native nftables backend (NFTables): its own table, written over
// netlink. Not to be confused with ModeNFT, iptables-nft.
const ModeNFTables Mode = "nftables"

// NFTables is the native nftables backend: table inet hallmonitor, written over
// netlink (github.com/google/nftables), no programs run. Devices are matched by MAC
// (ether saddr) in both IPv4 and IPv6; Block.IPv4 and Block.IPv6 are not used. Every
// Set and Flush is one netlink transaction (atomic: all or nothing). It is safe for
// concurrent use; calls are serialised. Close releases the netlink socket.
type NFTables struct {
	mu    sync.Mutex
	conn  *nftables.Conn
	netns *os.File // Options.NetNS, open for the backend's lifetime
	table *nftables.Table
	gen   *genConn
	// cache is our table as the kernel had it at generation cache.gen: Set skips reading
	// when the kernel's generation is still that (nobody committed anything since), and
	// sends element changes with that generation as a condition (nftfast.go).
	cache *nftCache
	// genCheck: the kernel honours NFNL_BATCH_GENID (probed when the socket opens);
	// without it Set takes the slow path every time.
	genCheck bool
	cfg      config
	log      *zap.Logger
	last     Report
}

var _ Firewall = (*NFTables)(nil)

// NewNFTables returns the nftables backend. Of Options it uses Interfaces, Resolvers,
// NetNS and Log (Mode, BinDir, Timeout and DisableIPv6 are the iptables backend's). It
// checks that nf_tables answers (by listing tables) and changes nothing.
func NewNFTables(_ context.Context, o Options) (*NFTables, error) {
	for _, i := range o.Interfaces {
		if !ValidInterface(i) {
			return nil, fmt.Errorf("firewall: bad protected interface %q", i)
		}
	}
	for _, r := range o.Resolvers {
		if !r.IsValid() || r.IsUnspecified() {
			return nil, fmt.Errorf("firewall: bad resolver address %v", r)
		}
	}
	b := &NFTables{
		table: &nftables.Table{Name: NFTTable, Family: nftables.TableFamilyINet},
		cfg:   config{macSets: true, ipv6: true, interfaces: o.Interfaces, resolvers: o.Resolvers},
		log:   o.Log,
	}
	if b.log == nil {
		b.log = zap.NewNop()
	}
	if o.NetNS != "" {
		f, err := os.Open(o.NetNS)
		if err != nil {
			return nil, fmt.Errorf("firewall: open network namespace: %w", err)
		}
		b.netns = f
	}
	if err := b.dial(); err != nil {
		b.Close()
		return nil, err
	}
	if _, err := b.conn.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		b.Close()
		return nil, fmt.Errorf("firewall: nftables: list tables: %w", err)
	}
	b.log.Info("firewall backend ready", zap.String("mode", string(ModeNFTables)), zap.String("table", "inet "+NFTTable))
	return b, nil
}

// dial opens the (lasting) netlink connection, in Options.NetNS when set.
func (b *NFTables) dial() error {
	b.cache = nil
	if b.conn != nil {
		_ = b.conn.CloseLasting()
		b.conn = nil
	}
	_ = b.gen.close()
	b.gen = nil
	opts := []nftables.ConnOption{nftables.AsLasting()}
	fd := 0
	if b.netns != nil {
		fd = int(b.netns.Fd())
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("firewall: nftables: open netlink: %w", err)
	}
	g, err := dialGen(fd)
	if err != nil {
		_ = c.CloseLasting()
		return fmt.Errorf("firewall: nftables: open netlink: %w", err)
	}
	b.conn, b.gen = c, g
	if b.genCheck, err = g.probeGenCheck(); err != nil {
		b.genCheck = false
		b.log.Warn("firewall: nftables: probe of the batch generation check failed; every Set reads the table", zap.Error(err))
	}
	return nil
}

// Close releases the netlink connection; the installed table stays.
func (b *NFTables) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if b.conn != nil {
		err = b.conn.CloseLasting()
		b.conn = nil
	}
	err = errors.Join(err, b.gen.close())
	b.gen, b.cache = nil, nil
	if b.netns != nil {
		err = errors.Join(err, b.netns.Close())
		b.netns = nil
	}
	return err
}

// LastReport describes the last Set or Flush.
func (b *NFTables) LastReport() Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// read returns our table as the kernel has it.
func (b *NFTables) read() (nftState, error) {
	k := nftState{chains: map[string]nftChainState{}, sets: map[string]nftSetState{}}
	if b.conn == nil {
		return k, errors.New("firewall: nftables backend closed")
	}
	tables, err := b.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return k, fmt.Errorf("firewall: nftables: list tables: %w", err)
	}
	i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == NFTTable })
	if i < 0 {
		return k, nil
	}
	k.table, k.tableOK = true, tables[i].Flags&0x1 == 0 // NFT_TABLE_F_DORMANT
	chains, err := b.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return k, fmt.Errorf("firewall: nftables: list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != NFTTable {
			continue
		}
		cs := nftChainState{base: c.Hooknum != nil, typ: string(c.Type)}
		if c.Hooknum != nil {
			cs.hook = uint32(*c.Hooknum)
		}
		if c.Priority != nil {
			cs.prio = int32(*c.Priority)
		}
		cs.accept = c.Policy == nil || *c.Policy == nftables.ChainPolicyAccept
		if !cs.base {
			cs.accept = false
		}
		rules, err := b.conn.GetRules(b.table, c)
		if err != nil {
			return k, fmt.Errorf("firewall: nftables: list rules of %s: %w", c.Name, err)
		}
		for _, r := range rules {
			tag, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			cs.tags = append(cs.tags, tag)
		}
		k.chains[c.Name] = cs
	}
	sets, err := b.conn.GetSets(b.table)
	if err != nil {
		return k, fmt.Errorf("firewall: nftables: list sets: %w", err)
	}
	for _, s := range sets {
		ss := nftSetState{elems: map[string]bool{},
			ok: s.KeyType.GetNFTMagic() == nftables.TypeEtherAddr.GetNFTMagic() && !s.IsMap && !s.Interval && !s.HasTimeout && !s.Constant && !s.Anonymous}
		elems, err := b.conn.GetSetElements(s)
		if err != nil {
			return k, fmt.Errorf("firewall: nftables: list elements of %s: %w", s.Name, err)
		}
		for _, e := range elems {
			if len(e.Key) >= 6 {
				ss.elems[net.HardwareAddr(e.Key[:6]).String()] = true
			}
		}
		if s.Anonymous {
			continue // a rule's inline set, not one of ours
		}
		k.sets[s.Name] = ss
	}
	return k, nil
}

// Set makes the table hold exactly d: it reads the table (chains, rules, sets and
// their elements) and writes the difference as one netlink transaction — element
// additions and deletions only when the structure is right, else the whole table
// deleted and added again. Nothing is written when nothing differs. Should the
// transaction fail (someone changed the table between the read and the write), it is
// retried once as a rebuild from a fresh read. In steady state (the table as this
// backend last left it, only elements to change) it skips the read and sends the
// element changes as one batch conditional on the ruleset generation (setFast).
func (b *NFTables) Set(ctx context.Context, d Desired) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	rep := Report{}
	defer func() { rep.Duration = time.Since(start); b.last = rep }()
	if b.cache != nil && b.genCheck {
		if done, err := b.setFast(d, &rep); done {
			return err
		}
	}
	groups, err := normalize(d)
	if err != nil {
		return err
	}
	want := b.cfg.nftWanted(groups)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, g0, consistent, err := b.snapshot(&rep)
		if err != nil {
			return b.failed(err)
		}
		p := nftDiff(k, want)
		if attempt > 0 && !p.empty() {
			p.rebuild, p.why = true, "retry after a failed transaction"
		}
		if p.empty() {
			if consistent {
				b.cache = b.cfg.newCache(k, g0)
			}
			return nil
		}
		rep.Transactions++
		rep.Added, rep.Removed = p.added, p.removed
		b.cache = nil
		err = b.apply(k, want, p)
		if err == nil {
			// Ours was the only commit since the snapshot: the kernel now holds want.
			if g, gerr := b.gen.gen(); gerr == nil && consistent && g == g0+1 {
				b.cache = b.cfg.newCache(want.state(), g)
			}
			if p.rebuild {
				b.log.Info("firewall: nftables table rebuilt", zap.String("why", p.why),
					zap.Int("added", p.added), zap.Int("removed", p.removed), zap.Duration("took", time.Since(start)))
			} else {
				b.log.Info("firewall set", zap.Int("added", p.added), zap.Int("removed", p.removed), zap.Duration("took", time.Since(start)))
			}
			return nil
		}
		if attempt > 0 {
			return b.failed(fmt.Errorf("firewall: nftables transaction (+%d -%d): %w", p.added, p.removed, err))
		}
		b.log.Warn("firewall: nftables transaction failed; retrying as a rebuild", zap.Error(err))
		if err := b.dial(); err != nil {
			return err
		}
	}
}

// setFast is Set's steady-state path: the diff against the cache and, when only
// elements change, one batch conditional on the cache's generation. done is false when
// Set must take the slow path: d changes the structure or is invalid, or the kernel's
// generation moved on (someone else committed: the batch was refused, nothing applied).
func (b *NFTables) setFast(d Desired, rep *Report) (done bool, err error) {
	nc := b.cache
	added, removed, ok := nc.diff(d)
	if !ok || nc.gen == 0 {
		return false, nil
	}
	if added+removed == 0 {
		g, err := b.gen.gen()
		return err == nil && g == nc.gen, nil // else: read and reconcile
	}
	rep.Transactions++
	rep.Added, rep.Removed = added, removed
	switch err := b.gen.elemBatch(nc.gen, nc); {
	case errors.Is(err, errGenChanged):
		*rep = Report{}
		b.cache = nil
		return false, nil
	case err != nil:
		// Not applied (the batch is atomic); the socket may hold unread answers.
		*rep = Report{}
		b.log.Warn("firewall: nftables element batch failed; reconciling from a fresh read", zap.Error(err))
		if derr := b.dial(); derr != nil {
			return true, errors.Join(err, derr)
		}
		return false, nil
	}
	nc.commit()
	b.log.Info("firewall set", zap.Int("added", added), zap.Int("removed", removed))
	return true, nil
}

// snapshot returns our table at generation g: from the cache when the kernel is
// still at the cache's generation, else read. consistent: no commit happened during
// the read, so the state is the kernel's at g.
func (b *NFTables) snapshot(rep *Report) (k nftState, g uint32, consistent bool, err error) {
	if b.gen == nil {
		return k, 0, false, errors.New("firewall: nftables backend closed")
	}
	if g, err = b.gen.gen(); err != nil {
		return k, 0, false, fmt.Errorf("firewall: nftables: %w", err)
	}
	if b.cache != nil && g == b.cache.gen {
		return b.cache.state(), g, true, nil
	}
	b.cache = nil
	rep.Reads++
	if k, err = b.read(); err != nil {
		return k, 0, false, err
	}
	g1, err := b.gen.gen()
	if err != nil {
		return k, 0, false, fmt.Errorf("firewall: nftables: %w", err)
	}
	return k, g, g1 == g, nil
}

// failed reopens the connection after an error, so a broken socket does not outlive it.
func (b *NFTables) failed(err error) error {
	if derr := b.dial(); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// elemChunk bounds the elements per netlink message (all still in one transaction).
const elemChunk = 1024

func elements(macs []string) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	for c := range slices.Chunk(macs, elemChunk) {
		es := make([]nftables.SetElement, len(c))
		for i, m := range c {
			es[i] = nftables.SetElement{Key: macKey(m)}
		}
		out = append(out, es)
	}
	return out
}

// apply writes p as one transaction.
func (b *NFTables) apply(k nftState, w nftWant, p nftPlan) error {
	c := b.conn
	if !p.rebuild {
		for _, name := range slices.Sorted(maps.Keys(p.del)) {
			s := &nftables.Set{Table: b.table, Name: name, KeyType: nftables.TypeEtherAddr}
			for _, es := range elements(p.del[name]) {
				if err := c.SetDeleteElements(s, es); err != nil {
					return err
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(p.add)) {
			s := &nftables.Set{Table: b.table, Name: name, KeyType: nftables.TypeEtherAddr}
			for _, es := range elements(p.add[name]) {
				if err := c.SetAddElements(s, es); err != nil {
					return err
				}
			}
		}
		return c.Flush()
	}
	if k.table {
		c.DelTable(b.table)
	}
	c.AddTable(b.table)
	sets := map[string]*nftables.Set{}
	for _, name := range slices.Sorted(maps.Keys(w.sets)) {
		s := &nftables.Set{Table: b.table, Name: name, KeyType: nftables.TypeEtherAddr}
		chunks := elements(sortedKeys(w.sets[name]))
		var first []nftables.SetElement
		if len(chunks) > 0 {
			first, chunks = chunks[0], chunks[1:]
		}
		if err := c.AddSet(s, first); err != nil {
			return err
		}
		for _, es := range chunks {
			if err := c.SetAddElements(s, es); err != nil {
				return err
			}
		}
		sets[name] = s
	}
	drop := c.AddChain(&nftables.Chain{Name: NFTChainDrop, Table: b.table})
	policy := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: NFTChainForward, Table: b.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityRef(nftables.ChainPriority(NFTPriority)), Policy: &policy})
	for _, ch := range []*nftables.Chain{drop, fwd} {
		for _, r := range w.rules[ch.Name] {
			exprs := make([]expr.Any, len(r.exprs))
			for i, e := range r.exprs {
				if l, ok := e.(*expr.Lookup); ok {
					l2 := *l
					if s := sets[l.SetName]; s != nil {
						l2.SetID = s.ID
					}
					e = &l2
				}
				exprs[i] = e
			}
			c.AddRule(&nftables.Rule{Table: b.table, Chain: ch, Exprs: exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.tag)})
		}
	}
	return c.Flush()
}

// Status reports what is installed.
func (b *NFTables) Status(context.Context) (Installed, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := b.read()
	if err != nil {
		return Installed{}, b.failed(err)
	}
	return b.cfg.nftInstalled(k), nil
}

// Flush deletes table inet hallmonitor (one transaction) and nothing else.
func (b *NFTables) Flush(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	rep := Report{}
	defer func() { rep.Duration = time.Since(start); b.last = rep }()
	b.cache = nil
	k, err := b.read()
	if err != nil {
		return b.failed(err)
	}
	if !k.table {
		return nil
	}
	for _, s := range k.sets {
		rep.Removed += len(s.elems)
	}
	rep.Transactions++
	b.conn.DelTable(b.table)
	if err := b.conn.Flush(); err != nil {
		return b.failed(fmt.Errorf("firewall: nftables: delete table: %w", err))
	}
	b.log.Info("firewall flushed", zap.String("table", "inet "+NFTTable), zap.Int("members", rep.Removed))
	return nil
}

// iptablesNFTTables are the table names iptables-nft (and ebtables/arptables-nft)
// create, in the ip, ip6, arp and bridge families.
var iptablesNFTTables = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true, "broute": true}

// NFTablesInUse reports whether the host's firewall is native nftables: a table
// other than ours that iptables-nft would not have made (any inet or netdev table, or
// an ip/ip6/arp/bridge table with a name iptables never uses). It reads only; it uses
// Options.NetNS when set. An error means nf_tables did not answer.
func NFTablesInUse(_ context.Context, o Options) (bool, error) {
	var opts []nftables.ConnOption
	if o.NetNS != "" {
		f, err := os.Open(o.NetNS)
		if err != nil {
			return false, fmt.Errorf("firewall: open network namespace: %w", err)
		}
		defer f.Close()
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, fmt.Errorf("firewall: nftables: %w", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return false, fmt.Errorf("firewall: nftables: list tables: %w", err)
	}
	return nativeTables(tables), nil
}

func nativeTables(tables []*nftables.Table) bool {
	for _, t := range tables {
		switch {
		case t.Family == nftables.TableFamilyINet && t.Name == NFTTable:
			continue // ours
		case t.Family == nftables.TableFamilyINet, t.Family == nftables.TableFamilyNetdev:
			return true
		case !iptablesNFTTables[t.Name]:
			return true
		}
	}
	return false
}
