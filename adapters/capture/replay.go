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
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Replay feeds a pcap or pcapng capture file through a Decoder as fast as the
// consumer takes observations, stamping each with its packet's capture time.
type Replay struct {
	Path  string
	Iface string // copied into Observation.Interface ("" for a plain replay)
}

// ErrUnknownFormat is returned (wrapped) for a file that is neither pcap nor pcapng.
var ErrUnknownFormat = errors.New("not a pcap or pcapng file")

// packetSource is the part of pcapgo.Reader and pcapgo.NgReader Replay uses.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Run decodes every frame of the file and sends the observations to out. It
// returns nil at the end of the file, ctx.Err() when cancelled, or an error for
// an unreadable or unsupported file. Malformed frames are skipped.
func (r Replay) Run(ctx context.Context, out chan<- daemon.Observation) error {
	f, err := os.Open(r.Path)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	src, err := openCapture(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("replay %s: %w", r.Path, err)
	}
	if lt := src.LinkType(); lt != layers.LinkTypeEthernet {
		return fmt.Errorf("replay %s: link type %s not supported (Ethernet only)", r.Path, lt)
	}
	dec := NewDecoder()
	var sendErr error
	emit := func(o daemon.Observation) {
		if sendErr != nil {
			return
		}
		select {
		case out <- o:
		case <-ctx.Done():
			sendErr = ctx.Err()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replay %s: read packet: %w", r.Path, err)
		}
		_ = dec.Decode(data, ci.Timestamp, r.Iface, emit) // malformed frames are skipped, as live capture does
		if sendErr != nil {
			return sendErr
		}
	}
}

// ReadFile decodes a whole capture file and returns its observations in order.
func ReadFile(ctx context.Context, path string) ([]daemon.Observation, error) {
	ch := make(chan daemon.Observation, 64)
	var obs []daemon.Observation
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ch)
		return Replay{Path: path}.Run(ctx, ch)
	})
	for o := range ch {
		obs = append(obs, o)
	}
	return obs, g.Wait()
}

// openCapture picks the pcap or pcapng reader by the file's magic number.
func openCapture(r *bufio.Reader) (packetSource, error) {
	magic, err := r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes", ErrUnknownFormat, len(magic))
	}
	switch binary.BigEndian.Uint32(magic) {
	case 0x0a0d0d0a: // pcapng section header block
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("open pcapng: %w", err)
		}
		return ng, nil
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1: // pcap, µs or ns, either byte order
		p, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("open pcap: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: magic %x", ErrUnknownFormat, magic)
}
