//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// Live captures from network interfaces with AF_PACKET sockets (pure Go, no
// cgo, no libpcap), filtered in the kernel by Filter(), one goroutine per
// interface. An interface that disappears is re-opened with exponential
// backoff; state changes are logged once each.
//
// It uses its own small AF_PACKET reader rather than gopacket/pcapgo's
// EthernetHandle because that handle blocks in recvmsg with no timeout and no
// way to reach its socket, so a cancelled context could not stop it.
type Live struct {
	Interfaces []string
	// UntaggedVLAN gives the VLAN an interface carries untagged (a VLAN
	// sub-interface such as eth1.30, whose tags the kernel has removed, or a
	// per-VLAN bridge): frames arriving there without an 802.1Q tag count as
	// that VLAN. Interfaces not listed are trunks (or carry no VLANs).
	UntaggedVLAN map[string]uint16
	Logger       *zap.Logger
	// NetNS optionally names a network namespace file (e.g. /run/netns/lab) in
	// which the interfaces live; the sockets are opened there.
	NetNS string
	// MinBackoff and MaxBackoff bound re-open delays (defaults 250ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// RecvBuffer is the socket receive buffer in bytes (default 8 MiB; set
	// with SO_RCVBUFFORCE, which CAP_NET_ADMIN allows, else SO_RCVBUF, which
	// the kernel caps at net.core.rmem_max). It absorbs bursts while the
	// reader is busy: at about 1 KiB of kernel memory per small frame, 8 MiB
	// holds some 8,000 frames.
	RecvBuffer int
	// Bypass, when set, turns on filter-bypass detection (NewDecoderWith) and
	// attaches BypassFilter instead of Filter: TCP SYNs, QUIC handshakes and
	// VPN handshakes reach user space too (docs/bypass.md). Frames the host
	// itself sends (PACKET_OUTGOING) are never judged.
	Bypass *DecoderOptions

	mu     sync.Mutex
	ifaces map[string]*ifaceCounters
}

// Interface states in InterfaceStats.State.
const (
	StateWaiting   = "waiting"   // not opened yet: the interface does not exist (yet) or cannot be opened
	StateCapturing = "capturing" // the socket is open and being read
	StateLost      = "lost"      // it was capturing and went away; re-opening with backoff
)

// LiveStats are cumulative counters since Run started, for metrics and
// health: the totals over all interfaces, and each interface's own.
type LiveStats struct {
	Packets      uint64 // frames that passed the kernel filter and were read
	Observations uint64 // observations sent
	DecodeErrors uint64 // frames of interest that failed to decode (Truncated + Malformed)
	Truncated    uint64 // frames cut short before a header or message of interest
	Malformed    uint64 // frames of interest with inconsistent fields
	ReadErrors   uint64 // socket read errors other than timeouts
	Reopens      uint64 // successful re-opens after an interface went away
	// KernelPackets and KernelDrops are the kernel's PACKET_STATISTICS:
	// frames that passed the filter, and those dropped because the socket's
	// receive buffer was full (the reader fell behind).
	KernelPackets, KernelDrops uint64
	Interfaces                 []InterfaceStats // sorted by name
}

// InterfaceStats is one capture interface's state and counters.
type InterfaceStats struct {
	Name                       string
	State                      string    // StateWaiting, StateCapturing or StateLost
	Since                      time.Time // when State last changed
	LastError                  string    // why it is waiting or lost ("" while capturing)
	Reopens                    uint64
	Packets, Observations      uint64
	Truncated, Malformed       uint64
	ReadErrors                 uint64
	KernelPackets, KernelDrops uint64
}

// ifaceCounters are one interface's live counters.
type ifaceCounters struct {
	packets, observations, truncated, malformed, readErrors, reopens atomic.Uint64
	kernelPackets, kernelDrops                                       atomic.Uint64

	mu        sync.Mutex
	state     string
	since     time.Time
	lastError string
}

func (c *ifaceCounters) setState(state string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != state {
		c.state, c.since = state, time.Now()
	}
	c.lastError = ""
	if err != nil {
		c.lastError = err.Error()
	}
}

// counters returns the named interface's counters, creating them.
func (l *Live) counters(name string) *ifaceCounters {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ifaces == nil {
		l.ifaces = map[string]*ifaceCounters{}
	}
	c := l.ifaces[name]
	if c == nil {
		c = &ifaceCounters{state: StateWaiting, since: time.Now()}
		l.ifaces[name] = c
	}
	return c
}

// Stats returns the counters; safe to call concurrently with Run.
func (l *Live) Stats() LiveStats {
	l.mu.Lock()
	names := make([]string, 0, len(l.ifaces))
	for n := range l.ifaces {
		names = append(names, n)
	}
	cs := make([]*ifaceCounters, 0, len(names))
	slices.Sort(names)
	for _, n := range names {
		cs = append(cs, l.ifaces[n])
	}
	l.mu.Unlock()
	var st LiveStats
	for i, c := range cs {
		c.mu.Lock()
		is := InterfaceStats{Name: names[i], State: c.state, Since: c.since, LastError: c.lastError}
		c.mu.Unlock()
		is.Reopens, is.Packets, is.Observations = c.reopens.Load(), c.packets.Load(), c.observations.Load()
		is.Truncated, is.Malformed, is.ReadErrors = c.truncated.Load(), c.malformed.Load(), c.readErrors.Load()
		is.KernelPackets, is.KernelDrops = c.kernelPackets.Load(), c.kernelDrops.Load()
		st.Interfaces = append(st.Interfaces, is)
		st.Packets += is.Packets
		st.Observations += is.Observations
		st.Truncated += is.Truncated
		st.Malformed += is.Malformed
		st.ReadErrors += is.ReadErrors
		st.Reopens += is.Reopens
		st.KernelPackets += is.KernelPackets
		st.KernelDrops += is.KernelDrops
	}
	st.DecodeErrors = st.Truncated + st.Malformed
	return st
}

const (
	readTimeout       = 200 * time.Millisecond
	captureBuffer     = 1 << 16
	defaultRecvBuffer = 8 << 20
	kernelStatsEvery  = time.Second
)

// Run captures until ctx is cancelled (returning nil) or the socket cannot be
// set up for a reason re-trying will not fix (permissions).
func (l *Live) Run(ctx context.Context, out chan<- daemon.Observation) error {
	if len(l.Interfaces) == 0 {
		return errors.New("live capture: no interfaces")
	}
	filter, err := Filter()
	if l.Bypass != nil {
		filter, err = BypassFilter()
	}
	if err != nil {
		return err
	}
	log := l.Logger
	if log == nil {
		log = zap.NewNop()
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, name := range l.Interfaces {
		l.counters(name)
		g.Go(func() error { return l.runInterface(ctx, name, filter, log.With(zap.String("interface", name)), out) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (l *Live) backoffs() (time.Duration, time.Duration) {
	lo, hi := l.MinBackoff, l.MaxBackoff
	if lo <= 0 {
		lo = 250 * time.Millisecond
	}
	if hi < lo {
		hi = max(30*time.Second, lo)
	}
	return lo, hi
}

// runInterface keeps one interface's socket open and read until ctx ends.
func (l *Live) runInterface(ctx context.Context, name string, filter []bpf.RawInstruction, log *zap.Logger, out chan<- daemon.Observation) error {
	lo, hi := l.backoffs()
	delay := lo
	opened := false
	failing := false
	c := l.counters(name)
	rcvbuf := l.RecvBuffer
	if rcvbuf <= 0 {
		rcvbuf = defaultRecvBuffer
	}
	for {
		s, err := openSocket(l.NetNS, name, filter, rcvbuf)
		switch {
		case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			err = fmt.Errorf("live capture on %s: %w (needs CAP_NET_RAW)", name, err)
			c.setState(StateWaiting, err)
			return err
		case err != nil:
			if opened {
				c.setState(StateLost, err)
			} else {
				c.setState(StateWaiting, err)
			}
			if !failing {
				log.Warn("capture interface unavailable; retrying with backoff", zap.Error(err))
				failing = true
			}
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			delay = min(delay*2, hi)
			continue
		}
		if opened {
			c.reopens.Add(1)
			log.Info("capture interface re-opened")
		} else {
			log.Info("capture started")
		}
		c.setState(StateCapturing, nil)
		opened, failing, delay = true, false, lo
		err = l.read(ctx, s, name, c, out)
		s.kernelStats(c)
		s.close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.setState(StateLost, err)
		log.Warn("capture interface went away; re-opening", zap.Error(err))
	}
}

// read decodes frames from s until ctx ends or the interface disappears.
func (l *Live) read(ctx context.Context, s *packetSocket, iface string, c *ifaceCounters, out chan<- daemon.Observation) error {
	dec := NewDecoder()
	if l.Bypass != nil {
		dec = NewDecoderWith(*l.Bypass)
	}
	untagged := l.UntaggedVLAN[iface]
	var sendErr error
	done := ctx.Done()
	emit := func(o daemon.Observation) {
		if sendErr != nil {
			return
		}
		select {
		case out <- o:
			c.observations.Add(1)
		case <-done:
			sendErr = ctx.Err()
		}
	}
	lastCheck := time.Now()
	lastStats := lastCheck
	for n := uint(0); ; n++ {
		if n%256 == 0 { // a clock read and a getsockopt per 256 frames at most
			if ctx.Err() != nil {
				break
			}
			if now := time.Now(); now.Sub(lastStats) > kernelStatsEvery {
				lastStats = now
				s.kernelStats(c)
			}
		}
		data, vlan, outgoing, err := s.recv()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				if ctx.Err() != nil {
					break
				}
				if time.Since(lastCheck) > time.Second {
					lastCheck = time.Now()
					s.kernelStats(c)
					if !s.bound() {
						return fmt.Errorf("interface %s removed", iface)
					}
				}
				continue
			}
			c.readErrors.Add(1)
			if !s.bound() {
				return fmt.Errorf("interface %s removed: %w", iface, err)
			}
			continue // e.g. ENETDOWN when the link goes down; the binding survives
		}
		if data == nil {
			continue
		}
		c.packets.Add(1)
		dec.outgoing = outgoing
		if vlan == 0 {
			vlan = untagged
		}
		if err := dec.DecodeTagged(data, time.Now(), iface, vlan, emit); err != nil {
			if errors.Is(err, ErrTruncated) {
				c.truncated.Add(1)
			} else {
				c.malformed.Add(1)
			}
		}
		if sendErr != nil {
			return sendErr
		}
	}
	return ctx.Err()
}

// packetSocket is an AF_PACKET raw socket bound to one interface.
type packetSocket struct {
	fd       int
	ifindex  int
	loopback bool
	buf      []byte
	oob      []byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openSocket opens and binds the socket, in netnsPath when it is set. The
// filter is attached before binding, so no unfiltered frame is ever queued.
func openSocket(netnsPath, name string, filter []bpf.RawInstruction, rcvbuf int) (*packetSocket, error) {
	var s *packetSocket
	err := inNetNS(netnsPath, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("find interface: %w", err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open packet socket: %w", err)
		}
		s = &packetSocket{fd: fd, ifindex: ifi.Index, loopback: ifi.Flags&net.FlagLoopback != 0,
			buf: make([]byte, captureBuffer), oob: make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))}
		if err := s.setup(filter, rcvbuf); err != nil {
			s.close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *packetSocket) setup(filter []bpf.RawInstruction, rcvbuf int) error {
	prog := make([]unix.SockFilter, len(filter))
	for i, ins := range filter {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		return fmt.Errorf("attach capture filter: %w", err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("enable packet auxdata: %w", err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return fmt.Errorf("set receive buffer: %w", err)
		}
	}
	tv := unix.NsecToTimeval(readTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set receive timeout: %w", err)
	}
	if err := unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}); err != nil {
		return fmt.Errorf("bind packet socket: %w", err)
	}
	return nil
}

// recv reads one frame; data is nil for frames to skip (the loopback
// interface's outgoing copy). It reuses s.buf: data is valid until the next call.
func (s *packetSocket) recv() (data []byte, vlan uint16, outgoing bool, err error) {
	var sa unix.RawSockaddrLinklayer
	iov := unix.Iovec{Base: &s.buf[0]}
	iov.SetLen(len(s.buf))
	msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sa)), Namelen: uint32(unsafe.Sizeof(sa)), Iov: &iov, Iovlen: 1, Control: &s.oob[0]}
	msg.SetControllen(len(s.oob))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msg)), 0)
	if errno != 0 {
		return nil, 0, false, errno
	}
	outgoing = sa.Pkttype == unix.PACKET_OUTGOING
	if s.loopback && outgoing {
		return nil, 0, false, nil // lo delivers every frame twice
	}
	oob := s.oob[:msg.Controllen]
	hdrLen := unix.CmsgSpace(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(h.Len) < hdrLen || int(h.Len) > len(oob) {
			break
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && int(h.Len)-hdrLen >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&oob[hdrLen]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				vlan = aux.Vlan_tci & 0x0fff
			}
		}
		next := unix.CmsgSpace(int(h.Len) - hdrLen)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return s.buf[:min(int(n), len(s.buf))], vlan, outgoing, nil
}

// kernelStats adds the kernel's PACKET_STATISTICS since the last call (the
// kernel resets them on every read) to c.
func (s *packetSocket) kernelStats(c *ifaceCounters) {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	c.kernelPackets.Add(uint64(st.Packets)) // includes the drops
	c.kernelDrops.Add(uint64(st.Drops))
}

// bound reports whether the socket is still bound to its interface: the
// kernel unbinds (ifindex -1) when the interface is unregistered.
func (s *packetSocket) bound() bool {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return false
	}
	ll, ok := sa.(*unix.SockaddrLinklayer)
	return ok && ll.Ifindex == s.ifindex
}

func (s *packetSocket) close() {
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}

// inNetNS runs fn on a locked OS thread switched into the network namespace
// at path (fn runs as is when path is ""). Sockets keep the namespace they
// were created in. If the thread cannot be switched back it stays locked, so
// the runtime discards it when this goroutine's work ends.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() { // owned: runs fn once on a dedicated thread and returns
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", path, err)) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
