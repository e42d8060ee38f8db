package radius

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/hallmonitor/hallmonitor/adapters/apfeed"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// Why a datagram was not accepted.
var (
	ErrMalformed        = errors.New("malformed RADIUS packet")
	ErrNotAccounting    = errors.New("not an Accounting-Request")
	ErrBadAuthenticator = errors.New("Request Authenticator does not match the shared secret")
)

// maxDelay bounds the Acct-Delay-Time believed (RFC 2866: how long the NAS
// has been trying to send); beyond it the receive time is used.
const maxDelay = time.Hour

// eventSkew bounds how far Event-Timestamp (RFC 2869) may be from the
// receive time (less Acct-Delay-Time) before the NAS clock is distrusted.
const eventSkew = 5 * time.Minute

// Request is a verified Accounting-Request.
type Request struct {
	Packet *radius.Packet
	Status rfc2866.AcctStatusType
	// Station is false when the request names no device: Accounting-On/Off
	// (a NAS restarting), or a Calling-Station-Id that is not a MAC address.
	Station bool
	// Observation is the device's location fact (when Station). Its APEvent is
	// associate for Start and Interim-Update (the Listener turns an Interim at
	// a different AP into roam) and disassociate for Stop.
	Observation daemon.Observation
	// SessionID is Acct-Session-Id, for logs.
	SessionID string
}

// Parse verifies one Accounting-Request datagram with the client's shared
// secret (RFC 2866 §3: the Request Authenticator is MD5(Code, Identifier,
// Length, 16 zero octets, attributes, secret)) and reads the attributes a
// location feed needs. client is the sender's address (the Source, and the AP
// of last resort); now is the receive time. Octets beyond the Length field
// are padding and ignored (RFC 2865 §3).
func Parse(b, secret []byte, client netip.Addr, now time.Time) (Request, error) {
	if len(b) < 20 {
		return Request{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > radius.MaxPacketLength || n > len(b) {
		return Request{}, fmt.Errorf("%w: length field %d, datagram %d", ErrMalformed, n, len(b))
	}
	b = b[:n]
	if radius.Code(b[0]) != radius.CodeAccountingRequest {
		return Request{}, fmt.Errorf("%w: code %d", ErrNotAccounting, b[0])
	}
	if !radius.IsAuthenticRequest(b, secret) {
		return Request{}, ErrBadAuthenticator
	}
	p, err := radius.Parse(b, secret)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	status, err := rfc2866.AcctStatusType_Lookup(p)
	if err != nil {
		return Request{}, fmt.Errorf("%w: Acct-Status-Type: %w", ErrMalformed, err)
	}
	req := Request{Packet: p, Status: status, SessionID: rfc2866.AcctSessionID_GetString(p)}
	var ev string
	switch status {
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_InterimUpdate:
		ev = "associate"
	case rfc2866.AcctStatusType_Value_Stop:
		ev = "disassociate"
	default:
		return req, nil // Accounting-On/Off, Failed, tunnel records: no station
	}
	mac, ok := apfeed.NormalizeMAC(rfc2865.CallingStationID_GetString(p))
	if !ok {
		return req, nil
	}
	o := daemon.Observation{
		At: eventTime(p, now), Kind: daemon.ObsRADIUS, MAC: mac, APEvent: ev,
		Identity: rfc2865.UserName_GetString(p), AP: rfc2865.NASIdentifier_GetString(p),
		Source: "radius:" + client.String(),
	}
	o.APMAC, o.SSID = CalledStation(rfc2865.CalledStationID_GetString(p))
	if ip, err := rfc2865.FramedIPAddress_Lookup(p); err == nil {
		if a, ok := netip.AddrFromSlice(ip); ok {
			o.IP = a.Unmap()
		}
	}
	if o.AP == "" {
		o.AP = o.APMAC
	}
	if o.AP == "" {
		if ip, err := rfc2865.NASIPAddress_Lookup(p); err == nil {
			if a, ok := netip.AddrFromSlice(ip); ok {
				o.AP = a.Unmap().String()
			}
		}
	}
	if o.AP == "" {
		o.AP = client.String()
	}
	req.Station, req.Observation = true, o
	return req, nil
}

// eventTime is when the event happened: the receive time less
// Acct-Delay-Time, or Event-Timestamp when that is close to it.
func eventTime(p *radius.Packet, now time.Time) time.Time {
	at := now
	if d := time.Duration(rfc2866.AcctDelayTime_Get(p)) * time.Second; d > 0 && d <= maxDelay {
		at = now.Add(-d)
	}
	if ts, err := rfc2869.EventTimestamp_Lookup(p); err == nil {
		if diff := ts.Sub(at); diff > -eventSkew && diff < eventSkew {
			return ts.In(now.Location())
		}
	}
	return at
}

// CalledStation splits a Called-Station-Id into the AP's MAC and the SSID.
// RFC 3580 §3.20 recommends "AA-BB-CC-DD-EE-FF:SSID"; vendors also send the
// MAC alone, colon or dotted forms, or 12 bare hex digits. Anything that
// does not start with a MAC gives ("", "").
func CalledStation(s string) (apmac, ssid string) {
	mac, rest, ok := apfeed.SplitMAC(s)
	if !ok {
		return "", ""
	}
	if rest == "" {
		return mac, ""
	}
	if rest[0] == ':' || rest[0] == '-' {
		return mac, rest[1:]
	}
	return "", "" // a MAC followed by more hex or text: not this format
}
