package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// restartN is 10,000 with MTAQ_LONG=1 and a CI-sized 2,000 otherwise.
var restartN = func() int {
	if os.Getenv("MTAQ_LONG") == "1" {
		return 10_000
	}
	return 1_000
}()

// restartRig is a queue on an in-memory filesystem that can be closed and
// reopened (a restart) under a new Scheduler, with a Deliverer that defers
// every first attempt with 451 and accepts every later one.
type restartRig struct {
	t     *testing.T
	fs    vfs.FS
	clk   *clock.Fake
	store *queue.PebbleStore
	d     *scripted
	first map[string]time.Time // each recipient's first attempt
}

func newRestartRig(t *testing.T) *restartRig {
	clk := clock.NewFake(t0)
	r := &restartRig{t: t, fs: vfs.NewMem(), clk: clk}
	r.d = newScripted(clk, func(_ string, n int) delivery.Result {
		if n == 1 {
			return reply(451, "4.7.1", "try again later", delivery.StageRcpt)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	})
	r.open()
	t.Cleanup(func() { r.store.Close() })
	return r
}

func (r *restartRig) open() {
	st, err := queue.Open("q", queue.Options{FS: r.fs, Clock: r.clk})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = st
}

// restart closes the queue and opens it again under a fresh Scheduler.
func (r *restartRig) restart(o Options) *Scheduler {
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
	return r.sched(o)
}

func (r *restartRig) sched(o Options) *Scheduler {
	o.Store, o.Deliverer, o.Clock = r.store, r.d, r.clk
	o.Workers, o.PerDomain = 100, 100   // step drains the lanes at each instant
	o.Schedule = policy.DefaultSchedule // 5m first retry, ±10 %
	rng := rand.New(rand.NewPCG(7, 11)) // seeded: the same histogram every run
	var mu sync.Mutex
	o.Rand = func() float64 { // jobs draw concurrently
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64()
	}
	return New(o)
}

// storm queues restartN messages over 20 domains and lets the first
// attempts run, all deferred by 451, in a few seconds of fake time.
func (r *restartRig) storm() {
	ctx := context.Background()
	s := r.sched(Options{})
	for i := 0; i < restartN; i++ {
		rcpt := fmt.Sprintf("u%d@d%d.test", i, i%20)
		m := &queue.Message{Sender: "app@sender.test", Arrived: r.clk.Now(), Recipients: []queue.Recipient{{
			Address: rcpt, Domain: rcpt[strings.IndexByte(rcpt, '@')+1:], State: queue.Queued, NextAttempt: r.clk.Now()}}}
		if err := r.store.Enqueue(ctx, m, []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
			r.t.Fatal(err)
		}
		if i%(restartN/4) == restartN/4-1 { // four bursts, one second apart
			r.step(s)
			r.clk.Advance(time.Second)
		}
	}
	r.first = map[string]time.Time{}
	for rcpt, ts := range r.d.tries {
		if len(ts) != 1 {
			r.t.Fatalf("%s: %d attempts in the storm, want 1", rcpt, len(ts))
		}
		r.first[rcpt] = ts[0]
	}
	if len(r.first) != restartN {
		r.t.Fatalf("storm attempted %d recipients, want %d", len(r.first), restartN)
	}
}

// step runs s at the current instant until it starts nothing more: the
// worker budget spreads a burst over several Steps, not over fake time.
func (r *restartRig) step(s *Scheduler) {
	for i := 0; i < 1000; i++ {
		r.d.mu.Lock()
		before := len(r.d.jobs)
		r.d.mu.Unlock()
		if err := s.Step(context.Background()); err != nil {
			r.t.Fatal(err)
		}
		r.d.mu.Lock()
		after := len(r.d.jobs)
		r.d.mu.Unlock()
		if after == before {
			return
		}
	}
	r.t.Fatal("scheduler still starting jobs after 1000 steps at one instant")
}

// deferred queues restartN messages as the storm leaves them, without
// running it: each recipient deferred once at t0, due 5m ±10 % later.
func (r *restartRig) deferred() {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 5))
	r.first = map[string]time.Time{}
	for i := 0; i < restartN; i++ {
		rcpt := fmt.Sprintf("u%d@d%d.test", i, i%20)
		next := policy.DefaultSchedule.Next(1, t0, t0, rng.Float64())
		m := &queue.Message{Sender: "app@sender.test", Arrived: t0, Recipients: []queue.Recipient{{
			Address: rcpt, Domain: rcpt[strings.IndexByte(rcpt, '@')+1:], State: queue.Deferred,
			Attempts: 1, NextAttempt: next}}}
		if err := r.store.Enqueue(ctx, m, []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
			r.t.Fatal(err)
		}
		r.d.tries[rcpt] = []time.Time{t0} // the deferred first attempt
		r.first[rcpt] = t0
	}
}

// run steps s one fake second at a time until the queue is empty and
// returns each recipient's retry time.
func (r *restartRig) run(s *Scheduler, maxSteps int) map[string]time.Time {
	ctx := context.Background()
	for i := 0; i < maxSteps; i++ {
		r.step(s)
		at, ok, err := r.store.NextDue(ctx, time.Time{})
		if err != nil {
			r.t.Fatal(err)
		} else if !ok {
			break
		}
		// One second at a time, but jump over stretches where nothing is due.
		if next := r.clk.Now().Add(time.Second); at.After(next) {
			r.clk.Set(at)
		} else {
			r.clk.Set(next)
		}
	}
	if err := r.store.Check(ctx); err != nil {
		r.t.Fatal(err)
	}
	retry := map[string]time.Time{}
	for rcpt, ts := range r.d.tries {
		if len(ts) != 2 {
			r.t.Fatalf("%s: %d attempts, want 2 (deferred, then delivered)", rcpt, len(ts))
		}
		retry[rcpt] = ts[1]
	}
	return retry
}

// histogram buckets times by width from origin and reports it.
func histogram(t *testing.T, name string, ts map[string]time.Time, origin time.Time, width time.Duration) (counts []int, span time.Duration) {
	var lo, hi time.Time
	for _, at := range ts {
		if lo.IsZero() || at.Before(lo) {
			lo = at
		}
		if at.After(hi) {
			hi = at
		}
	}
	for _, at := range ts {
		b := int(at.Sub(origin) / width)
		for len(counts) <= b {
			counts = append(counts, 0)
		}
		counts[b]++
	}
	var sb strings.Builder
	for i, c := range counts {
		if c > 0 {
			fmt.Fprintf(&sb, "\n  +%-6s %5d %s", origin.Add(time.Duration(i)*width).Sub(t0), c, strings.Repeat("#", c*60/len(ts)))
		}
	}
	t.Logf("%s: %d retries from +%s to +%s (span %s), per %s:%s", name, len(ts), lo.Sub(t0), hi.Sub(t0), hi.Sub(lo), width, sb.String())
	return counts, hi.Sub(lo)
}

// TestRestartAfterDeferralStorm: 10,000 recipients deferred by 451 within
// four seconds, then a restart a minute later. Nothing is overdue, so the
// retries come at their stored times: 5m ±10 % after each first attempt,
// spread over the minute-wide jitter window rather than in one burst.
func TestRestartAfterDeferralStorm(t *testing.T) {
	r := newRestartRig(t)
	r.storm()
	r.clk.Set(t0.Add(time.Minute))
	s := r.restart(Options{})
	if err := s.beginCatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.catch != nil {
		t.Fatalf("restart a minute after the storm paces %d recipients as overdue; none is", s.catch.left())
	}
	retry := r.run(s, 600)
	for rcpt, at := range retry {
		// Stepping is one fake second: a retry starts within a second of
		// its stored due time, which lies in first+[4m30s, 5m30s).
		if d := at.Sub(r.first[rcpt]); d < 270*time.Second || d > 331*time.Second {
			t.Fatalf("%s retried %s after its first attempt, want 5m ±10%%", rcpt, d)
		}
	}
	counts, span := histogram(t, "after a deferral storm", retry, t0.Add(4*time.Minute), 10*time.Second)
	if m := slices.Max(counts); m > restartN/4 {
		t.Errorf("one 10 s bucket holds %d of %d retries, want at most a quarter", m, restartN)
	}
	if span < 54*time.Second {
		t.Errorf("retries span %s, want most of the 60 s jitter window", span)
	}
}

// TestRestartAfterLongOutage: the same deferred 10,000, but the daemon comes
// back two hours later, when every one of them is overdue. Unpaced (the
// control) they all start in the first second; paced, they start over
// min(retry.first, N / 100 per second): 100 s for 10,000 (20 s for the
// CI-sized 1,000), a tenth of them in each tenth of the window.
func TestRestartAfterLongOutage(t *testing.T) {
	r := newRestartRig(t)
	r.deferred()
	back := t0.Add(2 * time.Hour)
	r.clk.Set(back)
	s := r.restart(Options{})
	if err := s.beginCatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.catch == nil || s.catch.left() != restartN {
		t.Fatalf("catch-up %+v, want all %d recipients overdue", s.catch, restartN)
	}
	window := time.Duration(restartN/100) * time.Second
	retry := r.run(s, 400)
	counts, span := histogram(t, "after a 2h outage, paced", retry, back, window/10)
	if len(counts) < 10 {
		t.Errorf("retries fill %d buckets of %s, want the %s window", len(counts), window/10, window)
	}
	if m := slices.Max(counts); m > restartN*15/100 {
		t.Errorf("one bucket holds %d of %d retries, want at most 15 %%", m, restartN)
	}
	if span < window*9/10 || span > window+time.Second {
		t.Errorf("retries span %s, want about %s", span, window)
	}
	if s.catch != nil {
		t.Errorf("catch-up still on after the backlog drained: %+v", s.catch)
	}
}

// TestRestartAfterLongOutageUnpaced is the control: the old behaviour,
// without beginCatchUp, starts every overdue recipient in the first scan.
func TestRestartAfterLongOutageUnpaced(t *testing.T) {
	r := newRestartRig(t)
	r.deferred()
	back := t0.Add(2 * time.Hour)
	r.clk.Set(back)
	retry := r.run(r.restart(Options{}), 400)
	counts, _ := histogram(t, "after a 2h outage, unpaced", retry, back, time.Duration(restartN/1000)*time.Second)
	if counts[0] != restartN {
		t.Errorf("unpaced, the first bucket held %d retries; the control expects all %d", counts[0], restartN)
	}
}

// TestRestartDoesNotPaceNewMail: mail queued but never attempted before a
// restart (a backlog after a crash) is not retry traffic: it all starts in
// the first scan, and only the deferred half is paced.
func TestRestartDoesNotPaceNewMail(t *testing.T) {
	r := newRestartRig(t)
	r.deferred()
	ctx := context.Background()
	for i := 0; i < restartN; i++ {
		rcpt := fmt.Sprintf("new%d@d%d.test", i, i%20)
		m := &queue.Message{Sender: "app@sender.test", Arrived: t0, Recipients: []queue.Recipient{{
			Address: rcpt, Domain: rcpt[strings.IndexByte(rcpt, '@')+1:], State: queue.Queued, NextAttempt: t0}}}
		if err := r.store.Enqueue(ctx, m, []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	r.clk.Set(t0.Add(2 * time.Hour))
	s := r.restart(Options{})
	if err := s.beginCatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if s.catch == nil || s.catch.left() != restartN {
		t.Fatalf("catch-up %+v, want the %d deferred recipients paced and the %d new ones not", s.catch, restartN, restartN)
	}
	r.step(s)
	started, retried := 0, 0
	for rcpt, ts := range r.d.tries {
		switch {
		case strings.HasPrefix(rcpt, "new") && len(ts) > 0:
			started++
		case !strings.HasPrefix(rcpt, "new") && len(ts) > 1:
			retried++
		}
	}
	t.Logf("first instant after the restart: %d of %d new recipients started, %d of %d retries", started, restartN, retried, restartN)
	if started != restartN {
		t.Errorf("%d of %d new recipients started in the first scan, want all", started, restartN)
	}
	if retried > restartN/10 {
		t.Errorf("%d retries in the first instant, want them paced", retried)
	}
}
