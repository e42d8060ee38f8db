package radius

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/hallmonitor/hallmonitor/daemon"
)

func request(i int) *radius.Packet {
	p := radius.New(radius.CodeAccountingRequest, secret)
	p.Identifier = byte(i)
	_ = rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType(1+2*(i%2))) // Start / Interim-Update
	_ = rfc2865.UserName_SetString(p, fmt.Sprintf("pupil-%04d", i%3000))
	_ = rfc2865.CallingStationID_SetString(p, fmt.Sprintf("3C-28-6D-00-%02X-%02X", (i/256)%256, i%256))
	_ = rfc2865.CalledStationID_SetString(p, fmt.Sprintf("18-E8-29-00-00-%02X:Pupils", i%40))
	_ = rfc2865.NASIdentifier_SetString(p, fmt.Sprintf("classroom-%d", i%40))
	_ = rfc2866.AcctSessionID_SetString(p, fmt.Sprintf("%08X", i))
	return p
}

func BenchmarkParseAccounting(b *testing.B) {
	pkt, err := request(1).Encode()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	client := netip.MustParseAddr("10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(pkt, secret, client, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkListenerUDP is the whole path over loopback: a NAS sends distinct
// accounting requests (3,000 stations, 40 APs) with up to 64 in flight; each
// is verified, parsed, handed to a consumer and answered. The figure counts
// Accounting-Responses received by the sender.
func BenchmarkListenerUDP(b *testing.B) {
	l, err := New(Options{Listen: "127.0.0.1:0", Clients: loopbackClient})
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([][]byte, b.N)
	for i := range pkts {
		if pkts[i], err = request(i).Encode(); err != nil {
			b.Fatal(err)
		}
	}
	c, err := net.DialUDP("udp", nil, l.Addr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan daemon.Observation, 4096)
	var run, side errgroup.Group
	run.Go(func() error { return l.Run(ctx, out) })
	side.Go(func() error {
		for range out {
		}
		return nil
	})
	responses := make(chan int, 1)
	var got atomic.Int64
	side.Go(func() error {
		buf := make([]byte, 4096)
		n := 0
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		for n < b.N {
			if _, err := c.Read(buf); err != nil {
				break
			}
			n++
			got.Store(int64(n))
		}
		responses <- n
		return nil
	})
	b.ResetTimer()
	for i := range pkts {
		for int64(i)-got.Load() > 64 {
			time.Sleep(10 * time.Microsecond)
		}
		if _, err := c.Write(pkts[i]); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-responses:
	case <-time.After(10 * time.Second):
		_ = c.SetReadDeadline(time.Now())
		<-responses
	}
	b.StopTimer()
	cancel()
	if err := run.Wait(); err != nil {
		b.Fatal(err)
	}
	close(out)
	_ = side.Wait()
	b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "requests/s")
	if int(got.Load()) != b.N {
		b.Errorf("%d responses for %d requests; stats %+v", got.Load(), b.N, l.Stats())
	}
}
