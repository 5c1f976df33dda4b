package queue

import (
	"slices"
	"testing"
	"time"
)

// TestRecipientLife walks one message through lease, deferral, bounce with
// suppression, delivery and retention, checking the invariants after every
// step.
func TestRecipientLife(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "ok@x.test", "grey@y.test", "unknown@x.test"), "body")
	if got := e.due(t0); len(got) != 3 {
		t.Fatalf("due after enqueue = %v", got)
	}
	e.lifeLease(id)
	e.lifeFirstAttempt(id)
	e.lifeRetryThenDeliver(id)
	e.lifeRetention(id)
}

// lifeLease moves every due key before the attempt starts (Q2).
func (e *env) lifeLease(id string) {
	e.t.Helper()
	e.ok(e.s.Lease(bg, []Lease{{id, 0, t0.Add(10 * time.Minute)}, {id, 1, t0.Add(10 * time.Minute)}, {id, 2, t0.Add(10 * time.Minute)}}))
	if got := e.due(t0.Add(9 * time.Minute)); len(got) != 0 {
		e.t.Fatalf("due before lease expiry = %v", got)
	}
	if at := e.message(id).Recipients[1].NextAttempt; !at.Equal(t0.Add(10 * time.Minute)) {
		e.t.Fatalf("leased NextAttempt = %v", at)
	}
}

// lifeFirstAttempt delivers one recipient, defers one and bounces one, with
// its suppression in the same batch (Q3).
func (e *env) lifeFirstAttempt(id string) {
	e.t.Helper()
	bounce := reply(550, "5.1.1", "user unknown")
	e.ok(e.s.Apply(bg, []Update{
		{ID: id, Rcpt: 0, State: Delivered, CountAttempt: true, Reply: reply(250, "2.0.0", "ok"),
			Attempt: attempt(time.Minute, "delivered", reply(250, "2.0.0", "ok"))},
		{ID: id, Rcpt: 1, State: Deferred, NextAttempt: t0.Add(6 * time.Minute), CountAttempt: true,
			Reply: reply(451, "4.7.1", "greylisted"), Attempt: attempt(time.Minute, "deferred", reply(451, "4.7.1", "greylisted"))},
		{ID: id, Rcpt: 2, State: Bounced, CountAttempt: true, Reply: bounce, AboutAddress: true,
			Attempt:  attempt(time.Minute, "bounced", bounce),
			Suppress: &Suppression{Reason: "hard_bounce", Reply: bounce}},
	}))
	if got := e.due(t0.Add(time.Hour)); !slices.Equal(got, []string{id + "/1@6m0s"}) {
		e.t.Fatalf("due after first attempt = %v, want only the deferred one", got)
	}
	if _, err := e.s.Body(bg, id); err != nil {
		e.t.Fatalf("body gone while a recipient is deferred: %v", err)
	}
	sup, err := e.s.Suppression(bg, "UNKNOWN@x.test", t0.Add(time.Hour))
	if err != nil || sup == nil || sup.Reason != "hard_bounce" || sup.MessageID != id ||
		!sup.Created.Equal(t0.Add(time.Minute)) || sup.Count != 1 {
		e.t.Fatalf("suppression written with the bounce = %+v, %v", sup, err)
	}
	r2 := e.message(id).Recipients[2]
	if r2.State != Bounced || !r2.LastAboutAddress || r2.LastReply.Code != 550 || r2.Attempts != 1 || !r2.NextAttempt.IsZero() {
		e.t.Fatalf("bounced recipient = %+v", r2)
	}
}

// lifeRetryThenDeliver defers the greylisted recipient again, then delivers
// it; the last recipient to become final removes the body (Q4).
func (e *env) lifeRetryThenDeliver(id string) {
	e.t.Helper()
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Deferred, NextAttempt: t0.Add(20 * time.Minute),
		CountAttempt: true, Reply: reply(451, "4.7.1", "greylisted"),
		Attempt: attempt(6*time.Minute, "deferred", reply(451, "4.7.1", "greylisted"))}}))
	if got := e.due(t0.Add(time.Hour)); !slices.Equal(got, []string{id + "/1@20m0s"}) {
		e.t.Fatalf("deferred recipient did not move in the due index: %v", got)
	}

	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Delivered, CountAttempt: true,
		Reply: reply(250, "2.0.0", "ok"), Attempt: attempt(20*time.Minute, "delivered", reply(250, "2.0.0", "ok"))}}))
	if _, err := e.s.Body(bg, id); !isNotFound(err) {
		e.t.Fatalf("Q4: body kept after the last recipient became final: %v", err)
	}
	if _, ok, err := e.s.NextDue(bg, time.Time{}); ok || err != nil {
		e.t.Fatalf("NextDue = %v, %v; want nothing pending", ok, err)
	}
	tl, err := e.s.Timeline(bg, id, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	var decisions []string
	for _, a := range tl {
		decisions = append(decisions, a.Decision+"@"+a.At.Sub(t0).String())
	}
	if want := []string{"deferred@1m0s", "deferred@6m0s", "delivered@20m0s"}; !slices.Equal(decisions, want) {
		e.t.Fatalf("timeline = %v, want %v", decisions, want)
	}
	if r1 := e.message(id).Recipients[1]; r1.Attempts != 3 || r1.State != Delivered || !r1.Updated.Equal(t0.Add(20*time.Minute)) {
		e.t.Fatalf("delivered recipient = %+v", r1)
	}
}

// lifeRetention: the compact record stays until Purge passes its final time.
func (e *env) lifeRetention(id string) {
	e.t.Helper()
	n, err := e.s.Purge(bg, t0.Add(20*time.Minute))
	e.ok(err)
	if n != 0 {
		e.t.Fatalf("purged %d before the final time", n)
	}
	n, err = e.s.Purge(bg, t0.Add(21*time.Minute))
	e.ok(err)
	if _, err := e.s.Message(bg, id); n != 1 || !isNotFound(err) {
		e.t.Fatalf("purge: n=%d, message err=%v", n, err)
	}
	if _, err := e.s.Timeline(bg, id, 1); !isNotFound(err) {
		e.t.Fatalf("timeline after purge: %v", err)
	}
	if keys := e.keysWith(id); len(keys) != 0 {
		e.t.Fatalf("purge left records behind: %q", keys)
	}
	if sup, _ := e.s.Suppression(bg, "unknown@x.test", t0.Add(time.Hour)); sup == nil {
		e.t.Fatal("purge removed a suppression: it outlives the message")
	}
}

func TestApplyUnknownCommitsNothing(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test"), "body")
	err := e.s.Apply(bg, []Update{
		{ID: id, Rcpt: 0, State: Delivered},
		{ID: "NOSUCHMESSAGE", Rcpt: 0, State: Delivered},
	})
	if !isNotFound(err) {
		t.Fatalf("unknown message: %v", err)
	}
	if err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 7, State: Delivered}}); !isNotFound(err) {
		t.Fatalf("unknown recipient: %v", err)
	}
	if err := e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred}}); err == nil {
		t.Fatal("deferred without NextAttempt: want error")
	}
	e.ok(nil)
	if r := e.message(id).Recipients[0]; r.State != Queued {
		t.Fatalf("a failed Apply changed state: %+v", r)
	}
}

func TestApplyLateResultForFinalRecipientIsSkipped(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test", "b@x.test"), "body")
	e.clock.Advance(time.Minute)
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deleted}}))
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Bounced, CountAttempt: true,
		Attempt:  attempt(2*time.Minute, "bounced", reply(550, "5.1.1", "no")),
		Suppress: &Suppression{Reason: "hard_bounce"}}}))
	if r := e.message(id).Recipients[0]; r.State != Deleted || r.Attempts != 0 {
		t.Fatalf("late result changed a final recipient: %+v", r)
	}
	if sup, _ := e.s.Suppression(bg, "a@x.test", t0); sup != nil {
		t.Fatalf("late result suppressed: %+v", sup)
	}
	if tl, _ := e.s.Timeline(bg, id, 0); len(tl) != 0 {
		t.Fatalf("late result in timeline: %+v", tl)
	}
}

func TestHoldAndRelease(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test"), "body")
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Held}}))
	if d := e.due(t0.Add(time.Hour)); len(d) != 0 {
		t.Fatalf("held recipient is due: %v", d)
	}
	if _, err := e.s.Body(bg, id); err != nil {
		t.Fatalf("held message lost its body: %v", err)
	}
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Queued, NextAttempt: t0.Add(time.Hour)}}))
	if d := e.due(t0.Add(time.Hour)); !slices.Equal(d, []string{id + "/0@1h0m0s"}) {
		t.Fatalf("released recipient due = %v", d)
	}
	// A lease on a held recipient is skipped, not an error.
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Held}}))
	e.ok(e.s.Lease(bg, []Lease{{ID: id, Rcpt: 0, Until: t0.Add(2 * time.Hour)}}))
	if err := e.s.Lease(bg, []Lease{{ID: "NOPE", Rcpt: 0, Until: t0}}); !isNotFound(err) {
		t.Fatalf("lease on unknown message: %v", err)
	}
	// An operator delete stamps the final time from the clock.
	e.clock.Advance(3 * time.Hour)
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deleted}}))
	if n, err := e.s.Purge(bg, t0.Add(3*time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge before final time: %d, %v", n, err)
	}
	if n, err := e.s.Purge(bg, t0.Add(4*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge after final time: %d, %v", n, err)
	}
	e.ok(nil)
}

func TestApplySameRecipientTwiceInOneBatch(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@x.test"), "body")
	soft := reply(451, "4.3.0", "try later")
	e.ok(e.s.Apply(bg, []Update{
		{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour), CountAttempt: true, Attempt: attempt(time.Minute, "deferred", soft)},
		{ID: id, Rcpt: 0, State: Expired, Attempt: attempt(time.Minute, "expired", soft)},
	}))
	tl, err := e.s.Timeline(bg, id, 0)
	if err != nil || len(tl) != 2 || tl[0].Decision != "deferred" || tl[1].Decision != "expired" {
		t.Fatalf("timeline = %+v, %v", tl, err)
	}
	if _, err := e.s.Body(bg, id); !isNotFound(err) {
		t.Fatalf("body after expiry: %v", err)
	}
}

func TestDueLimitAndOrder(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 5 {
		m := msg(t0, "a@x.test")
		m.Recipients[0].NextAttempt = t0.Add(time.Duration(5-i) * time.Minute)
		e.enqueue(m, "b")
		want = append([]string{m.ID + "/0@" + (time.Duration(5-i) * time.Minute).String()}, want...)
	}
	d, err := e.s.Due(bg, t0.Add(time.Hour), 2)
	if err != nil || len(d) != 2 {
		t.Fatalf("due limit: %v, %v", d, err)
	}
	if got := e.due(t0.Add(3 * time.Minute)); !slices.Equal(got, want[:3]) {
		t.Fatalf("due = %v, want %v", got, want[:3])
	}
	at, ok, err := e.s.NextDue(bg, time.Time{})
	if err != nil || !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextDue = %v %v %v", at, ok, err)
	}
}
