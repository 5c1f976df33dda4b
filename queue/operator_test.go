package queue

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func (e *env) op(f func() (int, error), want int) {
	e.t.Helper()
	n, err := f()
	e.ok(err)
	if n != want {
		e.t.Fatalf("changed %d recipients, want %d", n, want)
	}
}

func (e *env) states(id string) []State {
	e.t.Helper()
	var out []State
	for _, r := range e.message(id).Recipients {
		out = append(out, r.State)
	}
	return out
}

func (e *env) lastDecision(id string, rcpt int) string {
	e.t.Helper()
	tl, err := e.s.Timeline(bg, id, rcpt)
	if err != nil || len(tl) == 0 {
		e.t.Fatalf("timeline %s/%d: %v %v", id, rcpt, tl, err)
	}
	return tl[len(tl)-1].Decision
}

// TestHoldRelease: a hold takes recipients out of the due index without
// touching attempts; a release makes them due now, deferred if attempted.
func TestHoldRelease(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test", "b@y.test"), "Subject: hi\r\n\r\nbody\r\n")
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Deferred, NextAttempt: t0.Add(5 * time.Minute),
		CountAttempt: true, AboutAddress: true, Reply: reply(452, "4.2.2", "mailbox full"),
		Attempt: attempt(0, "deferred", reply(452, "4.2.2", "mailbox full"))}}))
	now := t0.Add(time.Minute)
	e.op(func() (int, error) { return e.s.Hold(bg, id, now) }, 2)
	if got := e.states(id); !slices.Equal(got, []State{Held, Held}) {
		t.Fatalf("after hold: %v", got)
	}
	if got := e.due(t0.Add(48 * time.Hour)); len(got) != 0 {
		t.Fatalf("held recipients still due: %v", got)
	}
	if d := e.lastDecision(id, 0); d != "held" {
		t.Fatalf("hold recorded %q", d)
	}
	e.op(func() (int, error) { return e.s.Hold(bg, id, now) }, 0)

	later := t0.Add(2 * time.Hour)
	e.op(func() (int, error) { return e.s.Release(bg, id, later) }, 2)
	m := e.message(id)
	r0, r1 := m.Recipients[0], m.Recipients[1]
	if r0.State != Queued || r1.State != Deferred || r1.Attempts != 1 || !r1.LastAboutAddress ||
		!r0.NextAttempt.Equal(later) || !r1.NextAttempt.Equal(later) || r1.LastReply.Code != 452 {
		t.Fatalf("after release: %+v / %+v", r0, r1)
	}
	if got := e.due(later); len(got) != 2 {
		t.Fatalf("released recipients due = %v", got)
	}
}

// TestHeldStaysHeldAfterInFlightDeferral: a job leased before the hold
// reports a deferral; the recipient stays held, the attempt is recorded.
func TestHeldStaysHeldAfterInFlightDeferral(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test"), "body")
	e.ok(e.s.Lease(bg, []Lease{{id, 0, t0.Add(5 * time.Minute)}}))
	e.op(func() (int, error) { return e.s.Hold(bg, id, t0) }, 1)
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(5 * time.Minute),
		CountAttempt: true, Reply: reply(451, "4.7.1", "greylisted"), Attempt: attempt(time.Second, "deferred", reply(451, "4.7.1", "greylisted"))}}))
	r := e.message(id).Recipients[0]
	if r.State != Held || r.Attempts != 1 || !r.NextAttempt.IsZero() {
		t.Fatalf("after in-flight deferral: %+v", r)
	}
	// A delivery wins: it was delivered.
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, CountAttempt: true,
		Reply: reply(250, "2.0.0", "ok"), Attempt: attempt(2*time.Second, "delivered", reply(250, "2.0.0", "ok"))}}))
	if got := e.states(id); !slices.Equal(got, []State{Delivered}) {
		t.Fatalf("delivery after hold: %v", got)
	}
}

// TestRetryMovesDueKeyOnly: retry makes pending recipients due now and
// leaves attempts and replies alone.
func TestRetryMovesDueKeyOnly(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test", "b@y.test"), "body")
	e.ok(e.s.Apply(bg, []Update{
		{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour), CountAttempt: true, Reply: reply(451, "", "later")},
		{ID: id, Rcpt: 1, State: Delivered, CountAttempt: true, Reply: reply(250, "", "ok")},
	}))
	now := t0.Add(time.Minute)
	e.op(func() (int, error) { return e.s.Retry(bg, id, now) }, 1)
	r := e.message(id).Recipients[0]
	if r.State != Deferred || r.Attempts != 1 || !r.NextAttempt.Equal(now) || r.LastReply.Text != "later" {
		t.Fatalf("after retry: %+v", r)
	}
	if got := e.due(now); !slices.Equal(got, []string{id + "/0@1m0s"}) {
		t.Fatalf("due after retry = %v", got)
	}
}

// TestDeleteAndBounceFinalise: both end every open recipient; the last
// removes the body (Q4); a bounce by the operator suppresses nobody.
func TestDeleteAndBounceFinalise(t *testing.T) {
	e := newEnv(t)
	del := e.enqueue(msg(t0, "a@x.test", "b@y.test"), "body")
	e.op(func() (int, error) { return e.s.Hold(bg, del, t0) }, 2)
	e.op(func() (int, error) { return e.s.Delete(bg, del, t0.Add(time.Minute)) }, 2)
	if got := e.states(del); !slices.Equal(got, []State{Deleted, Deleted}) {
		t.Fatalf("after delete: %v", got)
	}
	if _, err := e.s.Body(bg, del); !isNotFound(err) {
		t.Fatalf("body after delete: %v", err)
	}

	bnc := e.enqueue(msg(t0, "c@x.test", "d@y.test"), "body")
	e.op(func() (int, error) {
		return e.s.Operate(bg, Operation{Action: ActBounce, ID: bnc, Domain: "Y.test", Now: t0})
	}, 1)
	if got := e.states(bnc); !slices.Equal(got, []State{Queued, Failed}) {
		t.Fatalf("domain-limited bounce: %v", got)
	}
	r := e.message(bnc).Recipients[1]
	if r.LastReply == nil || r.LastReply.Text != OperatorReply || e.lastDecision(bnc, 1) != "failed" {
		t.Fatalf("bounced recipient %+v", r)
	}
	if sup, _ := e.s.Suppression(bg, "d@y.test", t0); sup != nil {
		t.Fatalf("operator bounce suppressed: %+v", sup)
	}
	e.op(func() (int, error) { return e.s.Bounce(bg, bnc, t0) }, 1)
	if _, err := e.s.Body(bg, bnc); !isNotFound(err) {
		t.Fatalf("body after last bounce: %v", err)
	}
	if _, err := e.s.Hold(bg, "0000000000000000", t0); !isNotFound(err) {
		t.Fatalf("hold of an unknown message: %v", err)
	}
}

func TestEachRecipientAndSuppressMany(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.enqueue(msg(t0, fmt.Sprintf("r%d@x.test", i), "s@y.test"), "body")
	}
	n := 0
	e.ok(e.s.EachRecipient(bg, func(id string, r *Recipient) error {
		if validID(id) != nil || r.State != Queued {
			t.Errorf("recipient %s %+v", id, r)
		}
		n++
		return nil
	}))
	if n != 10 {
		t.Fatalf("visited %d recipients, want 10", n)
	}
	sups := []Suppression{{Address: "A@x.test", Reason: "manual"}, {Address: "b@x.test", Reason: "complaint"}, {Address: "a@X.test", Reason: "unsubscribe"}}
	e.ok(e.s.SuppressMany(bg, sups))
	if c, err := e.s.SuppressionCount(bg); err != nil || c != 2 {
		t.Fatalf("count = %d, %v", c, err)
	}
	if sup, _ := e.s.Suppression(bg, "a@x.test", t0); sup == nil || sup.Count != 2 || sup.Reason != "unsubscribe" {
		t.Fatalf("merged within one batch: %+v", sup)
	}
}
