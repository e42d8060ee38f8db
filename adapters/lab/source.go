package lab

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// RunningSource is a source under test (a daemon.Source's Run, for one): what it
// emits arrives on Out. Generic so that lab does not import daemon (rules/ tests
// use lab, and daemon imports rules/).
type RunningSource[T any] struct {
	Out     chan T
	cancel  context.CancelFunc
	g       errgroup.Group
	stopped bool
}

// RunSource runs run with an Out channel of the given buffer (0: nothing is
// taken until the test reads). t.Cleanup stops it and checks run returned nil.
func RunSource[T any](t testing.TB, run func(context.Context, chan<- T) error, buffer int) *RunningSource[T] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rs := &RunningSource[T]{Out: make(chan T, buffer), cancel: cancel}
	rs.g.Go(func() error { return run(ctx, rs.Out) }) // ended by Stop (cancel + wait)
	t.Cleanup(func() {
		if err := rs.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return rs
}

// Stop cancels the source and returns what Run returned (nil after the first call).
func (rs *RunningSource[T]) Stop() error {
	if rs.stopped {
		return nil
	}
	rs.stopped = true
	rs.cancel()
	return rs.g.Wait()
}

// Next returns the next observation, failing t after 5 s; stats is shown then.
func (rs *RunningSource[T]) Next(t testing.TB, stats func() any) T {
	t.Helper()
	select {
	case o := <-rs.Out:
		return o
	case <-time.After(5 * time.Second):
		t.Fatalf("no observation within 5 s; stats %+v", stats())
	}
	var zero T
	return zero
}
