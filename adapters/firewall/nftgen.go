package firewall

import (
	encbin "encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// genConn asks nf_tables for its ruleset generation (NFT_MSG_GETGEN): a counter the
// kernel increments by one on every committed transaction, whoever sends it. The
// nftables library does not expose the request.
type genConn struct{ c *netlink.Conn }

func dialGen(netnsFd int) (*genConn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return nil, err
	}
	return &genConn{c: c}, nil
}

func (g *genConn) close() error {
	if g == nil || g.c == nil {
		return nil
	}
	return g.c.Close()
}

func (g *genConn) gen() (uint32, error) {
	msgs, err := g.c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("get ruleset generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = encbin.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("get ruleset generation: no NFTA_GEN_ID in the answer")
}
