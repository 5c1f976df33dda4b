package scheduler

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

func ok250(string, int) delivery.Result { return reply(250, "2.0.0", "ok", delivery.StageData) }

// submitPool enqueues n one-recipient messages to rcpt from pool.
func (h *harness) submitPool(pool, rcpt string, n int) []string {
	h.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		m := &queue.Message{Sender: "app@sender.test", Arrived: h.clk.Now(), Pool: pool,
			Recipients: []queue.Recipient{{Address: rcpt, Domain: rcpt[strings.LastIndexByte(rcpt, '@')+1:],
				State: queue.Queued, NextAttempt: h.clk.Now()}}}
		if err := h.store.Enqueue(context.Background(), m, []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
			h.t.Fatal(err)
		}
		ids[i] = m.ID
	}
	return ids
}

func (h *harness) step() {
	h.t.Helper()
	if err := h.s.Step(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.Check(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// states counts ids' recipients by state.
func (h *harness) states(ids []string) map[queue.State]int {
	out := map[queue.State]int{}
	for _, id := range ids {
		out[h.rcpt(id, 0).State]++
	}
	return out
}

// A warm-up cap of 20 a day: 100 messages go 20 today, 30 tomorrow, 45
// the day after, the last 5 on the fourth day; none bounces, none counts
// an attempt while waiting, and the counts survive a restart.
func TestWarmupCapPerDay(t *testing.T) {
	pool := Pool{Name: "new", Sources: []Source{{IP: net.ParseIP("192.0.2.20"), EHLO: "new.out.test"}},
		Warmup: policy.Warmup{Start: 20, Period: 720 * time.Hour}}
	o := Options{Pools: []Pool{pool}}
	h := newHarness(t, o, ok250)
	o = h.s.o
	o.Sent = h.store
	h.s = New(o)
	ids := h.submitPool("", "r@x.test", 100)
	h.step()
	h.step()
	if got := h.states(ids); got[queue.Delivered] != 20 || got[queue.Queued] != 80 {
		t.Fatalf("day 0: %v", got)
	}
	for _, j := range h.d.jobs {
		if !j.Source.Equal(pool.Sources[0].IP) || j.EHLO != "new.out.test" {
			t.Fatalf("job from %v as %q", j.Source, j.EHLO)
		}
	}
	tomorrow := queue.DayStart(queue.Day(t0) + 1)
	var waiting string
	for _, id := range ids {
		if r := h.rcpt(id, 0); r.State == queue.Queued {
			waiting = id
			if r.Attempts != 0 || !r.NextAttempt.Equal(tomorrow.Add(5*time.Minute)) {
				t.Fatalf("waiting recipient %+v", r)
			}
		}
	}
	tl, err := h.store.Timeline(context.Background(), waiting, 0)
	if err != nil || len(tl) != 1 || tl[0].Decision != "deferred" || tl[0].Pool != "new" ||
		!strings.HasPrefix(tl[0].Reply.Text, "warm-up: pool new has reached today's cap for x.test (192.0.2.20 20/20)") {
		t.Fatalf("timeline %+v, %v", tl, err)
	}

	// A restart the same day: the 20 are remembered, new mail waits too.
	h.s = New(o)
	h.clk.Set(t0.Add(time.Hour))
	more := h.submitPool("", "s@x.test", 5)
	h.step()
	if got := h.states(more); got[queue.Queued] != 5 {
		t.Fatalf("after restart: %v", got)
	}
	ids = append(ids, more...)
	for day, want := range []int{50, 95, 105} { // 20 + 30, + 45, + the last 10
		h.clk.Set(tomorrow.Add(time.Duration(day)*24*time.Hour + 10*time.Minute))
		h.step() // at most per_domain (20) jobs start in one step
		h.step()
		h.step()
		if got := h.states(ids); got[queue.Delivered] != want || got[queue.Bounced]+got[queue.Expired] != 0 {
			t.Fatalf("day %d: %v, want %d delivered", day+1, got, want)
		}
	}
	src := h.s.Sources(context.Background())
	if len(src) != 1 || src[0].WarmupDay != 3 || src[0].Cap != 67 || src[0].Sent != 10 {
		t.Errorf("stats %+v", src)
	}
}

// Jobs of a pool take its addresses in turn; each address is its own
// destination; the timeline names pool and source; a message with no
// pool (or a pool no longer configured) takes the default.
func TestPoolSourcesRotateAndKeyDestinations(t *testing.T) {
	a, b, c := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2"), net.ParseIP("192.0.2.9")
	o := Options{DefaultPool: "default", Pools: []Pool{
		{Name: "tx", Sources: []Source{{IP: a, EHLO: "a.test"}, {IP: b, EHLO: "b.test"}}},
		{Name: "default", Sources: []Source{{IP: c, EHLO: "c.test"}}},
	}}
	h := newHarness(t, o, ok250)
	tx := h.submitPool("tx", "r@y.test", 4)
	other := h.submitPool("gone", "r@y.test", 1)
	h.step()
	from := map[string]int{}
	for _, j := range h.d.jobs {
		from[j.Source.String()+" "+j.EHLO]++
	}
	if from["192.0.2.1 a.test"] != 2 || from["192.0.2.2 b.test"] != 2 || from["192.0.2.9 c.test"] != 1 {
		t.Errorf("jobs by source: %v", from)
	}
	tl, err := h.store.Timeline(context.Background(), tx[0], 0)
	if err != nil || len(tl) != 1 || tl[0].Pool != "tx" || (tl[0].SourceIP != "192.0.2.1" && tl[0].SourceIP != "192.0.2.2") {
		t.Errorf("timeline %+v, %v", tl, err)
	}
	if tl, _ := h.store.Timeline(context.Background(), other[0], 0); len(tl) != 1 || tl[0].Pool != "default" {
		t.Errorf("timeline of a message whose pool is gone: %+v", tl)
	}
	seen := map[string]bool{}
	for _, d := range h.s.Destinations() {
		if d.Domain == "y.test" {
			seen[d.SourceIP] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("destinations of y.test by source: %v", seen)
	}
	if !h.s.ResetDestination("y.test") {
		t.Error("reset of y.test: unknown")
	}
}

// gated answers source B's first job Busy at once and holds source A's
// job until B's has gone back to its lane (the scheduler's wake-up after
// it), then delivers everything.
type gated struct {
	a, b  net.IP
	wake  <-chan struct{}
	mu    sync.Mutex
	calls map[string]int
}

func (g *gated) Deliver(_ context.Context, j delivery.Job) []delivery.Result {
	g.mu.Lock()
	g.calls[j.Source.String()]++
	n := g.calls[j.Source.String()]
	g.mu.Unlock()
	r := reply(250, "2.0.0", "ok", delivery.StageData)
	switch {
	case j.Source.Equal(g.b) && n == 1:
		r = delivery.Result{Enhanced: "4.4.5", Stage: delivery.StageDial, Busy: true, Text: "every address busy"}
	case j.Source.Equal(g.a):
		select {
		case <-g.wake:
		case <-time.After(10 * time.Second):
		}
	}
	out := make([]delivery.Result, len(j.Rcpts))
	for i := range out {
		out[i] = r
		out[i].Rcpt = j.Rcpts[i]
	}
	return out
}

// A job from one source that found the exchanger busy goes again as soon
// as a job to the same domain from another source ends: the slot it
// waited for is free (the fake clock never reaches BusyWait).
func TestBusyLaneOfAnotherSourceResumes(t *testing.T) {
	a, b := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	o := Options{Pools: []Pool{{Name: "p", Sources: []Source{{IP: a}, {IP: b}}}}}
	h := newHarness(t, o, ok250)
	g := &gated{a: a, b: b, calls: map[string]int{}}
	o = h.s.o
	o.Deliverer = g
	h.s = New(o)
	g.wake = h.s.wake
	ids := h.submitPool("p", "r@y.test", 2)
	h.step()
	h.step()
	if got := h.states(ids); got[queue.Delivered] != 2 {
		t.Fatalf("%v; calls %v", got, g.calls)
	}
}

// Without a SentStore the counts and first days live in memory: the cap
// still grows from one day to the next.
func TestWarmupInMemoryGrows(t *testing.T) {
	pool := Pool{Name: "new", Sources: []Source{{IP: net.ParseIP("192.0.2.20")}},
		Warmup: policy.Warmup{Start: 2, Period: 720 * time.Hour}}
	h := newHarness(t, Options{Pools: []Pool{pool}}, ok250)
	ids := h.submitPool("", "r@x.test", 10)
	h.step()
	h.clk.Set(queue.DayStart(queue.Day(t0) + 1).Add(time.Hour))
	h.step()
	if got := h.states(ids); got[queue.Delivered] != 5 { // 2 + 3
		t.Fatalf("%v, want 5 delivered over two days", got)
	}
}
