package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// ngReader is a minimal pcapng reader (draft-ietf-opsawg-pcapng): section
// headers, interface descriptions, enhanced, simple and (obsolete) packet
// blocks; every other block is skipped unread. It replaces gopacket/pcapgo's
// NgReader, which allocates a buffer of an interface's declared snap length,
// or of a packet block's declared capture length, before checking either
// against the file (up to 4 GiB from a crafted file). Here nothing is
// allocated from a length field before it is checked: a packet longer than
// libpcap's 262144-byte ceiling (maxSnaplen) or than its own block is an
// error, the interface snap length only shortens simple packet blocks, and
// section and interface headers are read into a buffer of at most
// maxNgHeaderBlock bytes.
//
// It behaves as pcapgo with DefaultNgReaderOptions: the link type is the
// first interface's, and packets of interfaces with another link type are
// skipped.
type ngReader struct {
	r         *bufio.Reader
	order     binary.ByteOrder
	linkType  layers.LinkType
	haveLink  bool
	ifaces    []ngIface
	hdr       [32]byte
	buf       []byte // header block bodies and packet data, reused
	blockType uint32
	body      int // bytes of the current block after its type and length, trailing length included
}

// ngIface is what an interface description block says that matters here.
type ngIface struct {
	linkType  layers.LinkType
	snaplen   uint32
	tsDiv     uint64 // timestamp units per second
	tsOffset  uint64 // seconds added to every timestamp (if_tsoffset)
	scaleUp   uint64
	scaleDown uint64
}

const (
	ngSHB = 0x0a0d0d0a
	ngIDB = 1
	ngPB  = 2
	ngSPB = 3
	ngEPB = 6

	ngByteOrderMagic = 0x1a2b3c4d
	// maxNgHeaderBlock bounds the section header and interface description
	// blocks, which are read whole to walk their options (names, comments,
	// a capture filter: a few hundred bytes in practice).
	maxNgHeaderBlock = 64 << 10
)

// errNg wraps every format error of this reader.
var errNg = errors.New("malformed pcapng")

func ngErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errNg, fmt.Sprintf(format, a...))
}

// newNgReader reads the section header and the blocks up to the first
// interface description (a packet before it is an error, as in pcapgo).
func newNgReader(r *bufio.Reader) (*ngReader, error) {
	ng := &ngReader{r: r}
	if err := ng.next(); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if ng.blockType != ngSHB {
		return nil, ngErr("first block has type %#x, not a section header", ng.blockType)
	}
	if err := ng.section(); err != nil {
		return nil, err
	}
	for !ng.haveLink {
		if err := ng.next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch ng.blockType {
		case ngIDB:
			if err := ng.iface(); err != nil {
				return nil, err
			}
		case ngSHB:
			if err := ng.section(); err != nil {
				return nil, err
			}
		case ngPB, ngSPB, ngEPB:
			return nil, ngErr("packet block before any interface description")
		default:
			if err := ng.skip(); err != nil {
				return nil, err
			}
		}
	}
	return ng, nil
}

// LinkType is the first interface's link type.
func (ng *ngReader) LinkType() layers.LinkType { return ng.linkType }

// next reads a block's type and total length (and, for a section header,
// its byte-order magic, which sets the byte order). It returns io.EOF only at
// a clean end of file.
func (ng *ngReader) next() error {
	if _, err := io.ReadFull(ng.r, ng.hdr[:8]); err != nil {
		return err // io.EOF before the first byte, io.ErrUnexpectedEOF inside
	}
	order := ng.order
	typ := binary.LittleEndian.Uint32(ng.hdr[0:4]) // the SHB type reads the same either way
	if typ == ngSHB {
		if _, err := io.ReadFull(ng.r, ng.hdr[8:12]); err != nil {
			return noEOF(err)
		}
		switch {
		case binary.BigEndian.Uint32(ng.hdr[8:12]) == ngByteOrderMagic:
			order = binary.BigEndian
		case binary.LittleEndian.Uint32(ng.hdr[8:12]) == ngByteOrderMagic:
			order = binary.LittleEndian
		default:
			return ngErr("section header byte-order magic %x", ng.hdr[8:12])
		}
	}
	if order == nil {
		return ngErr("block before the section header")
	}
	ng.order = order
	ng.blockType = order.Uint32(ng.hdr[0:4])
	total := order.Uint32(ng.hdr[4:8])
	// Every block is type, length, body padded to 32 bits, length again.
	if total < 12 || total%4 != 0 {
		return ngErr("block type %#x has total length %d", ng.blockType, total)
	}
	ng.body = int(total) - 8
	if typ == ngSHB {
		if total < 28 {
			return ngErr("section header of %d bytes", total)
		}
		ng.body -= 4 // the byte-order magic was read
	}
	return nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skip discards the rest of the current block (Discard allocates nothing).
func (ng *ngReader) skip() error {
	n, err := ng.r.Discard(ng.body)
	ng.body -= n
	return noEOF(err)
}

// readBody reads the rest of a header block (at most maxNgHeaderBlock) into buf.
func (ng *ngReader) readBody() ([]byte, error) {
	if ng.body > maxNgHeaderBlock {
		return nil, ngErr("block type %#x of %d bytes (limit %d)", ng.blockType, ng.body, maxNgHeaderBlock)
	}
	b := ng.grow(ng.body)
	if _, err := io.ReadFull(ng.r, b); err != nil {
		return nil, noEOF(err)
	}
	ng.body = 0
	return b[:len(b)-4], nil // without the trailing length
}

func (ng *ngReader) grow(n int) []byte {
	if cap(ng.buf) < n {
		ng.buf = make([]byte, n)
	}
	return ng.buf[:n]
}

// section handles a section header: version 1.x, and a new, empty list of
// interfaces (interface ids are per section).
func (ng *ngReader) section() error {
	b, err := ng.readBody()
	if err != nil {
		return err
	}
	if major := ng.order.Uint16(b[0:2]); major != 1 {
		return ngErr("section version %d.%d", major, ng.order.Uint16(b[2:4]))
	}
	ng.ifaces = ng.ifaces[:0]
	return nil
}

// iface reads an interface description: link type, snap length, and the
// if_tsresol (9) and if_tsoffset (14) options.
func (ng *ngReader) iface() error {
	b, err := ng.readBody()
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return ngErr("interface description of %d bytes", len(b)+12)
	}
	if len(ng.ifaces) >= 1<<16 {
		return ngErr("more than 65536 interfaces in a section")
	}
	in := ngIface{linkType: layers.LinkType(ng.order.Uint16(b[0:2])), snaplen: ng.order.Uint32(b[4:8])}
	resol := byte(6) // microseconds unless if_tsresol says otherwise
	for opts := b[8:]; len(opts) >= 4; {
		code, n := ng.order.Uint16(opts[0:2]), int(ng.order.Uint16(opts[2:4]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == 9 && n >= 1:
			resol = v[0]
		case code == 14 && n >= 8:
			in.tsOffset = ng.order.Uint64(v)
		}
		opts = opts[min(len(opts), 4+(n+3)&^3):]
	}
	if exp := resol & 0x7f; resol&0x80 != 0 {
		if exp > 63 {
			return ngErr("timestamp resolution 2^-%d", exp)
		}
		in.tsDiv = 1 << exp
	} else {
		if exp > 19 {
			return ngErr("timestamp resolution 10^-%d", exp)
		}
		in.tsDiv = 1
		for range exp {
			in.tsDiv *= 10
		}
	}
	in.scaleUp, in.scaleDown = 1, 1
	if in.tsDiv < 1e9 {
		in.scaleUp = 1e9 / in.tsDiv
	} else {
		in.scaleDown = in.tsDiv / 1e9
	}
	ng.ifaces = append(ng.ifaces, in)
	if !ng.haveLink {
		ng.linkType, ng.haveLink = in.linkType, true
	}
	return nil
}

// ZeroCopyReadPacketData returns the next packet of an interface with the
// file's link type. data is valid until the next call.
func (ng *ngReader) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	for {
		if err := ng.next(); err != nil {
			return nil, ci, err
		}
		switch ng.blockType {
		case ngSHB:
			err = ng.section()
		case ngIDB:
			err = ng.iface()
		case ngEPB, ngPB:
			var ok bool
			data, ci, ok, err = ng.packet()
			if err == nil && ok {
				return data, ci, nil
			}
		case ngSPB:
			var ok bool
			data, ci, ok, err = ng.simplePacket()
			if err == nil && ok {
				return data, ci, nil
			}
		default:
			err = ng.skip()
		}
		if err != nil {
			return nil, ci, err
		}
	}
}

// packet reads an enhanced (or obsolete) packet block. ok is false for a
// packet of an interface with another link type (skipped).
func (ng *ngReader) packet() (data []byte, ci gopacket.CaptureInfo, ok bool, err error) {
	const fixed = 20 // interface id, timestamp (2×32 bits), captured and original length
	if ng.body < fixed+4 {
		return nil, ci, false, ngErr("packet block of %d bytes", ng.body+8)
	}
	h := ng.hdr[:fixed]
	if _, err := io.ReadFull(ng.r, h); err != nil {
		return nil, ci, false, noEOF(err)
	}
	ng.body -= fixed
	var id int
	if ng.blockType == ngEPB {
		id = int(ng.order.Uint32(h[0:4]))
	} else {
		id = int(ng.order.Uint16(h[0:2]))
	}
	if id < 0 || id >= len(ng.ifaces) {
		return nil, ci, false, ngErr("packet of interface %d; the section has %d", id, len(ng.ifaces))
	}
	in := ng.ifaces[id]
	caplen := ng.order.Uint32(h[12:16])
	if caplen > maxSnaplen {
		return nil, ci, false, ngErr("packet of %d bytes (limit %d)", caplen, maxSnaplen)
	}
	if int(caplen) > ng.body-4 {
		return nil, ci, false, ngErr("packet of %d bytes in a %d-byte block", caplen, ng.body+fixed+8)
	}
	if in.linkType != ng.linkType {
		return nil, ci, false, ng.skip()
	}
	ts := uint64(ng.order.Uint32(h[4:8]))<<32 | uint64(ng.order.Uint32(h[8:12]))
	ci = gopacket.CaptureInfo{
		Timestamp:      time.Unix(int64(ts/in.tsDiv+in.tsOffset), int64(ts%in.tsDiv*in.scaleUp/in.scaleDown)).UTC(),
		CaptureLength:  int(caplen),
		Length:         int(ng.order.Uint32(h[16:20])),
		InterfaceIndex: id,
	}
	data, err = ng.readData(int(caplen))
	return data, ci, err == nil, err
}

// simplePacket reads a simple packet block: interface 0, no timestamp, the
// original length cut to the interface's snap length and to the block.
func (ng *ngReader) simplePacket() (data []byte, ci gopacket.CaptureInfo, ok bool, err error) {
	if ng.body < 4+4 {
		return nil, ci, false, ngErr("simple packet block of %d bytes", ng.body+8)
	}
	if len(ng.ifaces) == 0 {
		return nil, ci, false, ngErr("simple packet block without an interface")
	}
	h := ng.hdr[:4]
	if _, err := io.ReadFull(ng.r, h); err != nil {
		return nil, ci, false, noEOF(err)
	}
	ng.body -= 4
	in := ng.ifaces[0]
	orig := ng.order.Uint32(h)
	caplen := min(uint64(orig), uint64(ng.body-4))
	if in.snaplen != 0 {
		caplen = min(caplen, uint64(in.snaplen))
	}
	if caplen > maxSnaplen {
		return nil, ci, false, ngErr("packet of %d bytes (limit %d)", caplen, maxSnaplen)
	}
	if in.linkType != ng.linkType {
		return nil, ci, false, ng.skip()
	}
	ci = gopacket.CaptureInfo{CaptureLength: int(caplen), Length: int(orig)}
	data, err = ng.readData(int(caplen))
	return data, ci, err == nil, err
}

// readData reads n packet bytes (n was checked against the block and
// maxSnaplen) and skips the rest of the block (padding, options).
func (ng *ngReader) readData(n int) ([]byte, error) {
	data := ng.grow(n)
	if _, err := io.ReadFull(ng.r, data); err != nil {
		return nil, noEOF(err)
	}
	ng.body -= n
	if err := ng.skip(); err != nil {
		return nil, err
	}
	return data, nil
}
