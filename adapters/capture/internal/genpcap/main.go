// Command genpcap writes a pcap of synthetic mixed gateway traffic (see
// package synth) for benchmarks:
//
//	go run ./adapters/capture/internal/genpcap -n 1000000 -devices 3000 -o mixed.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/hallmonitor/hallmonitor/adapters/capture/internal/synth"
)

func main() {
	n := flag.Int("n", 1000000, "packets to write")
	devices := flag.Int("devices", 3000, "distinct device MACs")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same file)")
	out := flag.String("o", "", "output pcap file (required)")
	flag.Parse()
	if *out == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: genpcap -o FILE [-n PACKETS] [-devices N] [-seed S]")
		os.Exit(2)
	}
	counts, err := write(*out, *n, *devices, *seed)
	if err != nil {
		fmt.Fprintf(os.Stderr, "genpcap: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genpcap: wrote %d packets to %s:", *n, *out)
	for k, c := range counts {
		fmt.Fprintf(os.Stderr, " %s=%d", synth.Kind(k), c)
	}
	fmt.Fprintln(os.Stderr)
}

func write(path string, n, devices int, seed uint64) ([synth.NumKinds]int, error) {
	var counts [synth.NumKinds]int
	f, err := os.Create(path)
	if err != nil {
		return counts, fmt.Errorf("create: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return counts, fmt.Errorf("write %s: %w", path, err)
	}
	g := synth.New(seed, devices)
	t := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		frame, k, err := g.Next()
		if err != nil {
			f.Close()
			return counts, err
		}
		counts[k]++
		t = t.Add(50 * time.Microsecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			f.Close()
			return counts, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return counts, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return counts, fmt.Errorf("close %s: %w", path, err)
	}
	return counts, nil
}
