package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
)

// switchable answers for every job as up() says: unreachable (no host
// answered) or delivered; it counts jobs, i.e. connection attempts.
type switchable struct {
	mu   sync.Mutex
	up   bool
	jobs int
}

func (d *switchable) Deliver(_ context.Context, j delivery.Job) []delivery.Result {
	d.mu.Lock()
	d.jobs++
	up := d.up
	d.mu.Unlock()
	out := make([]delivery.Result, len(j.Rcpts))
	for i, r := range j.Rcpts {
		out[i] = delivery.Result{Rcpt: r, Enhanced: "4.4.1", Stage: delivery.StageDial, Text: "connect: connection refused"}
		if up {
			out[i] = delivery.Result{Rcpt: r, Code: 250, Enhanced: "2.0.0", Text: "ok", Stage: delivery.StageData}
		}
	}
	return out
}

func (d *switchable) set(up bool) { d.mu.Lock(); d.up = up; d.mu.Unlock() }
func (d *switchable) count() int  { d.mu.Lock(); defer d.mu.Unlock(); return d.jobs }

func (h *harness) dest(domain string) DestinationStatus {
	for _, d := range h.s.Destinations() {
		if d.Domain == domain {
			return d
		}
	}
	return DestinationStatus{}
}

// TestDeadDestinationIsParked: 1000 messages to a destination that refuses
// every connection cost at most one round of parallel attempts, then one
// probe per park period; parked recipients keep their attempt count; when
// the destination comes back, everything is delivered.
func TestDeadDestinationIsParked(t *testing.T) {
	dead := &switchable{}
	h := newHarness(t, Options{PerDomain: 20}, nil)
	h.s.o.Deliverer = dead
	for i := 0; i < 1000; i++ {
		h.submit("u@dead.test")
	}
	ctx := context.Background()
	h.s.Step(ctx)
	first := dead.count()
	st := h.dest("dead.test")
	t.Logf("1000 messages: %d connection attempts, then %+v", first, st)
	if first > 20 || st.State != "parked" || !st.ParkedUntil.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("%d attempts, destination %+v; want ≤ 20 and parked for retry.first (5m)", first, st)
	}
	msgs, _ := h.store.List(ctx, queue.Filter{State: queue.Queued})
	if len(msgs) < 1000-first {
		t.Fatalf("%d messages still queued, want %d untouched by the park", len(msgs), 1000-first)
	}

	h.clk.Set(t0.Add(5 * time.Minute)) // probe time: one job, which fails
	h.s.Step(ctx)
	if got := dead.count() - first; got != 1 {
		t.Fatalf("probe sent %d jobs, want 1", got)
	}
	if st := h.dest("dead.test"); st.State != "parked" || !st.ParkedUntil.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("after a failed probe: %+v, want parked 10m more", st)
	}

	dead.set(true)
	h.clk.Set(t0.Add(15 * time.Minute))
	for i := 0; i < 2000 && h.pending(); i++ {
		h.s.Step(ctx)
		if at, ok := h.s.laneReady(); ok && !h.pendingNow() {
			h.clk.Set(at)
		} else if !h.pendingNow() {
			if at, ok, _ := h.store.NextDue(ctx, time.Time{}); ok {
				h.clk.Set(at)
			}
		}
	}
	if h.pending() {
		t.Fatal("messages left after the destination came back")
	}
	if st := h.dest("dead.test"); st.State != "ok" && st.State != "throttled" {
		t.Fatalf("destination after recovery: %+v", st)
	}
}

// pending reports whether any recipient is queued or deferred.
func (h *harness) pending() bool {
	_, ok, _ := h.store.NextDue(context.Background(), time.Time{})
	return ok || h.s.InFlight() > 0
}

// pendingNow reports whether work is due or waiting in memory now.
func (h *harness) pendingNow() bool {
	at, ok, _ := h.store.NextDue(context.Background(), time.Time{})
	if ok && !at.After(h.clk.Now()) {
		return true
	}
	for _, d := range h.s.Destinations() {
		if d.Waiting > 0 && d.PausedUntil.IsZero() {
			return true
		}
	}
	return false
}

// TestThrottlingDropsAndRecovers: 421 replies halve the destination's
// concurrency; successes bring it back step by step to the configured 20.
func TestThrottlingDropsAndRecovers(t *testing.T) {
	n := 0
	var mu sync.Mutex
	answer := func(string, int) delivery.Result {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= 3 {
			return reply(421, "4.7.0", "Too many concurrent SMTP connections; try again later", delivery.StageMail)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	}
	h := newHarness(t, Options{PerDomain: 20, Workers: 1}, answer)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		h.submit("a@busy.test")
		h.s.Step(ctx)
		h.clk.Advance(time.Minute) // past the pause
	}
	low := h.dest("busy.test")
	t.Logf("after three 421s: %+v", low)
	if low.Limit != 2 || low.State != "throttled" {
		t.Fatalf("limit after three 421s = %d (%s), want 20→10→5→2", low.Limit, low.State)
	}
	for i := 0; i < 100; i++ {
		h.submit("b@busy.test")
		h.s.Step(ctx)
	}
	high := h.dest("busy.test")
	t.Logf("after 100 deliveries: %+v", high)
	if high.Limit != 20 || high.State != "ok" {
		t.Fatalf("limit after successes = %d (%s), want back to 20", high.Limit, high.State)
	}
	if !h.s.ResetDestination("busy.test") || h.dest("busy.test").Limit != 20 {
		t.Fatal("reset")
	}
}

// TestPerDomainRate: with per_domain_rate 2/s, jobs to one domain start
// 500ms apart while another domain is not held back.
func TestPerDomainRate(t *testing.T) {
	ok := func(string, int) delivery.Result { return reply(250, "2.0.0", "ok", delivery.StageData) }
	h := newHarness(t, Options{PerDomainRate: 2}, ok)
	for i := 0; i < 4; i++ {
		h.submit("u@rate.test")
	}
	h.submit("v@other.test")
	ctx := context.Background()
	for i := 0; i < 10 && h.pending(); i++ {
		h.s.Step(ctx)
		if at, ok := h.s.laneReady(); ok {
			h.clk.Set(at)
		}
	}
	var gaps []time.Duration
	at := h.d.attempts("u@rate.test")
	for i := 1; i < len(at); i++ {
		gaps = append(gaps, at[i].Sub(at[i-1]))
	}
	if len(at) != 4 || gaps[0] != 500*time.Millisecond || gaps[2] != 500*time.Millisecond {
		t.Fatalf("rate.test attempts at %v (gaps %v), want 4 starts 500ms apart", at, gaps)
	}
	if o := h.d.attempts("v@other.test"); len(o) != 1 || !o[0].Equal(t0) {
		t.Fatalf("other.test attempted at %v, want at once", o)
	}
}
