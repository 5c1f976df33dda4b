package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
)

// fakeFleet is a FleetShare with a settable node count that records
// what is published.
type fakeFleet struct {
	mu     sync.Mutex
	n      int
	events []DestEvent
}

func (f *fakeFleet) Nodes() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }
func (f *fakeFleet) Publish(e DestEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}
func (f *fakeFleet) set(n int) { f.mu.Lock(); f.n = n; f.mu.Unlock() }
func (f *fakeFleet) published() []DestEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DestEvent(nil), f.events...)
}

// TestFleetShareSplitsConcurrency: with three nodes sharing
// per_domain_concurrency = 10 a node starts 3 jobs at once; when one node
// is gone (two left) it takes 5; alone, all 10.
func TestFleetShareSplitsConcurrency(t *testing.T) {
	fleet := &fakeFleet{n: 3}
	up := &switchable{up: true}
	h := newHarness(t, Options{PerDomain: 10, Fleet: fleet}, nil)
	h.s.o.Deliverer = up
	for range 40 {
		h.submit("u@many.test")
	}
	ctx := context.Background()
	for _, step := range []struct{ nodes, want int }{{3, 3}, {2, 5}, {1, 10}, {20, 1}} {
		fleet.set(step.nodes)
		before := up.count()
		h.s.Step(ctx) // starts what the share allows, then waits for those jobs
		if got := up.count() - before; got != step.want {
			t.Fatalf("%d nodes: %d jobs at once, want %d", step.nodes, got, step.want)
		}
		if st := h.dest("many.test"); st.NodeLimit != step.want || st.Nodes != step.nodes || st.Limit != 10 {
			t.Fatalf("%d nodes: status %+v", step.nodes, st)
		}
	}
}

// TestFleetShareSpacesRate: per_domain_rate is the fleet's too: with two
// nodes each spaces its starts twice as far.
func TestFleetShareSpacesRate(t *testing.T) {
	d := newDest(10, 100*time.Millisecond, time.Minute, time.Hour)
	d.started(t0, 2)
	if want := t0.Add(200 * time.Millisecond); !d.next.Equal(want) {
		t.Fatalf("next start at %v, want %v", d.next, want)
	}
	d.started(t0, 1)
	if want := t0.Add(100 * time.Millisecond); !d.next.Equal(want) {
		t.Fatalf("alone: next start at %v, want %v", d.next, want)
	}
}

// TestFleetPublishesStateChanges: a 421 publishes one throttling event,
// a dead destination one park, its recovery one "ok"; plain successes
// publish nothing.
func TestFleetPublishesStateChanges(t *testing.T) {
	fleet := &fakeFleet{n: 1}
	n := 0
	var mu sync.Mutex
	h := newHarness(t, Options{PerDomain: 4, Fleet: fleet}, func(string, int) delivery.Result {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return reply(421, "4.7.0", "too many connections, slow down", delivery.StageMail)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	})
	h.submit("a@busy.test")
	h.drain(20)
	ev := fleet.published()
	if len(ev) != 1 || ev[0].Kind != DestThrottled || ev[0].Domain != "busy.test" || ev[0].Wait != pauseMin ||
		ev[0].Reply != "too many connections, slow down" {
		t.Fatalf("published %+v, want one throttling of busy.test for %v", ev, pauseMin)
	}

	dead := &switchable{}
	h2 := newHarness(t, Options{PerDomain: 20, Fleet: &fakeFleet{n: 1}}, nil)
	fleet = h2.s.o.Fleet.(*fakeFleet)
	h2.s.o.Deliverer = dead
	for range 10 {
		h2.submit("u@dead.test")
	}
	ctx := context.Background()
	h2.s.Step(ctx)
	// The first refusal throttles (the others arrive within its pause),
	// the fifth parks.
	ev = fleet.published()
	if len(ev) != 2 || ev[0].Kind != DestThrottled || ev[1].Kind != DestParked || ev[1].Wait != 5*time.Minute {
		t.Fatalf("published %+v, want a throttling, then a park for retry.first (5m)", ev)
	}
	dead.set(true)
	h2.clk.Set(t0.Add(5 * time.Minute))
	h2.s.Step(ctx) // the probe gets through
	ev = fleet.published()
	if len(ev) != 3 || ev[2].Kind != DestOK {
		t.Fatalf("published %+v, want the park then ok", ev)
	}
}

// TestApplyRemote: another node's park keeps this node's jobs for the
// destination out of memory until a little after the parking node's probe;
// its "ok" closes the breaker; its throttling halves the limit and pauses
// starts. Nothing applied is published again.
func TestApplyRemote(t *testing.T) {
	fleet := &fakeFleet{n: 2}
	up := &switchable{up: true}
	h := newHarness(t, Options{PerDomain: 10, Fleet: fleet}, nil)
	h.s.o.Deliverer = up
	ctx := context.Background()
	h.s.ApplyRemote(ctx, DestEvent{Domain: "Far.Test", Kind: DestParked, Wait: 10 * time.Minute,
		Left: 9 * time.Minute, Reply: "connection refused", Node: "node1"})
	st := h.dest("far.test")
	if want := t0.Add(9*time.Minute + 54*time.Second); st.State != "parked" || !st.ParkedUntil.Equal(want) ||
		st.LastReply != "connection refused" {
		t.Fatalf("after a remote park: %+v, want parked until %v", st, want)
	}
	for range 5 {
		h.submit("u@far.test")
	}
	h.s.Step(ctx)
	if up.count() != 0 {
		t.Fatalf("%d jobs started to a destination parked by another node", up.count())
	}
	h.s.ApplyRemote(ctx, DestEvent{Domain: "far.test", Kind: DestOK, Node: "node1"})
	if st := h.dest("far.test"); st.State != "ok" {
		t.Fatalf("after a remote ok: %+v", st)
	}
	h.s.ApplyRemote(ctx, DestEvent{Domain: "far.test", Kind: DestThrottled, Wait: 2 * time.Second, Node: "node3"})
	h.s.ApplyRemote(ctx, DestEvent{Domain: "far.test", Kind: DestThrottled, Wait: 2 * time.Second, Node: "node2"})
	st = h.dest("far.test")
	if st.State != "throttled" || st.Limit != 5 || st.NodeLimit != 2 || !st.PausedUntil.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after two remote throttlings within one pause: %+v, want limit 5 (halved once), 2 here, paused 2s", st)
	}
	if ev := fleet.published(); len(ev) != 0 {
		t.Fatalf("remote changes published again: %+v", ev)
	}
}

// TestApplyRemoteNeverShortensAPark: a node that parked a destination for
// longer than another node's park keeps its own probe time.
func TestApplyRemoteNeverShortensAPark(t *testing.T) {
	h := newHarness(t, Options{PerDomain: 10, Fleet: &fakeFleet{n: 2}}, nil)
	ctx := context.Background()
	h.s.ApplyRemote(ctx, DestEvent{Domain: "dead.test", Kind: DestParked, Wait: 20 * time.Minute, Node: "node1"})
	h.s.ApplyRemote(ctx, DestEvent{Domain: "dead.test", Kind: DestParked, Wait: 5 * time.Minute, Node: "node2"})
	if st, want := h.dest("dead.test"), t0.Add(22*time.Minute); !st.ParkedUntil.Equal(want) {
		t.Fatalf("parked until %v, want %v (the longer park, plus a tenth)", st.ParkedUntil, want)
	}
}
