package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
)

// blockingStore holds every Message read until released.
type blockingStore struct {
	queue.Store
	loading chan struct{}
	release chan struct{}
}

func (b *blockingStore) Message(ctx context.Context, id string) (*queue.Message, error) {
	select {
	case b.loading <- struct{}{}:
	default:
	}
	<-b.release
	return b.Store.Message(ctx, id)
}

// Filling the window reads up to Window messages; workers reporting
// results (and the metrics) take the scheduler's lock meanwhile, so the
// reads must not hold it.
func TestFillLoadsOutsideTheLock(t *testing.T) {
	h := newHarness(t, Options{}, func(string, int) delivery.Result { return reply(250, "2.0.0", "ok", "data") })
	h.submit("a@x.test", "b@y.test")
	bs := &blockingStore{Store: h.store, loading: make(chan struct{}, 1), release: make(chan struct{})}
	s := New(Options{Store: bs, Deliverer: h.d, Clock: h.clk, Rand: func() float64 { return 0.5 }})
	done := make(chan error, 1)
	go func() { _, _, err := s.fillWindow(context.Background()); done <- err }()
	select {
	case <-bs.loading:
	case <-time.After(10 * time.Second):
		t.Fatal("fillWindow read no message")
	}
	locked := make(chan int, 1)
	go func() { locked <- s.InFlight() }()
	select {
	case n := <-locked:
		if n != 0 {
			t.Fatalf("%d in flight before the load finished", n)
		}
	case <-time.After(10 * time.Second):
		close(bs.release)
		t.Fatal("the scheduler's lock is held while a message loads")
	}
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.InFlight(); n != 2 {
		t.Fatalf("%d in flight after the fill, want 2", n)
	}
}
