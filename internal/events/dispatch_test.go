package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func openStore(t *testing.T, fs vfs.FS, clk clock.Clock) *queue.PebbleStore {
	t.Helper()
	s, err := queue.Open("q", queue.Options{FS: fs, Clock: clk, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func enqueue(t *testing.T, s *queue.PebbleStore, at time.Time, rcpts ...string) string {
	t.Helper()
	m := &queue.Message{Sender: "app@example.org", Arrived: at}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Address: r})
	}
	if err := s.Enqueue(context.Background(), m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// recorder is a Handler that records seqs and fails while failing is set.
type recorder struct {
	name    string
	mu      sync.Mutex
	seqs    []uint64
	failing bool
	calls   int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Handle(_ context.Context, evs []queue.Event) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failing {
		return 0, errors.New("receiver down")
	}
	for _, e := range evs {
		r.seqs = append(r.seqs, e.Seq)
	}
	return len(evs), nil
}

func (r *recorder) got() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seqs...)
}

func TestDispatcherFeedsHandlersIndependently(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	clk := clock.NewFake(t0)
	s := openStore(t, fs, clk)
	defer s.Close()
	good := &recorder{name: "good"}
	bad := &recorder{name: "bad", failing: true}
	d := New(Options{Outbox: s, Clock: clk, Batch: 3})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx, good, bad); close(done) }()

	for i := range 10 {
		enqueue(t, s, t0, fmt.Sprintf("r%d@x.test", i))
	}
	waitfor.True(t, "good handler to catch up", func() bool { return len(good.got()) == 10 })
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// bad is backing off on the clock; healing it and moving the clock
	// past the default backoff delivers everything.
	bad.mu.Lock()
	bad.failing = false
	bad.mu.Unlock()
	waitfor.True(t, "bad handler to catch up", func() bool {
		if clk.Pending() > 0 { // backing off: move past the delay
			clk.Advance(time.Minute)
		}
		return len(bad.got()) == 10
	})
	cancel()
	<-done
	for _, r := range []*recorder{good, bad} {
		for i, seq := range r.got() {
			if seq != uint64(i+1) {
				t.Fatalf("%s got %v", r.name, r.got())
			}
		}
		if c, _ := s.Cursor(context.Background(), r.name); c != 10 {
			t.Fatalf("%s cursor %d", r.name, c)
		}
	}
}

func TestDispatcherResumesFromCursor(t *testing.T) {
	t.Parallel()
	fs := vfs.NewMem()
	clk := clock.NewFake(t0)
	s := openStore(t, fs, clk)
	defer s.Close()
	for i := range 5 {
		enqueue(t, s, t0, fmt.Sprintf("r%d@x.test", i))
	}
	if err := s.SetCursor(context.Background(), "h", 3); err != nil {
		t.Fatal(err)
	}
	h := &recorder{name: "h"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d := New(Options{Outbox: s, Clock: clk})
	go func() { d.Run(ctx, h); close(done) }()
	waitfor.True(t, "events 4 and 5", func() bool { return len(h.got()) == 2 })
	enqueue(t, s, t0, "late@x.test")
	d.Wake()
	waitfor.True(t, "event 6", func() bool { return len(h.got()) == 3 })
	cancel()
	<-done
	if got := h.got(); got[0] != 4 || got[2] != 6 {
		t.Fatalf("got %v", got)
	}
}

func TestDoubling(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute,
		9: 256 * time.Minute, 10: 6 * time.Hour, 100: 6 * time.Hour} {
		if got := Doubling(time.Minute, 6*time.Hour, n); got != want {
			t.Errorf("Doubling(%d) = %v, want %v", n, got, want)
		}
	}
}
