package queue

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func (e *env) history(addr string) *History {
	e.t.Helper()
	h, err := e.s.History(bg, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// finish enqueues one message to addr and applies state at t0+d.
func (e *env) finish(addr string, state State, d time.Duration) string {
	e.t.Helper()
	id := e.enqueue(msg(t0, addr), "Subject: x\r\n\r\nbody\r\n")
	r := reply(250, "2.0.0", "ok")
	if state != Delivered {
		r = reply(550, "5.1.1", "user unknown")
	}
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: state, CountAttempt: true, Reply: r,
		Attempt: attempt(d, string(state), r)}}))
	return id
}

func TestHistoryKeepsLastDeliveryAndLastBounce(t *testing.T) {
	e := newEnv(t)
	if h := e.history("ann@example.com"); h != nil {
		t.Fatalf("history before any mail: %+v", h)
	}
	d1 := e.finish("Ann@Example.com", Delivered, time.Hour)
	h := e.history("ann@example.com")
	if h == nil || !h.Delivered.Equal(t0.Add(time.Hour)) || h.DeliveredID != d1 || h.LastBounced() {
		t.Fatalf("after a delivery: %+v", h)
	}
	b := e.finish("ann@example.com", Bounced, 2*time.Hour)
	h = e.history("ANN@example.com")
	if !h.LastBounced() || h.BouncedID != b || h.BounceReply == nil || h.BounceReply.Enhanced != "5.1.1" ||
		!h.Delivered.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after a bounce: %+v, want the bounce last and the delivery kept", h)
	}
	e.finish("ann@example.com", Delivered, 3*time.Hour)
	if h = e.history("ann@example.com"); h.LastBounced() {
		t.Fatalf("a delivery after the bounce: %+v, want delivered last", h)
	}
	// A late result older than the record does not move it back.
	e.finish("ann@example.com", Delivered, 30*time.Minute)
	if h = e.history("ann@example.com"); !h.Delivered.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("late older delivery moved the record: %+v", h)
	}
}

func TestHistoryIgnoresOutcomesThatSayNothingAboutTheAddress(t *testing.T) {
	e := newEnv(t)
	for i, st := range []State{Failed, Expired, Deleted} {
		addr := fmt.Sprintf("u%d@example.com", i)
		e.finish(addr, st, time.Hour)
		if h := e.history(addr); h != nil {
			t.Errorf("%s wrote history %+v", st, h)
		}
	}
	id := e.enqueue(msg(t0, "held@example.com"), "x\r\n")
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour),
		CountAttempt: true, Attempt: attempt(time.Minute, "deferred", reply(451, "4.7.1", "grey"))}}))
	if h := e.history("held@example.com"); h != nil {
		t.Errorf("a deferral wrote history %+v", h)
	}
}

func TestHistoryAsyncBounceIsTheLastOutcome(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <a@x>", "ann@example.com")
	e.feedback(Feedback{Key: "k1", Kind: FeedbackBounce, QueueID: id, Verified: true, Rcpt: "ann@example.com",
		At: t0.Add(5 * time.Hour), Reply: reply(550, "5.1.1", "user unknown"), Class: "hard"})
	h := e.history("ann@example.com")
	if !h.LastBounced() || !h.Bounced.Equal(t0.Add(5*time.Hour)) || h.BouncedID != id {
		t.Fatalf("after an async bounce: %+v", h)
	}
	// A complaint is not an outcome: the record stays.
	id2 := e.delivered("Message-ID: <b@x>", "bob@example.com")
	before := *e.history("bob@example.com")
	e.feedback(Feedback{Key: "k2", Kind: FeedbackComplaint, QueueID: id2, Verified: true, Rcpt: "bob@example.com",
		At: t0.Add(6 * time.Hour)})
	if h := e.history("bob@example.com"); !h.Delivered.Equal(before.Delivered) || h.LastBounced() {
		t.Fatalf("a complaint changed the history: %+v, was %+v", h, before)
	}
}

// Concurrent jobs finishing recipients at one address merge into one
// record without losing the newest outcome (the address's stripe).
func TestHistoryConcurrentOutcomesKeepTheNewest(t *testing.T) {
	e := newEnv(t)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.enqueue(msg(t0, "same@example.com"), "x\r\n")
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, r := Delivered, reply(250, "", "ok")
			if i%2 == 1 {
				st, r = Bounced, reply(550, "5.1.1", "no")
			}
			if err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: st, CountAttempt: true, Reply: r,
				Attempt: attempt(time.Duration(i+1)*time.Minute, string(st), r)}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.ok(nil)
	h := e.history("same@example.com")
	if !h.Bounced.Equal(t0.Add(n*time.Minute)) || !h.Delivered.Equal(t0.Add((n-1)*time.Minute)) || !h.LastBounced() {
		t.Fatalf("history %+v, want bounce at +%dm and delivery at +%dm", h, n, n-1)
	}
}

// Check finds a missing history record: the invariant can fail.
func TestCheckReportsMissingHistory(t *testing.T) {
	e := newEnv(t)
	e.finish("ann@example.com", Delivered, time.Hour)
	if err := e.s.db.Delete(historyKey("ann@example.com"), nil); err != nil {
		t.Fatal(err)
	}
	err := e.s.Check(bg)
	if err == nil || !strings.Contains(err.Error(), "H1") {
		t.Fatalf("check: %v, want an H1 violation", err)
	}
}

func TestTrimHistory(t *testing.T) {
	e := newEnv(t)
	e.finish("old@example.com", Delivered, time.Hour)
	e.finish("new@example.com", Bounced, 48*time.Hour)
	n, err := e.s.TrimHistory(bg, t0.Add(24*time.Hour))
	e.ok(err)
	if n != 1 || e.history("old@example.com") != nil || e.history("new@example.com") == nil {
		t.Fatalf("trimmed %d; old %+v new %+v", n, e.history("old@example.com"), e.history("new@example.com"))
	}
}

// Crash after Apply: the recipient's final state and its history are
// one synced batch, so a reopened clone has both or neither.
func TestHistorySurvivesCrashWithItsOutcome(t *testing.T) {
	e := newEnv(t)
	e.finish("ann@example.com", Delivered, time.Hour)
	clone := e.fs.CrashClone(vfs.CrashCloneCfg{})
	s := e.open(clone)
	defer s.Close()
	if err := s.Check(bg); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(bg, "ann@example.com")
	if err != nil || h == nil || !h.Delivered.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after crash: %+v, %v", h, err)
	}
}

// An update naming another address than its recipient's is refused: the
// wrong stripe would have been locked.
func TestApplyRefusesWrongAddress(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "ann@example.com"), "x\r\n")
	err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, Address: "bob@example.com", State: Delivered,
		Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}})
	if err == nil || !strings.Contains(err.Error(), "bob@example.com") {
		t.Fatalf("apply: %v, want a refusal naming the address", err)
	}
	if m := e.message(id); m.Recipients[0].State != Queued {
		t.Fatalf("state %s after a refused update", m.Recipients[0].State)
	}
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, Address: "ANN@example.com", State: Delivered,
		Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}}))
	if h := e.history("ann@example.com"); h == nil {
		t.Fatal("no history after the update with the address")
	}
}
