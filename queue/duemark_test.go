package queue

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// The mark itself: a scan may not raise past a batch in flight when it
// read the mark, nor at all once a writer began after it.
func TestDueMarkRaise(t *testing.T) {
	d := newDueMark()
	end := d.begin(50)
	low, gen, floor := d.read()
	if low != 0 || floor != 50 {
		t.Fatalf("read: low %d floor %d, want 0 50", low, floor)
	}
	d.raise(gen, floor, 100) // the scan's iterator missed the batch at 50
	if got := d.get(); got != 50 {
		t.Fatalf("raised to %d past a batch in flight at 50", got)
	}
	end()
	_, gen, floor = d.read()
	d.begin(70)()           // a writer began after the read
	d.raise(gen, floor, 90) // the scan may not have seen it
	if got := d.get(); got != 50 {
		t.Fatalf("raised to %d after a concurrent write", got)
	}
	_, gen, floor = d.read()
	d.raise(gen, floor, 90)
	if got := d.get(); got != 90 {
		t.Fatalf("quiet raise: %d, want 90", got)
	}
	d.begin(20)()
	if got := d.get(); got != 20 {
		t.Fatalf("a write at 20 left the mark at %d", got)
	}
}

// After churn the mark sits at the first live key, and every way of writing
// a due key below it (enqueue, lease, apply, operator retry and release)
// is still found by Due and NextDue; a reopened store starts from zero.
func TestDueMarkFollowsEveryWrite(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		m := msg(t0, fmt.Sprintf("r%d@example.test", i))
		m.Recipients[0].NextAttempt = t0.Add(time.Duration(i) * time.Minute)
		ids = append(ids, e.enqueue(m, "body"))
	}
	now := t0.Add(time.Hour)
	for _, id := range ids[:4] {
		e.ok(e.s.Lease(bg, []Lease{{ID: id, Rcpt: 0, Until: now.Add(time.Hour)}}))
		e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: now.Add(2 * time.Hour), CountAttempt: true}}))
	}
	wantNext := func(step string, want time.Time) {
		t.Helper()
		at, ok, err := e.s.NextDue(bg)
		if err != nil || !ok || !at.Equal(want) {
			t.Fatalf("%s: next due %v %v %v, want %v", step, at, ok, err, want)
		}
		if low := e.s.due.get(); low != timeNanos(want) {
			t.Fatalf("%s: mark %d, want the first live key %d", step, low, timeNanos(want))
		}
	}
	wantNext("after churn", t0.Add(4*time.Minute))
	_, err := e.s.Hold(bg, ids[4], now)
	e.ok(err)
	wantNext("after hold", now.Add(2*time.Hour))

	m := msg(t0, "late@example.test")
	m.Recipients[0].NextAttempt = t0.Add(30 * time.Minute)
	e.enqueue(m, "body")
	wantNext("enqueue below the mark", t0.Add(30*time.Minute))

	e.ok(e.s.Lease(bg, []Lease{{ID: m.ID, Rcpt: 0, Until: now.Add(3 * time.Hour)}}))
	wantNext("after lease", now.Add(2*time.Hour))
	e.ok(e.s.Lease(bg, []Lease{{ID: ids[0], Rcpt: 0, Until: now.Add(time.Minute)}}))
	wantNext("lease below the mark", now.Add(time.Minute))
	e.ok(e.s.Apply(bg, []Update{{ID: ids[0], Rcpt: 0, State: Deferred, NextAttempt: now.Add(30 * time.Second)}}))
	wantNext("apply below the mark", now.Add(30*time.Second))

	_, err = e.s.Retry(bg, ids[1], now.Add(10*time.Second))
	e.ok(err)
	wantNext("operator retry", now.Add(10*time.Second))
	_, err = e.s.Release(bg, ids[4], t0.Add(time.Second))
	e.ok(err)
	wantNext("operator release", t0.Add(time.Second))
	got := fmt.Sprint(e.due(now.Add(time.Minute)))
	want := fmt.Sprint([]string{ids[4] + "/0@1s", ids[1] + "/0@1h0m10s", ids[0] + "/0@1h0m30s"})
	if got != want {
		t.Fatalf("due: %s, want %s", got, want)
	}

	e.s.Close()
	e.s = e.open(e.fs)
	if low := e.s.due.get(); low != 0 {
		t.Fatalf("reopened mark %d, want 0", low)
	}
	wantNext("reopened", t0.Add(time.Second))
}

// Writers put due keys below the mark while scanners raise it: no scan
// after a write returns may miss that write's key (W1, checked by NextDue
// and by Check). Bounded: 4 writers × 150 messages.
func TestDueMarkConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	far := t0.Add(1000 * time.Hour)
	for i := range 50 { // a live tail far ahead, so scans have a key to raise to
		m := msg(t0, fmt.Sprintf("far%d@example.test", i))
		m.Recipients[0].NextAttempt = far
		e.enqueue(m, "body")
	}
	stop := make(chan struct{})
	var scans sync.WaitGroup
	for range 2 {
		scans.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := e.s.NextDue(bg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 150 {
				at := far.Add(-time.Duration(w*150+i+1) * time.Minute) // always below the last
				m := msg(t0, fmt.Sprintf("w%d-%d@example.test", w, i))
				m.Recipients[0].NextAttempt = at
				if err := e.s.Enqueue(bg, m, []byte("body")); err != nil {
					t.Error(err)
					return
				}
				// Lease it away again, so the head keeps moving up.
				if i%2 == 0 {
					if err := e.s.Lease(bg, []Lease{{ID: m.ID, Rcpt: 0, Until: far}}); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				got, ok, err := e.s.NextDue(bg)
				if err != nil || !ok || got.After(at) {
					t.Errorf("writer %d: next due %v %v %v after enqueuing at %v", w, got, ok, err, at)
					return
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	scans.Wait()
	e.ok(nil) // Check: W1 and Q1
}
