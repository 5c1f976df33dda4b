package queue

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// The mark itself: a scan may not raise past a batch in flight when it
// read the mark, nor past one that began after it.
func TestDueMarkRaise(t *testing.T) {
	d := newDueMark()
	end := d.begin(50)
	low, tok, floor := d.read()
	if low != 0 || floor != 50 {
		t.Fatalf("read: low %d floor %d, want 0 50", low, floor)
	}
	d.raise(tok, floor, 100) // the scan's iterator missed the batch at 50
	if got := d.get(); got != 50 {
		t.Fatalf("raised to %d past a batch in flight at 50", got)
	}
	end()
	_, tok, floor = d.read()
	d.begin(70)()           // a writer began after the read, and finished
	d.raise(tok, floor, 90) // the scan may not have seen it
	if got := d.get(); got != 70 {
		t.Fatalf("raised to %d after a concurrent write at 70, want 70", got)
	}
	_, tok, floor = d.read()
	_, tok2, floor2 := d.read() // two scans open at once
	d.begin(80)()
	d.raise(tok2, floor2, 95)
	d.begin(75)()
	d.raise(tok, floor, 95)
	if got := d.get(); got != 75 {
		t.Fatalf("two scans with writes at 80 and 75 raised to %d, want 75", got)
	}
	_, tok, floor = d.read()
	d.drop(tok)
	d.raise(tok, floor, 200) // closed already: no effect
	if got := d.get(); got != 75 {
		t.Fatalf("a dropped scan raised the mark to %d", got)
	}
	_, tok, floor = d.read()
	d.raise(tok, floor, 90)
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
		at, ok, err := e.s.NextDue(bg, time.Time{})
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
				if _, _, err := e.s.NextDue(bg, time.Time{}); err != nil {
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
				got, ok, err := e.s.NextDue(bg, time.Time{})
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

// NextDue with a bound answers only below it, and raises the mark past the
// tombstones it walked even when the first live key lies beyond the bound:
// the scheduler asks for its longest sleep only.
func TestNextDueBefore(t *testing.T) {
	e := newEnv(t)
	now := t0.Add(time.Hour)
	var ids []string
	for i := range 20 { // leased ahead, then delivered: tombstones past now
		m := msg(t0, fmt.Sprintf("r%d@example.test", i))
		ids = append(ids, e.enqueue(m, "body"))
		e.ok(e.s.Lease(bg, []Lease{{ID: ids[i], Rcpt: 0, Until: now.Add(time.Duration(i+1) * time.Second)}}))
	}
	for _, id := range ids[:19] {
		e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}}))
	}
	last := now.Add(20 * time.Second) // ids[19]'s lease, the only live key
	if _, ok, err := e.s.NextDue(bg, last); ok || err != nil {
		t.Fatalf("next due before %v: %v %v, want none", last, ok, err)
	}
	if low := e.s.due.get(); low != timeNanos(last) {
		t.Fatalf("mark %d after a bounded scan found nothing, want the bound %d", low, timeNanos(last))
	}
	if at, ok, err := e.s.NextDue(bg, last.Add(time.Nanosecond)); !ok || err != nil || !at.Equal(last) {
		t.Fatalf("next due just past the live key: %v %v %v", at, ok, err)
	}
	m := msg(t0, "new@example.test") // due at t0, far below the mark
	e.enqueue(m, "body")
	if at, ok, err := e.s.NextDue(bg, now); !ok || err != nil || !at.Equal(t0) {
		t.Fatalf("next due after an enqueue below the mark: %v %v %v, want %v", at, ok, err, t0)
	}
}
