package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// ngFile builds pcapng files block by block, in either byte order.
type ngFile struct {
	order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	b []byte
}

func (f *ngFile) u16(v uint16) []byte { return f.order.AppendUint16(nil, v) }
func (f *ngFile) u32(v uint32) []byte { return f.order.AppendUint32(nil, v) }

// block appends a block of type typ whose body is the concatenation of parts
// (padded to 32 bits). totalOverride, when non-zero, replaces the total length.
func (f *ngFile) block(typ uint32, totalOverride uint32, parts ...[]byte) *ngFile {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	if totalOverride != 0 {
		total = totalOverride
	}
	f.b = append(f.b, f.u32(typ)...)
	f.b = append(f.b, f.u32(total)...)
	f.b = append(f.b, body...)
	f.b = append(f.b, f.u32(total)...)
	return f
}

func (f *ngFile) shb() *ngFile {
	return f.block(ngSHB, 0, f.u32(ngByteOrderMagic), f.u16(1), f.u16(0), bytes.Repeat([]byte{0xff}, 8))
}

// idb appends an interface description; opts are raw options (code, value).
func (f *ngFile) idb(link uint16, snaplen uint32, opts ...[]byte) *ngFile {
	parts := [][]byte{f.u16(link), f.u16(0), f.u32(snaplen)}
	for _, o := range opts {
		parts = append(parts, o)
	}
	if len(opts) > 0 {
		parts = append(parts, f.u32(0)) // opt_endofopt
	}
	return f.block(ngIDB, 0, parts...)
}

func (f *ngFile) opt(code uint16, v []byte) []byte {
	o := append(append(f.u16(code), f.u16(uint16(len(v)))...), v...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

func (f *ngFile) epb(iface uint32, ts uint64, caplen uint32, data []byte) *ngFile {
	return f.block(ngEPB, 0, f.u32(iface), f.u32(uint32(ts>>32)), f.u32(uint32(ts)), f.u32(caplen), f.u32(uint32(len(data))), data,
		f.opt(1, []byte("a comment")), f.u32(0))
}

func (f *ngFile) pb(iface uint16, ts uint64, data []byte) *ngFile {
	return f.block(ngPB, 0, f.u16(iface), f.u16(0), f.u32(uint32(ts>>32)), f.u32(uint32(ts)), f.u32(uint32(len(data))), f.u32(uint32(len(data))), data)
}

func (f *ngFile) spb(orig uint32, data []byte) *ngFile {
	return f.block(ngSPB, 0, f.u32(orig), data)
}

type ngPacket struct {
	data []byte
	ci   gopacket.CaptureInfo
}

func readAll(t *testing.T, src packetSource) ([]ngPacket, error) {
	t.Helper()
	var out []ngPacket
	for {
		data, ci, err := src.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
		ci.AncillaryData = nil
		out = append(out, ngPacket{append([]byte(nil), data...), ci})
	}
}

// TestNgReaderMatchesPcapgo: on well-formed files (the reference pcapng,
// files pcapgo's writer produces, hand-built big-endian files with simple and
// obsolete packet blocks, binary and decimal timestamp resolutions, a second
// section and an interface of another link type) our reader returns exactly
// what pcapgo's NgReader returns.
func TestNgReaderMatchesPcapgo(t *testing.T) {
	frame := iosDiscover(t, 0)
	files := map[string][]byte{}
	if b, err := os.ReadFile(filepath.Join(refDir, "tcpdump-tests/dhcp-option-108.pcapng")); err == nil {
		files["reference dhcp-option-108.pcapng"] = b
	} else {
		t.Logf("reference capture not available: %v", err)
	}
	var w bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&w, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 123456789), CaptureLength: len(frame), Length: len(frame)}
		if err := nw.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		t.Fatal(err)
	}
	files["pcapgo writer"] = w.Bytes()
	for _, order := range []interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}{binary.BigEndian, binary.LittleEndian} {
		f := &ngFile{order: order}
		f.shb().
			idb(uint16(layers.LinkTypeEthernet), 0, f.opt(2, []byte("wlan0")), f.opt(9, []byte{0x80 | 20}), f.opt(14, f.order.AppendUint64(nil, 100))).
			idb(uint16(layers.LinkTypeRaw), 65535).
			epb(0, 3<<20|5, uint32(len(frame)), frame).
			epb(1, 7, uint32(len(frame)), frame). // other link type: skipped
			spb(uint32(len(frame)), frame).
			pb(0, 9<<20, frame).
			block(0x0bad, 0, []byte("unknown block")).
			shb().
			idb(uint16(layers.LinkTypeEthernet), 96, f.opt(9, []byte{9})).
			epb(0, 1700000000123456789, 60, frame[:60]).
			spb(uint32(len(frame)), frame) // cut to the 96-byte snap length
		files[order.String()] = f.b
	}
	for name, b := range files {
		pg, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: pcapgo: %v", name, err)
		}
		want, err := readAll(t, pg)
		if err != nil {
			t.Fatalf("%s: pcapgo: %v", name, err)
		}
		ours, err := newNgReader(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ours.LinkType() != pg.LinkType() {
			t.Errorf("%s: link type %v, pcapgo %v", name, ours.LinkType(), pg.LinkType())
		}
		got, err := readAll(t, ours)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: %d packets, pcapgo %d", name, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || !got[i].ci.Timestamp.Equal(want[i].ci.Timestamp) ||
				got[i].ci.CaptureLength != want[i].ci.CaptureLength || got[i].ci.Length != want[i].ci.Length ||
				got[i].ci.InterfaceIndex != want[i].ci.InterfaceIndex {
				t.Errorf("%s: packet %d: got %+v (%d bytes), pcapgo %+v (%d bytes)", name, i, got[i].ci, len(got[i].data), want[i].ci, len(want[i].data))
			}
		}
	}
}

// TestReplayBoundsPcapngLengths: a pcapng interface claiming a 4 GiB snap
// length, a packet block claiming a 4 GiB capture length, and a simple packet
// block claiming a 4 GiB original length on an interface with no snap length
// do not make Replay allocate them (pcapgo's NgReader allocated each). The
// first file's packets are still read; a packet longer than libpcap's
// 262144-byte ceiling or than its block is an error naming the file.
func TestReplayBoundsPcapngLengths(t *testing.T) {
	frame := iosDiscover(t, 0)
	le := func() *ngFile { return &ngFile{order: binary.LittleEndian} }
	f := le()
	hugeSnap := f.shb().idb(1, 0xffffffff).epb(0, 1, uint32(len(frame)), frame).b
	f = le()
	spb := f.shb().idb(1, 0).spb(0xfffffff0, frame).b
	f = le()
	hugeCap := f.shb().idb(1, 65535).epb(0, 1, 0xffffffff, frame).b
	f = le()
	overBlock := f.shb().idb(1, 0).epb(0, 1, uint32(len(frame)+200), frame).b
	f = le()
	bigIDB := f.shb().block(ngIDB, 0xfffffff0).b
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		file    []byte
		wantObs bool // the DHCP packet decodes
		wantErr string
	}{
		{"idb-snaplen-4GiB", hugeSnap, true, ""},
		{"spb-origlen-4GiB", spb, true, ""},
		{"epb-caplen-4GiB", hugeCap, false, "limit 262144"},
		{"epb-caplen-past-block", overBlock, false, "-byte block"},
		{"idb-4GiB-block", bigIDB, false, "limit 65536"},
	} {
		path := filepath.Join(dir, tt.name+".pcapng")
		if err := os.WriteFile(path, tt.file, 0o600); err != nil {
			t.Fatal(err)
		}
		var obs int
		var ms1, ms2 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		err := ForEach(context.Background(), path, func(daemon.Observation) error { obs++; return nil })
		runtime.ReadMemStats(&ms2)
		if d := ms2.TotalAlloc - ms1.TotalAlloc; d > 16<<20 {
			t.Errorf("%s: replaying a 1-packet file allocated %d bytes", tt.name, d)
		}
		if (obs > 0) != tt.wantObs {
			t.Errorf("%s: %d observations, want some: %v", tt.name, obs, tt.wantObs)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: err = %v, want one naming %s and saying %q", tt.name, err, path, tt.wantErr)
		}
	}
}
