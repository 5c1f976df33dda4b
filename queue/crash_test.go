package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrashKeepsAcknowledged is the "never a 250 before a synced commit"
// test: whatever Enqueue or Apply acknowledged before a crash is there after
// reopening a crash clone of the filesystem, which holds only synced data
// (or, in the second case, synced data plus a random part of the rest).
func TestCrashKeepsAcknowledged(t *testing.T) {
	e := newEnv(t)
	var settled []string
	for i := range 20 {
		settled = append(settled, e.enqueue(msg(t0, fmt.Sprintf("a%d@x.test", i), fmt.Sprintf("b%d@y.test", i)), "body"))
	}
	for _, id := range settled[:10] {
		e.ok(e.s.Apply(bg, []Update{
			{ID: id, Rcpt: 0, State: Delivered, Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))},
			{ID: id, Rcpt: 1, State: Bounced, Attempt: attempt(time.Minute, "bounced", reply(550, "5.1.1", "no")),
				Suppress: &Suppression{Reason: "hard_bounce"}},
		}))
	}

	acked := enqueueWhileCrashing(t, e, 16, 25, 200)
	clones := map[string]*vfs.MemFS{
		"synced only":         acked.clone,
		"synced + 50% random": acked.randomClone,
	}
	for name, fs := range clones {
		t.Run(name, func(t *testing.T) {
			s := reopenCrashed(t, e, fs)
			assertSettled(t, s, settled)
			for _, id := range acked.ids {
				if _, err := s.Body(bg, id); err != nil {
					t.Fatalf("acknowledged message %s lost: %v", id, err)
				}
			}
		})
	}
}

type crashResult struct {
	ids                []string // acknowledged before the clones were taken
	clone, randomClone *vfs.MemFS
}

// enqueueWhileCrashing runs workers×each concurrent Enqueues and takes both
// crash clones once `at` of them were acknowledged, with the rest in flight.
func enqueueWhileCrashing(t *testing.T, e *env, workers, each, at int) crashResult {
	acks := make(chan string, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := msg(t0, fmt.Sprintf("w%d-%d@z.test", w, i))
				if err := e.s.Enqueue(bg, m, []byte("concurrent body")); err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				acks <- m.ID
			}
		})
	}
	go func() { wg.Wait(); close(acks) }()
	var r crashResult
	for id := range acks {
		r.ids = append(r.ids, id)
		if len(r.ids) == at {
			break
		}
	}
	r.clone = e.fs.CrashClone(vfs.CrashCloneCfg{})
	r.randomClone = e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(1, 2))})
	for range acks { // let the in-flight ones finish
	}
	if len(r.ids) < at {
		t.Fatalf("only %d enqueues acknowledged", len(r.ids))
	}
	return r
}

func assertSettled(t *testing.T, s *PebbleStore, ids []string) {
	t.Helper()
	for i, id := range ids {
		m, err := s.Message(bg, id)
		if err != nil {
			t.Fatalf("message %s lost: %v", id, err)
		}
		want := [2]State{Queued, Queued}
		if i < 10 {
			want = [2]State{Delivered, Bounced}
		}
		if got := [2]State{m.Recipients[0].State, m.Recipients[1].State}; got != want {
			t.Fatalf("message %s states %v, want %v", id, got, want)
		}
		if i < 10 {
			sup, err := s.Suppression(bg, fmt.Sprintf("b%d@y.test", i), t0)
			if err != nil || sup == nil {
				t.Fatalf("suppression from message %s lost: %v", id, err)
			}
		}
	}
}

func TestEnqueueRefusesWhenDiskIsFull(t *testing.T) {
	e := newEnv(t)
	e.fs.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 100 << 20, TotalBytes: 1 << 30})
	e.enqueue(msg(t0, "a@x.test"), "fits")
	e.fs.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 10 << 20, TotalBytes: 1 << 30})
	err := e.s.Enqueue(bg, msg(t0, "b@x.test"), []byte("no room"))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("enqueue on a full disk: %v, want ErrNoSpace", err)
	}
	if ms, _ := e.s.List(bg, Filter{}); len(ms) != 1 {
		t.Fatalf("refused message was stored: %d messages", len(ms))
	}
}

func TestMapNoSpace(t *testing.T) {
	wrapped := fmt.Errorf("pebble: write: %w", syscall.ENOSPC)
	err := mapNoSpace(wrapped)
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("mapNoSpace(%v) = %v", wrapped, err)
	}
	if other := errors.New("other"); mapNoSpace(other) != other {
		t.Fatal("other errors must pass through")
	}
}

// reopenCrashed opens the queue a crash left on fs, fails the test if its
// invariants are broken, and closes it when the (sub)test ends.
func reopenCrashed(t *testing.T, e *env, fs *vfs.MemFS) *PebbleStore {
	t.Helper()
	s, err := Open("queue-db", Options{FS: fs, Clock: e.clock})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Check(bg); err != nil {
		t.Fatalf("after crash: %v", err)
	}
	return s
}

// TestCrashKeepsAcknowledgedApplies: Lease and Apply let their stripes go
// before their fsync (commitRelease), so writers of one address and of one
// message follow each other closely. Whatever they acknowledged before a
// crash is there after it: every acknowledged delivery, in its message and
// in the address's history.
func TestCrashKeepsAcknowledgedApplies(t *testing.T) {
	e := newEnv(t)
	const workers, each, at = 8, 15, 60
	// Every message has one recipient at the shared address (one stripe for
	// all histories) and one of its own, so workers also meet on messages.
	ids := make([]string, workers*each)
	for i := range ids {
		ids[i] = e.enqueue(msg(t0, "same@x.test", fmt.Sprintf("own%d@y.test", i)), "body")
	}
	type ack struct {
		id   string
		rcpt int
	}
	acks := make(chan ack, 2*len(ids))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := ids[w*each+i]
				for rcpt := range 2 {
					if err := e.s.Lease(bg, []Lease{{ID: id, Rcpt: rcpt, Until: t0.Add(time.Hour)}}); err != nil {
						t.Errorf("lease: %v", err)
						return
					}
					u := Update{ID: id, Rcpt: rcpt, State: Delivered, Attempt: attempt(time.Duration(w*each+i+1)*time.Second, "delivered", reply(250, "", "ok"))}
					if err := e.s.Apply(bg, []Update{u}); err != nil {
						t.Errorf("apply: %v", err)
						return
					}
					acks <- ack{id, rcpt}
				}
			}
		})
	}
	go func() { wg.Wait(); close(acks) }()
	var got []ack
	for a := range acks {
		got = append(got, a)
		if len(got) == at {
			break
		}
	}
	clone := e.fs.CrashClone(vfs.CrashCloneCfg{})
	for range acks {
	}
	if len(got) < at {
		t.Fatalf("only %d applies acknowledged", len(got))
	}
	s := reopenCrashed(t, e, clone)
	var newest time.Time
	for _, a := range got {
		m, err := s.Message(bg, a.id)
		if err != nil {
			t.Fatalf("message %s lost: %v", a.id, err)
		}
		r := m.Recipients[a.rcpt]
		if r.State != Delivered {
			t.Fatalf("acknowledged delivery %s/%d is %s after the crash", a.id, a.rcpt, r.State)
		}
		if a.rcpt == 0 && r.Updated.After(newest) {
			newest = r.Updated
		}
	}
	h, err := s.History(bg, "same@x.test")
	if err != nil || h == nil {
		t.Fatalf("history of the shared address: %v, %v", h, err)
	}
	if h.Delivered.Before(newest) {
		t.Fatalf("history says last delivered %v, an acknowledged delivery was at %v", h.Delivered, newest)
	}
}
