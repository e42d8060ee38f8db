package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Replay feeds a pcap or pcapng capture file through a Decoder as fast as the
// consumer takes observations, stamping each with its packet's capture time.
type Replay struct {
	Path  string
	Iface string // copied into Observation.Interface ("" for a plain replay)
	// Bypass, when set, turns on filter-bypass detection (NewDecoderWith).
	// A capture file does not say which frames the capturing host sent: run
	// it on a capture taken where the clients are (docs/bypass.md).
	Bypass *DecoderOptions
}

// ErrUnknownFormat is returned (wrapped) for a file that is neither pcap nor pcapng.
var ErrUnknownFormat = errors.New("not a pcap or pcapng file")

// packetSource is the part of pcapgo.Reader and ngReader Replay uses.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Run decodes every frame of the file and sends the observations to out. It
// returns nil at the end of the file, ctx.Err() when cancelled, or an error for
// an unreadable or unsupported file. Malformed frames are skipped (and
// counted; see ForEach).
func (r Replay) Run(ctx context.Context, out chan<- daemon.Observation) error {
	done := ctx.Done()
	_, err := r.ForEach(ctx, func(o daemon.Observation) error {
		select {
		case out <- o:
			return nil
		case <-done:
			return ctx.Err()
		}
	})
	return err
}

// ctxCheckEvery is how many frames ForEach reads between checks of ctx.
const ctxCheckEvery = 1024

// ForEach decodes every frame of the file in order and calls fn with each
// observation on the calling goroutine, with no channel and no buffering, so
// a consumer that only aggregates (classify) pays nothing per observation. It
// stops at the first error fn returns and returns it. The counters say how
// many frames were read and how many were truncated or malformed (those are
// skipped, as live capture does). Errors name the file.
func (r Replay) ForEach(ctx context.Context, fn func(daemon.Observation) error) (DecodeStats, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		return DecodeStats{}, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	src, err := openCapture(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return DecodeStats{}, fmt.Errorf("replay %s: %w", r.Path, err)
	}
	if lt := src.LinkType(); lt != layers.LinkTypeEthernet {
		return DecodeStats{}, fmt.Errorf("replay %s: link type %s not supported (Ethernet only)", r.Path, lt)
	}
	dec := NewDecoder()
	if r.Bypass != nil {
		dec = NewDecoderWith(*r.Bypass)
	}
	var fnErr error
	emit := func(o daemon.Observation) {
		if fnErr == nil {
			fnErr = fn(o)
		}
	}
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return dec.Stats(), err
			}
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dec.Stats(), nil
		}
		if err != nil {
			return dec.Stats(), fmt.Errorf("replay %s: read packet %d: %w", r.Path, n+1, err)
		}
		_ = dec.Decode(data, ci.Timestamp, r.Iface, emit) // counted in dec.Stats()
		if fnErr != nil {
			return dec.Stats(), fnErr
		}
	}
}

// ForEach decodes the capture file at path and calls fn with each observation
// in order (see Replay.ForEach).
func ForEach(ctx context.Context, path string, fn func(daemon.Observation) error) error {
	_, err := Replay{Path: path}.ForEach(ctx, fn)
	return err
}

// ReadFile decodes a whole capture file and returns its observations in
// order. It keeps every observation in memory: prefer ForEach for large files.
// Observations are gathered in chunks and copied once into the result, so a
// large capture costs one copy rather than the repeated copies (and
// unpreemptible memmoves the garbage collector waits on) of a growing slice.
func ReadFile(ctx context.Context, path string) ([]daemon.Observation, error) {
	var chunks [][]daemon.Observation
	cur := make([]daemon.Observation, 0, 256)
	total := 0
	err := ForEach(ctx, path, func(o daemon.Observation) error {
		if len(cur) == cap(cur) {
			chunks = append(chunks, cur)
			cur = make([]daemon.Observation, 0, min(2*cap(cur), 4096))
		}
		cur = append(cur, o)
		total++
		return nil
	})
	chunks = append(chunks, cur)
	obs := make([]daemon.Observation, 0, total)
	for _, c := range chunks {
		obs = append(obs, c...)
	}
	return obs, err
}

// maxSnaplen is libpcap's MAXIMUM_SNAPLEN.
const maxSnaplen = 262144

// openCapture picks the pcap or pcapng reader by the file's magic number.
func openCapture(r *bufio.Reader) (packetSource, error) {
	magic, err := r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes", ErrUnknownFormat, len(magic))
	}
	switch binary.BigEndian.Uint32(magic) {
	case 0x0a0d0d0a: // pcapng section header block
		// Our own reader, not pcapgo's NgReader: see ngReader.
		ng, err := newNgReader(r)
		if err != nil {
			return nil, fmt.Errorf("open pcapng: %w", err)
		}
		return ng, nil
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // pcap, µs or ns, either byte order
		p, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("open pcap: %w", err)
		}
		// pcapgo allocates a buffer of the header's snap length for the first
		// packet: a corrupt header (up to 4 GiB) must not decide that.
		// libpcap's own ceiling is 262144; longer records are an error.
		if p.Snaplen() == 0 || p.Snaplen() > maxSnaplen {
			p.SetSnaplen(maxSnaplen)
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: magic %x", ErrUnknownFormat, magic)
}
