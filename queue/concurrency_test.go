package queue

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentApply has many goroutines report on different recipients of
// one message and on other messages at once. Every recipient is deferred
// once and then delivered; the counters, due index and body must agree at
// the end.
func TestConcurrentApply(t *testing.T) {
	e := newEnv(t)
	const rcpts, others = 40, 20
	var addrs []string
	for i := range rcpts {
		addrs = append(addrs, fmt.Sprintf("r%d@x.test", i))
	}
	big := e.enqueue(msg(t0, addrs...), "big")
	var small []string
	for i := range others {
		small = append(small, e.enqueue(msg(t0, fmt.Sprintf("s%d@y.test", i), fmt.Sprintf("t%d@y.test", i)), "small"))
	}

	var targets []Due
	for i := range rcpts {
		targets = append(targets, Due{ID: big, Rcpt: i})
	}
	for _, id := range small {
		targets = append(targets, Due{ID: id, Rcpt: 0}, Due{ID: id, Rcpt: 1})
	}
	var wg sync.WaitGroup
	for _, d := range targets {
		wg.Go(func() {
			soft := reply(421, "4.4.2", "busy")
			steps := [][]Update{
				{{ID: d.ID, Rcpt: d.Rcpt, State: Deferred, NextAttempt: t0.Add(time.Hour), CountAttempt: true,
					Attempt: attempt(time.Minute, "deferred", soft)}},
				{{ID: d.ID, Rcpt: d.Rcpt, State: Delivered, CountAttempt: true,
					Attempt: attempt(time.Hour, "delivered", reply(250, "", "ok"))}},
			}
			for _, u := range steps {
				if err := e.s.Apply(bg, u); err != nil {
					t.Errorf("apply %s/%d: %v", d.ID, d.Rcpt, err)
				}
			}
		})
	}
	wg.Wait()
	e.ok(nil)
	for _, id := range append(small, big) {
		m := e.message(id)
		for _, r := range m.Recipients {
			if r.State != Delivered || r.Attempts != 2 {
				t.Fatalf("%s/%d: %+v", id, r.Index, r)
			}
		}
		if _, err := e.s.Body(bg, id); !isNotFound(err) {
			t.Fatalf("body of %s kept after all delivered: %v", id, err)
		}
	}
}

// TestConcurrentSuppressionMerge checks that suppressions of one address from
// different messages, applied at once, each count.
func TestConcurrentSuppressionMerge(t *testing.T) {
	e := newEnv(t)
	const n = 30
	var ids []string
	for i := range n {
		ids = append(ids, e.enqueue(msg(t0.Add(time.Duration(i)*time.Millisecond), "Same@X.test"), "b"))
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Bounced,
				Attempt:  attempt(time.Duration(i)*time.Second, "bounced", reply(550, "5.1.1", "no")),
				Suppress: &Suppression{Reason: "hard_bounce"}}})
			if err != nil {
				t.Errorf("apply: %v", err)
			}
		})
	}
	for range n {
		wg.Go(func() {
			if err := e.s.Suppress(bg, Suppression{Address: "SAME@x.test", Reason: "manual", Created: t0}); err != nil {
				t.Errorf("suppress: %v", err)
			}
		})
	}
	wg.Wait()
	e.ok(nil)
	sup, err := e.s.Suppression(bg, "same@x.test", t0)
	if err != nil || sup == nil || sup.Count != 2*n {
		t.Fatalf("suppression = %+v, %v; want count %d", sup, err, 2*n)
	}
}
