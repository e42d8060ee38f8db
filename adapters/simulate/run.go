package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"go.uber.org/zap"
)

// Frames yields every frame of the day in time order, without waiting. It stops at the
// first frame that cannot be built (which is a bug) and yields its error.
func (s *School) Frames() iter.Seq2[Frame, error] {
	return func(yield func(Frame, error) bool) {
		for i := range s.events {
			f, err := s.frame(&s.events[i])
			if !yield(f, err) || err != nil {
				return
			}
		}
	}
}

// Run emits the day's frames in time order, each when Options.Clock reaches its time
// (frames already due are emitted at once). It returns nil when the day is over (at
// End, after the last device has left), ctx.Err() when ctx is cancelled, or emit's
// error, wrapped.
func (s *School) Run(ctx context.Context, emit func(Frame) error) error {
	if s.opts.Clock == nil {
		return errors.New("simulate: Run needs Options.Clock")
	}
	s.log.Info("simulated school day starting",
		zap.Time("first_frame", s.firstAt()), zap.Time("end", s.end), zap.Int("frames", len(s.events)))
	sent := 0
	for i := range s.events {
		e := &s.events[i]
		if err := s.waitUntil(ctx, e.at); err != nil {
			s.log.Info("simulated school day stopped", zap.Int("frames_sent", sent), zap.Error(err))
			return err
		}
		f, err := s.frame(e)
		if err != nil {
			return err
		}
		if err := emit(f); err != nil {
			return fmt.Errorf("simulate: emit %s of %s at %s: %w", e.kind, s.devices[e.dev].spec.MAC, e.at.Format(time.TimeOnly), err)
		}
		sent++
	}
	if err := s.waitUntil(ctx, s.end); err != nil {
		return err
	}
	s.log.Info("simulated school day over", zap.Int("frames_sent", sent))
	return nil
}

func (s *School) firstAt() time.Time {
	if len(s.events) == 0 {
		return s.start
	}
	return s.events[0].at
}

// waitUntil blocks until the clock reaches at or ctx is done.
func (s *School) waitUntil(ctx context.Context, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.opts.Clock.Now().Before(at) {
		return nil
	}
	c, stop := s.opts.Clock.Timer(at)
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c:
		return nil
	}
}

// WritePcap writes the whole day as a classic pcap file (Ethernet link type,
// microsecond timestamps), for `hallmonitor replay` or Wireshark.
func (s *School) WritePcap(w io.Writer) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("simulate: write pcap header: %w", err)
	}
	for f, err := range s.Frames() {
		if err != nil {
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: f.At, CaptureLength: len(f.Data), Length: len(f.Data)}
		if err := pw.WritePacket(ci, f.Data); err != nil {
			return fmt.Errorf("simulate: write pcap packet at %s: %w", f.At.Format(time.TimeOnly), err)
		}
	}
	return nil
}
