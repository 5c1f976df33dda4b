package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
)

// blocking delivers to fast.test at once and holds every job for slow.test
// until release is closed, tracking slow.test's concurrency.
type blocking struct {
	release chan struct{}
	mu      sync.Mutex
	slowNow int
	slowMax int
	fast    chan string
}

func (b *blocking) Deliver(_ context.Context, j delivery.Job) []delivery.Result {
	if j.Domain == "slow.test" {
		b.mu.Lock()
		b.slowNow++
		b.slowMax = max(b.slowMax, b.slowNow)
		b.mu.Unlock()
		<-b.release
		b.mu.Lock()
		b.slowNow--
		b.mu.Unlock()
	} else {
		b.fast <- j.Rcpts[0]
	}
	out := make([]delivery.Result, len(j.Rcpts))
	for i, r := range j.Rcpts {
		out[i] = delivery.Result{Rcpt: r, Code: 250, Enhanced: "2.0.0", Text: "ok", Stage: delivery.StageData}
	}
	return out
}

// TestSlowDestinationDoesNotDelayOthers: 30 messages stuck at a slow
// domain hold at most PerDomain workers; mail to another domain queued
// after them still goes out at once.
func TestSlowDestinationDoesNotDelayOthers(t *testing.T) {
	b := &blocking{release: make(chan struct{}), fast: make(chan string, 10)}
	h := newHarness(t, Options{Workers: 10, PerDomain: 3}, nil)
	h.s.o.Deliverer = b
	for i := 0; i < 30; i++ {
		h.submit("u@slow.test")
	}
	for i := 0; i < 5; i++ {
		h.submit("v@fast.test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.s.Run(ctx); close(done) }()
	for i := 0; i < 5; i++ {
		select {
		case <-b.fast:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 5 fast.test messages went out while slow.test was stuck", i)
		}
	}
	close(b.release)
	b.mu.Lock()
	peak := b.slowMax
	b.mu.Unlock()
	if peak > 3 {
		t.Errorf("slow.test had %d concurrent jobs, limit 3", peak)
	}
	deadline := time.After(10 * time.Second)
	for {
		msgs, err := h.store.List(ctx, queue.Filter{State: queue.Queued})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("%d messages still queued after release", len(msgs))
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

// TestWindowBoundsMemory: with Window 10 the scheduler never holds more
// than 10 recipients, however many are due.
func TestWindowBoundsMemory(t *testing.T) {
	b := &blocking{release: make(chan struct{}), fast: make(chan string, 100)}
	h := newHarness(t, Options{Workers: 100, PerDomain: 100, Window: 10}, nil)
	h.s.o.Deliverer = b
	for i := 0; i < 50; i++ {
		h.submit("u@slow.test")
	}
	ctx := context.Background()
	if _, _, err := h.s.fillWindow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.fillWindow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.s.InFlight(); n != 10 {
		t.Fatalf("in flight = %d, want the window of 10", n)
	}
	close(b.release)
}

// TestFullWindowRefillsInBatches: a full window is topped up only once it
// has refill's room (2 for a window of 32), not by a scan per finished job.
func TestFullWindowRefillsInBatches(t *testing.T) {
	b := &blocking{release: make(chan struct{}), fast: make(chan string, 100)}
	h := newHarness(t, Options{Workers: 100, PerDomain: 100, Window: 32}, nil)
	h.s.o.Deliverer = b
	defer close(b.release)
	for range 50 {
		h.submit("u@slow.test")
	}
	ctx := context.Background()
	if took, _, err := h.s.fillWindow(ctx); err != nil || took != 32 {
		t.Fatalf("first fill took %d, %v; want the window of 32", took, err)
	}
	free := func() { // a job finished: its recipient leaves the window
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		for k := range h.s.inflight {
			delete(h.s.inflight, k)
			return
		}
	}
	free()
	if took, _, _ := h.s.fillWindow(ctx); took != 0 || !h.s.windowFull() {
		t.Fatalf("room 1: took %d, full %v; want 0, true", took, h.s.windowFull())
	}
	free()
	if took, _, _ := h.s.fillWindow(ctx); took != 2 {
		t.Fatalf("room 2: took %d, want 2", took)
	}
}
