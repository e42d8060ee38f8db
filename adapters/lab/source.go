package lab

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// RunningSource is a daemon.Source under test: its observations arrive on Out.
type RunningSource struct {
	Out     chan daemon.Observation
	cancel  context.CancelFunc
	g       errgroup.Group
	stopped bool
}

// RunSource runs src with an Out channel of the given buffer (0: nothing is
// taken until the test reads). t.Cleanup stops it and checks Run returned nil.
func RunSource(t testing.TB, src daemon.Source, buffer int) *RunningSource {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rs := &RunningSource{Out: make(chan daemon.Observation, buffer), cancel: cancel}
	rs.g.Go(func() error { return src.Run(ctx, rs.Out) }) // ended by Stop (cancel + wait)
	t.Cleanup(func() {
		if err := rs.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rs
}

// Stop cancels the source and returns what Run returned (nil after the first call).
func (rs *RunningSource) Stop() error {
	if rs.stopped {
		return nil
	}
	rs.stopped = true
	rs.cancel()
	return rs.g.Wait()
}

// Next returns the next observation, failing t after 5 s; stats is shown then.
func (rs *RunningSource) Next(t testing.TB, stats func() any) daemon.Observation {
	t.Helper()
	select {
	case o := <-rs.Out:
		return o
	case <-time.After(5 * time.Second):
		t.Fatalf("no observation within 5 s; stats %+v", stats())
	}
	return daemon.Observation{}
}
