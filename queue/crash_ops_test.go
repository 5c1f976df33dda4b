package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashOp is one write under test: run performs it on the live store, holds
// says whether a reopened crash clone shows its effect.
type crashOp struct {
	name  string
	run   func() error
	holds func(s *PebbleStore) error
}

// later is when the concurrent operations happen: after every purge
// boundary, so Purge never removes their messages.
var later = t0.Add(10 * time.Hour)

// TestCrashKeepsEveryAcknowledgedOperation: Lease, Apply (delivered,
// deferred), the operator actions, Suppress, Unsuppress and Purge run from
// concurrent writers while crash clones are taken at random moments. In
// every clone (synced data only, and synced plus half of the rest) each
// operation that returned nil before the clone shows its effect, and Check
// finds every invariant intact. Enqueue and bounce-with-suppression are
// TestCrashKeepsAcknowledged's and TestEventsCrashDuringApply's.
func TestCrashKeepsEveryAcknowledgedOperation(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t)
	ops := crashOps(e, 25)
	purges := purgeOps(e, 25)
	e.ok(nil) // the setup is consistent
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })

	var mu sync.Mutex
	var acked []crashOp
	run := func(op crashOp) {
		if err := op.run(); err != nil {
			t.Errorf("%s: %v", op.name, err)
			return
		}
		mu.Lock()
		acked = append(acked, op)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	next := make(chan crashOp)
	for range 8 {
		wg.Go(func() {
			for op := range next {
				run(op)
			}
		})
	}
	wg.Go(func() { // Purge is housekeeping: one caller at a time, in time order
		for _, op := range purges {
			run(op)
		}
	})
	go func() {
		for _, op := range ops {
			next <- op
		}
		close(next)
	}()

	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	total := len(ops) + len(purges)
	var points []int
	for range 3 {
		points = append(points, 1+rng.IntN(total*9/10))
	}
	slices.Sort(points)
	type snap struct {
		at     int
		acked  []crashOp
		synced *vfs.MemFS
		random *vfs.MemFS
	}
	var snaps []snap
	for _, at := range points {
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= at {
				break
			}
			select {
			case <-allDone:
				// The writers may have finished after n was read: count again.
				mu.Lock()
				n = len(acked)
				mu.Unlock()
				if n < at {
					t.Fatalf("only %d operations acknowledged, clone planned at %d", n, at)
				}
			case <-time.After(50 * time.Microsecond):
			}
		}
		mu.Lock()
		s := snap{at: at, acked: slices.Clone(acked)}
		mu.Unlock()
		s.synced = e.fs.CrashClone(vfs.CrashCloneCfg{})
		s.random = e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, uint64(at)))})
		snaps = append(snaps, s)
	}
	<-allDone
	for _, s := range snaps {
		for name, fs := range map[string]*vfs.MemFS{"synced": s.synced, "random": s.random} {
			t.Run(fmt.Sprintf("clone at %d %s", s.at, name), func(t *testing.T) {
				checkClone(t, e, fs, s.acked)
			})
		}
	}
	t.Logf("%d operations; clones after %v acknowledged", total, points)
}

// crashSeed is MTAQ_CRASH_SEED or a fresh seed, logged so a failure can be
// replayed.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MTAQ_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("MTAQ_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("MTAQ_CRASH_SEED=%d", seed)
	return seed
}

func checkClone(t *testing.T, e *env, fs *vfs.MemFS, acked []crashOp) {
	s := reopenCrashed(t, e, fs)
	lost := 0
	for _, op := range acked {
		if err := op.holds(s); err != nil {
			t.Errorf("acknowledged %s lost: %v", op.name, err)
			lost++
		}
	}
	if lost == 0 {
		t.Logf("%d acknowledged operations all there", len(acked))
	}
}

// crashOps prepares n messages (or addresses) per kind of operation and
// returns the operations; each touches only its own message or address.
func crashOps(e *env, n int) []crashOp {
	var ops []crashOp
	for i := range n {
		ops = append(ops,
			leaseOp(e, i), deliverOp(e, i), deferOp(e, i),
			holdOp(e, i), releaseOp(e, i), retryOp(e, i), operatorOp(e, i, ActDelete), operatorOp(e, i, ActBounce),
			suppressOp(e, i), unsuppressOp(e, i))
	}
	return ops
}

// enq enqueues without the full Check after each step that e.enqueue
// runs (quadratic for hundreds of messages); the test checks once after
// setup and in every clone.
func enq(e *env, m *Message, body string) string {
	e.t.Helper()
	if err := e.s.Enqueue(bg, m, []byte(body)); err != nil {
		e.t.Fatal(err)
	}
	return m.ID
}

// rcptIs loads recipient 0 of id and checks it with ok.
func rcptIs(s *PebbleStore, id string, ok func(r Recipient) bool) error {
	m, err := s.Message(bg, id)
	if err != nil {
		return err
	}
	if r := m.Recipients[0]; !ok(r) {
		return fmt.Errorf("%s: recipient %+v", id, r)
	}
	return nil
}

func leaseOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("lease%d@l.test", i)), "b")
	until := t0.Add(5*time.Minute + time.Duration(i)*time.Second)
	return crashOp{
		name: "lease " + id,
		run:  func() error { return e.s.Lease(bg, []Lease{{ID: id, Rcpt: 0, Until: until}}) },
		holds: func(s *PebbleStore) error {
			return rcptIs(s, id, func(r Recipient) bool { return r.State == Queued && r.NextAttempt.Equal(until) })
		},
	}
}

func deliverOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("deliver%d@d.test", i)), "b")
	return crashOp{
		name: "apply delivered " + id,
		run: func() error {
			return e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, CountAttempt: true,
				Attempt: &Attempt{At: later, Reply: Reply{Code: 250, Text: "ok"}, Decision: "delivered"}}})
		},
		holds: func(s *PebbleStore) error {
			if err := rcptIs(s, id, func(r Recipient) bool { return r.State == Delivered && r.Attempts == 1 }); err != nil {
				return err
			}
			if _, err := s.Body(bg, id); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("body of delivered %s: %v", id, err)
			}
			return nil
		},
	}
}

func deferOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("defer%d@f.test", i)), "b")
	next := later.Add(time.Duration(i) * time.Minute)
	return crashOp{
		name: "apply deferred " + id,
		run: func() error {
			return e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: next, CountAttempt: true,
				Reply: reply(451, "4.7.1", "later"), Attempt: &Attempt{At: later, Reply: *reply(451, "4.7.1", "later"),
					Decision: "deferred", NextAttempt: next}}})
		},
		holds: func(s *PebbleStore) error {
			return rcptIs(s, id, func(r Recipient) bool {
				return r.State == Deferred && r.Attempts == 1 && r.NextAttempt.Equal(next) && r.LastReply != nil
			})
		},
	}
}

func holdOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("hold%d@h.test", i)), "b")
	return crashOp{
		name:  "hold " + id,
		run:   func() error { return one(e.s.Hold(bg, id, later)) },
		holds: func(s *PebbleStore) error { return rcptIs(s, id, func(r Recipient) bool { return r.State == Held }) },
	}
}

func releaseOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("release%d@r.test", i)), "b")
	if _, err := e.s.Hold(bg, id, t0); err != nil {
		e.t.Fatal(err)
	}
	return crashOp{
		name: "release " + id,
		run:  func() error { return one(e.s.Release(bg, id, later)) },
		holds: func(s *PebbleStore) error {
			return rcptIs(s, id, func(r Recipient) bool { return r.State == Queued && r.NextAttempt.Equal(later) })
		},
	}
}

func retryOp(e *env, i int) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("retry%d@t.test", i)), "b")
	if err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: later.Add(time.Hour), CountAttempt: true}}); err != nil {
		e.t.Fatal(err)
	}
	return crashOp{
		name: "retry " + id,
		run:  func() error { return one(e.s.Retry(bg, id, later)) },
		holds: func(s *PebbleStore) error {
			return rcptIs(s, id, func(r Recipient) bool { return r.State == Deferred && r.NextAttempt.Equal(later) })
		},
	}
}

// operatorOp is delete or bounce: both make the recipient final, the
// message final and its body gone.
func operatorOp(e *env, i int, a Action) crashOp {
	id := enq(e, msg(t0, fmt.Sprintf("%s%d@o.test", a, i)), "b")
	want := map[Action]State{ActDelete: Deleted, ActBounce: Failed}[a]
	return crashOp{
		name: string(a) + " " + id,
		run:  func() error { return one(e.s.Operate(bg, Operation{Action: a, ID: id, Now: later})) },
		holds: func(s *PebbleStore) error {
			if err := rcptIs(s, id, func(r Recipient) bool { return r.State == want }); err != nil {
				return err
			}
			if _, err := s.Body(bg, id); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("body of %s kept: %v", id, err)
			}
			return nil
		},
	}
}

func suppressOp(e *env, i int) crashOp {
	addr := fmt.Sprintf("sup%d@s.test", i)
	return crashOp{
		name: "suppress " + addr,
		run:  func() error { return e.s.Suppress(bg, Suppression{Address: addr, Reason: "manual", Created: t0}) },
		holds: func(s *PebbleStore) error {
			sup, err := s.Suppression(bg, addr, t0)
			if err == nil && sup == nil {
				err = errors.New("no entry")
			}
			return err
		},
	}
}

func unsuppressOp(e *env, i int) crashOp {
	addr := fmt.Sprintf("unsup%d@s.test", i)
	if err := e.s.Suppress(bg, Suppression{Address: addr, Reason: "manual", Created: t0}); err != nil {
		e.t.Fatal(err)
	}
	return crashOp{
		name: "unsuppress " + addr,
		run:  func() error { return e.s.Unsuppress(bg, addr) },
		holds: func(s *PebbleStore) error {
			sup, err := s.Suppression(bg, addr, t0)
			if err == nil && sup != nil {
				err = fmt.Errorf("entry still there: %+v", sup)
			}
			return err
		},
	}
}

// purgeOps delivers n messages, the i-th at t0+i minutes, and returns n
// Purges in time order: the i-th removes messages 0..i.
func purgeOps(e *env, n int) []crashOp {
	var ids []string
	for i := range n {
		id := enq(e, msg(t0, fmt.Sprintf("purge%d@p.test", i)), "b")
		if err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered,
			Attempt: attempt(time.Duration(i)*time.Minute, "delivered", reply(250, "", "ok"))}}); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var ops []crashOp
	for i := range n {
		before := t0.Add(time.Duration(i)*time.Minute + time.Second)
		gone := ids[:i+1]
		ops = append(ops, crashOp{
			name: fmt.Sprintf("purge before +%v", before.Sub(t0)),
			run: func() error {
				_, err := e.s.Purge(bg, before)
				return err
			},
			holds: func(s *PebbleStore) error {
				for _, id := range gone {
					if _, err := s.Message(bg, id); !errors.Is(err, ErrNotFound) {
						return fmt.Errorf("purged %s is back: %v", id, err)
					}
					if tl, _ := s.Timeline(bg, id, 0); len(tl) > 0 {
						return fmt.Errorf("purged %s kept %d timeline entries", id, len(tl))
					}
				}
				return nil
			},
		})
	}
	return ops
}

// one turns an operator call's (count, error) into an error unless exactly
// one recipient changed.
func one(n int, err error) error {
	if err == nil && n != 1 {
		err = fmt.Errorf("%d recipients changed, want 1", n)
	}
	return err
}
