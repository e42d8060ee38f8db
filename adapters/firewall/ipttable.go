package firewall

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The filter table iptables-nft creates on its first rule (see ChainMarker): whether it
// exists, and deleting it when we made it and it is empty again.

func (s *execSystem) filterTableExists(ctx context.Context, f family) (bool, error) {
	if s.m != ModeNFT {
		return true, nil // x_tables' filter table is always there
	}
	// Without -t, iptables-nft-save prints only the tables that exist (with -t filter
	// it prints the built-in chains of a table that does not).
	out, err := s.r.run(ctx, "", binary(s.m, f, "save"))
	if err != nil {
		return false, err
	}
	return strings.Contains("\n"+out, "\n*filter\n"), nil
}

// dropEmptyFilterTable deletes table ip|ip6 filter over netlink (in Options.NetNS) if
// it holds only built-in base chains (INPUT, FORWARD, OUTPUT) of type filter with
// policy accept and no rules, and nothing else (no other chain, set, object or
// flowtable: the table's use count equals its chains). The check and the deletion
// are tied by the ruleset generation: the deletion is sent as a batch valid only at
// the generation the check saw, so a rule added in between keeps the table.
func (s *execSystem) dropEmptyFilterTable(_ context.Context, f family) (bool, error) {
	if s.m != ModeNFT {
		return false, nil
	}
	fam := nftables.TableFamilyIPv4
	if f == v6 {
		fam = nftables.TableFamilyIPv6
	}
	var opts []nftables.ConnOption
	fd := 0
	if s.netns != "" {
		nsf, err := os.Open(s.netns)
		if err != nil {
			return false, fmt.Errorf("open network namespace: %w", err)
		}
		defer nsf.Close()
		fd = int(nsf.Fd())
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	g, err := dialGen(fd)
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	defer g.close()
	gen, err := g.gen()
	if err != nil {
		return false, err
	}
	empty, err := emptyFilterTable(c, fam)
	if err != nil || !empty {
		return false, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_TABLE_NAME, "filter")
	attrs, err := ae.Encode()
	if err != nil {
		return false, err
	}
	del := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELTABLE), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append([]byte{byte(fam), unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	switch err := g.send([]netlink.Message{batchBegin(gen), del, batchEnd()}, 1); {
	case errors.Is(err, errGenChanged):
		return false, nil // someone committed since the check: leave it
	case err != nil:
		return false, fmt.Errorf("delete table filter: %w", err)
	}
	return true, nil
}

var builtinChains = map[string]bool{"INPUT": true, "FORWARD": true, "OUTPUT": true}

func emptyFilterTable(c *nftables.Conn, fam nftables.TableFamily) (bool, error) {
	tables, err := c.ListTablesOfFamily(fam)
	if err != nil {
		return false, fmt.Errorf("list tables: %w", err)
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == "filter" {
			t = x
		}
	}
	if t == nil || t.Flags != 0 {
		return false, nil
	}
	chains, err := c.ListChainsOfTableFamily(fam)
	if err != nil {
		return false, fmt.Errorf("list chains: %w", err)
	}
	n := uint32(0)
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != "filter" {
			continue
		}
		n++
		if !builtinChains[ch.Name] || ch.Hooknum == nil || ch.Type != nftables.ChainTypeFilter ||
			(ch.Policy != nil && *ch.Policy != nftables.ChainPolicyAccept) {
			return false, nil
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return false, fmt.Errorf("list rules of %s: %w", ch.Name, err)
		}
		if len(rules) > 0 {
			return false, nil
		}
	}
	// google/nftables v0.3.0 decodes NFTA_TABLE_USE (big-endian) in host order; the
	// smaller reading is the count either way (tables hold far fewer than 65,536 objects).
	use := min(t.Use, bits.ReverseBytes32(t.Use))
	return use == n, nil
}
