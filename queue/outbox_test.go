package queue

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestWatermarkWaitsForEarlierSeqs: a later reservation that commits first
// is not readable until every earlier one has settled (E1).
func TestWatermarkWaitsForEarlierSeqs(t *testing.T) {
	o := &outbox{next: 1, inflight: map[uint64]uint64{}, changed: make(chan struct{})}
	a := o.reserve(2) // seqs 1-2
	b := o.reserve(1) // seq 3
	_, ch := o.watermark()
	o.settle(b)
	if m, _ := o.watermark(); m != 0 {
		t.Fatalf("watermark %d while 1-2 are in flight", m)
	}
	select {
	case <-ch:
		t.Fatal("change signalled without a change")
	default:
	}
	o.settle(a)
	if m, _ := o.watermark(); m != 3 {
		t.Fatalf("watermark %d, want 3", m)
	}
	<-ch // signalled
}

// TestEventsCrashDuringApply: Apply runs concurrently while the crash clone
// is taken. In the clone every acknowledged Apply has its events, and every
// event describes a state that is in the clone: none lost, none invented.
func TestEventsCrashDuringApply(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 200 {
		ids = append(ids, e.enqueue(msg(t0, fmt.Sprintf("a%d@x.test", i)), "b"))
	}
	acks, wait := bounceConcurrently(t, e, ids)
	var acked []string
	for id := range acks {
		if acked = append(acked, id); len(acked) == 80 {
			break
		}
	}
	clone := e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(3, 4))})
	wait()
	s := reopenCrashed(t, e, clone)
	evs, err := s.Events(bg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	bounced := map[string]int{}
	for _, ev := range evs {
		if ev.Kind == EventQueued {
			continue
		}
		bounced[ev.ID]++
		m, err := s.Message(bg, ev.ID)
		if err != nil || m.Recipients[0].State != Bounced {
			t.Fatalf("event %s for %s, which is not bounced in the clone: %v", ev.Kind, ev.ID, err)
		}
		if sup, _ := s.Suppression(bg, ev.Rcpt, t0); sup == nil {
			t.Fatalf("event %s for %s without its suppression", ev.Kind, ev.Rcpt)
		}
	}
	for _, id := range acked {
		if bounced[id] != 2 { // bounced + suppressed
			t.Fatalf("acknowledged Apply of %s has %d events", id, bounced[id])
		}
	}
	t.Logf("%d of %d Applies acknowledged at the crash, %d survived with their events", len(acked), len(ids), len(bounced))
}

// bounceConcurrently bounces every id from 8 goroutines and reports each
// acknowledged Apply on acks; wait waits for all of them.
func bounceConcurrently(t *testing.T, e *env, ids []string) (acks chan string, wait func()) {
	acks = make(chan string, len(ids))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(ids); i += 8 {
				err := e.s.Apply(bg, []Update{{ID: ids[i], Rcpt: 0, State: Bounced, CountAttempt: true,
					Attempt: attempt(time.Minute, "bounced", reply(550, "5.1.1", "no")), Suppress: &Suppression{Reason: "hard_bounce"}}})
				if err != nil {
					t.Error(err)
					return
				}
				acks <- ids[i]
			}
		})
	}
	return acks, wg.Wait
}
