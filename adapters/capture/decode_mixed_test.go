package capture

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// mixedFrames returns n frames of the synthetic gateway mix and their kinds.
func mixedFrames(tb testing.TB, n, devices int) ([][]byte, []synth.Kind) {
	tb.Helper()
	g := synth.New(42, devices)
	frames, kinds := make([][]byte, n), make([]synth.Kind, n)
	for i := range frames {
		f, k, err := g.Next()
		if err != nil {
			tb.Fatal(err)
		}
		frames[i], kinds[i] = f, k
	}
	return frames, kinds
}

// TestDecodeMixedStream: on the synthetic gateway mix every frame of a kind
// that should produce an observation produces exactly one, with the right kind
// and MAC, and nothing else does; no frame is counted as malformed.
func TestDecodeMixedStream(t *testing.T) {
	t.Run("bypass off", func(t *testing.T) { testDecodeMixedStream(t, NewDecoder()) })
	// With bypass detection on and the synthetic resolver as the school's,
	// the mix (HTTPS mid-connection, QUIC to ordinary servers, DNS to the
	// school resolver, TTL 64) holds no finding: nothing more is reported.
	t.Run("bypass on", func(t *testing.T) { testDecodeMixedStream(t, NewDecoderWith(mixedBypassOptions)) })
}

var mixedBypassOptions = DecoderOptions{SchoolResolvers: []netip.Addr{netip.MustParseAddr("10.20.0.1")}}

func testDecodeMixedStream(t *testing.T, d *Decoder) {
	frames, kinds := mixedFrames(t, 20000, 500)
	wantKind := map[synth.Kind]daemon.ObsKind{synth.DNSQuery: daemon.ObsDNS, synth.ARP: daemon.ObsARP, synth.MDNSReply: daemon.ObsDNS,
		synth.DHCP: daemon.ObsDHCP, synth.ND: daemon.ObsIPv6, synth.DHCPv6: daemon.ObsIPv6}
	var per [synth.NumKinds]int
	for i, f := range frames {
		var got []daemon.Observation
		if err := d.Decode(f, time.Time{}, "eth0", func(o daemon.Observation) { got = append(got, o) }); err != nil {
			t.Fatalf("frame %d (%s): %v", i, kinds[i], err)
		}
		want := 0
		if kinds[i].Observes() {
			want = 1
		}
		if len(got) != want {
			t.Fatalf("frame %d (%s): %d observations, want %d", i, kinds[i], len(got), want)
		}
		if want == 1 {
			per[kinds[i]]++
			if got[0].Kind != wantKind[kinds[i]] || got[0].MAC == "" || got[0].VLAN == 0 {
				t.Errorf("frame %d (%s): %+v", i, kinds[i], got[0])
			}
		}
	}
	st := d.Stats()
	if st.Frames != uint64(len(frames)) || st.Truncated+st.Malformed != 0 {
		t.Errorf("stats %+v: want %d frames, none bad", st, len(frames))
	}
	for _, k := range []synth.Kind{synth.DNSQuery, synth.ARP, synth.MDNSReply, synth.DHCP, synth.ND, synth.DHCPv6} {
		if per[k] == 0 {
			t.Errorf("no %s frame in the mix: the test does not cover it", k)
		}
	}
}

// BenchmarkDecodeMixed decodes the synthetic gateway mix (70 % TCP, 12 % QUIC,
// 6 % DNS queries, 6 % replies, ARP, mDNS, DHCP, ND, DHCPv6; 3,000 devices,
// all 802.1Q tagged). ns/op and allocs/op are per packet; allocs/obs are
// allocations per observation (the name and MAC caches are warm, as in a
// running daemon); the non-matching sub-benchmark is the frames that yield
// nothing.
func BenchmarkDecodeMixed(b *testing.B) {
	frames, kinds := mixedFrames(b, 1<<16, 3000)
	var none [][]byte
	for i, f := range frames {
		if !kinds[i].Observes() {
			none = append(none, f)
		}
	}
	run := func(b *testing.B, frames [][]byte, d *Decoder) {
		obs := 0
		emit := func(daemon.Observation) { obs++ }
		at := time.Unix(1700000000, 0)
		for _, f := range frames { // warm the caches, as a running daemon's are
			_ = d.Decode(f, at, "eth0", emit)
		}
		obs = 0
		var m0, m1 runtime.MemStats
		b.ReportAllocs()
		b.ResetTimer()
		runtime.ReadMemStats(&m0)
		for i := 0; i < b.N; i++ {
			if err := d.Decode(frames[i%len(frames)], at, "eth0", emit); err != nil {
				b.Fatal(err)
			}
		}
		runtime.ReadMemStats(&m1)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		b.ReportMetric(float64(obs)/float64(b.N), "obs/op")
		if obs > 0 {
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(obs), "allocs/obs")
		}
	}
	b.Run("all", func(b *testing.B) { run(b, frames, NewDecoder()) })
	b.Run("non-matching", func(b *testing.B) { run(b, none, NewDecoder()) })
	// the same streams with filter-bypass detection on (every TCP segment
	// and UDP datagram is looked at, as in a replay without the kernel filter)
	b.Run("all-bypass", func(b *testing.B) { run(b, frames, NewDecoderWith(mixedBypassOptions)) })
	b.Run("non-matching-bypass", func(b *testing.B) { run(b, none, NewDecoderWith(mixedBypassOptions)) })
}

// TestDecodeNoAllocsOnMixedNonMatching: none of the frames of the mix that
// yield nothing (TCP, QUIC, DNS replies, mDNS queries) allocates.
func TestDecodeNoAllocsOnMixedNonMatching(t *testing.T) {
	frames, kinds := mixedFrames(t, 4000, 300)
	for _, d := range []*Decoder{NewDecoder(), NewDecoderWith(mixedBypassOptions)} {
		emit := func(daemon.Observation) { t.Fatal("unexpected observation") }
		for i, f := range frames {
			if kinds[i].Observes() {
				continue
			}
			if a := testing.AllocsPerRun(5, func() { _ = d.Decode(f, time.Time{}, "eth0", emit) }); a != 0 {
				t.Fatalf("frame %d (%s), bypass %v: %.1f allocs, want 0", i, kinds[i], d.bp != nil, a)
			}
		}
	}
}

// BenchmarkReplayFile replays the capture named by HALLMONITOR_BENCH_PCAP
// (e.g. one written by internal/genpcap) through ForEach, as classify does;
// skipped when unset.
func BenchmarkReplayFile(b *testing.B) {
	path := os.Getenv("HALLMONITOR_BENCH_PCAP")
	if path == "" {
		b.Skip("set HALLMONITOR_BENCH_PCAP to a capture file")
	}
	var frames uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		st, err := Replay{Path: path}.ForEach(context.Background(), func(daemon.Observation) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		frames += st.Frames
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "packets/s")
}
