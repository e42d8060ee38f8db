package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// DHCPv6 message types and options (RFC 8415, RFC 4704, RFC 6939).
const (
	dhcpv6RelayForw        = 12
	dhcpv6OptRelayMsg      = 9
	dhcpv6OptClientLinkLay = 79
	dhcpv6MaxRelayDepth    = 8
	duidLLT                = 1
	duidLL                 = 3
	hwTypeEthernet         = 1
)

// DHCPv6 reports what a DHCPv6 client message says about its sender.
type DHCPv6 struct {
	MessageType uint8
	// MAC is the client's hardware address: the Ethernet source of a direct
	// message; for a relayed one, the Client Link-Layer Address option (RFC
	// 6939) or else the MAC inside a DUID-LL/LLT client identifier.
	MAC []byte
	// Addr is the client's address: the IPv6 source of a direct message, the
	// innermost relay's peer-address for a relayed one.
	Addr netip.Addr
	// DUIDMAC is the hardware address embedded in a DUID-LL or DUID-LLT client
	// identifier (Ethernet only), nil otherwise. It can differ from MAC: a
	// DUID-LLT keeps the MAC of whichever interface existed when it was made,
	// and a randomised Wi-Fi MAC does not change the DUID.
	DUIDMAC []byte
	// Hostname is the Client FQDN option (39), "" when absent.
	Hostname string
}

// ParseDHCPv6 decodes a DHCPv6 client message (the UDP payload) sent from
// ethSrc/ipSrc. ok is false for a message that is not a client request
// (server replies, unknown types). The error wraps ErrTruncated or
// ErrMalformed. The returned slices alias msg and ethSrc.
func ParseDHCPv6(msg, ethSrc []byte, ipSrc netip.Addr) (m DHCPv6, ok bool, err error) {
	m.MAC, m.Addr = ethSrc, ipSrc
	var clientLL []byte
	relayed := false
	for depth := 0; ; depth++ {
		if len(msg) < dhcpv6HeaderLen {
			return m, false, truncated("DHCPv6 header", len(msg), dhcpv6HeaderLen)
		}
		if msg[0] != dhcpv6RelayForw {
			break
		}
		// hop-count(1) link-address(16) peer-address(16) options
		if depth == dhcpv6MaxRelayDepth {
			return m, false, fmt.Errorf("decode DHCPv6: %w: relay messages nested more than %d deep", ErrMalformed, dhcpv6MaxRelayDepth)
		}
		if len(msg) < 34 {
			return m, false, truncated("DHCPv6 relay header", len(msg), 34)
		}
		relayed = true
		m.Addr = netip.AddrFrom16([16]byte(msg[18:34]))
		var inner []byte
		if err := dhcpv6Options(msg[34:], func(code uint16, data []byte) {
			switch code {
			case dhcpv6OptRelayMsg:
				inner = data
			case dhcpv6OptClientLinkLay:
				if len(data) == 8 && binary.BigEndian.Uint16(data[0:2]) == hwTypeEthernet {
					clientLL = data[2:8]
				}
			}
		}); err != nil {
			return m, false, err
		}
		if inner == nil {
			return m, false, fmt.Errorf("decode DHCPv6: %w: relay message without a relayed message", ErrMalformed)
		}
		msg = inner
	}
	m.MessageType = msg[0]
	switch m.MessageType {
	case 1, 3, 4, 5, 6, 8, 9, 11: // Solicit, Request, Confirm, Renew, Rebind, Release, Decline, Information-request
	default:
		return m, false, nil
	}
	if err := dhcpv6Options(msg[dhcpv6HeaderLen:], func(code uint16, data []byte) {
		switch code {
		case dhcpv6OptClientID:
			m.DUIDMAC = duidMAC(data)
		case dhcpv6OptFQDN: // flags(1) then a wire-format name
			if len(data) > 1 {
				m.Hostname = wireName(data[1:])
			}
		}
	}); err != nil {
		return m, false, err
	}
	if relayed {
		switch {
		case clientLL != nil:
			m.MAC = clientLL
		case m.DUIDMAC != nil:
			m.MAC = m.DUIDMAC
		default:
			return m, false, nil // the relay's MAC is not the client's
		}
	}
	return m, true, nil
}

// dhcpv6Options walks code(2) length(2) data options.
func dhcpv6Options(b []byte, fn func(code uint16, data []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("decode DHCPv6 option: %w: %d bytes left, want a 4-byte header", ErrMalformed, len(b))
		}
		code, n := binary.BigEndian.Uint16(b[0:2]), int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			return fmt.Errorf("decode DHCPv6 option %d: %w: length %d, %d bytes left", code, ErrMalformed, n, len(b)-4)
		}
		fn(code, b[4:4+n])
		b = b[4+n:]
	}
	return nil
}

// duidMAC returns the Ethernet address inside a DUID-LLT or DUID-LL (RFC 8415
// 11.2, 11.4), nil for other DUID types.
func duidMAC(duid []byte) []byte {
	if len(duid) < 4 || binary.BigEndian.Uint16(duid[2:4]) != hwTypeEthernet {
		return nil
	}
	switch binary.BigEndian.Uint16(duid[0:2]) {
	case duidLLT:
		if len(duid) == 14 {
			return duid[8:14]
		}
	case duidLL:
		if len(duid) == 10 {
			return duid[4:10]
		}
	}
	return nil
}

// dhcpv6Obs reports a DHCPv6 client message as an ObsIPv6 tying the client's
// (link-local) address to its MAC, with the Client FQDN as Hostname. The hop
// limit is not reported: DHCPv6 clients send link-local with 1 or 255.
func (d *Decoder) dhcpv6Obs(at time.Time, iface string, vlan uint16, emit func(daemon.Observation)) error {
	if len(d.src) != 6 {
		return nil
	}
	m, ok, err := ParseDHCPv6(d.payload, d.src, d.srcAddr())
	if err != nil || !ok || len(m.MAC) != 6 || isZero(m.MAC) || !m.Addr.IsValid() || m.Addr.IsUnspecified() {
		return err
	}
	emit(daemon.Observation{At: at, Kind: daemon.ObsIPv6, MAC: d.mac(m.MAC), Interface: iface, VLAN: vlan, IP: m.Addr, Hostname: m.Hostname})
	return nil
}
