package scheduler

import (
	"context"
	"fmt"
	"sort"
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

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// scripted is a Deliverer whose reply per recipient comes from a function
// of the address and the attempt number; it records every attempt.
type scripted struct {
	clk   clock.Clock
	reply func(rcpt string, n int) delivery.Result

	mu    sync.Mutex
	tries map[string][]time.Time
	jobs  []delivery.Job
}

func newScripted(clk clock.Clock, reply func(string, int) delivery.Result) *scripted {
	return &scripted{clk: clk, reply: reply, tries: map[string][]time.Time{}}
}

func (d *scripted) Deliver(_ context.Context, j delivery.Job) []delivery.Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, j)
	out := make([]delivery.Result, len(j.Rcpts))
	for i, r := range j.Rcpts {
		d.tries[r] = append(d.tries[r], d.clk.Now())
		out[i] = d.reply(r, len(d.tries[r]))
		out[i].Rcpt = r
	}
	return out
}

func (d *scripted) attempts(rcpt string) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.tries[rcpt]...)
}

func reply(code int, enh, text string, stage delivery.Stage) delivery.Result {
	return delivery.Result{Code: code, Enhanced: enh, Text: text, Stage: stage, MX: "mx.test"}
}

type harness struct {
	t     *testing.T
	clk   *clock.Fake
	store *queue.PebbleStore
	s     *Scheduler
	d     *scripted
}

func newHarness(t *testing.T, o Options, answer func(string, int) delivery.Result) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := queue.Open("q", queue.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := newScripted(clk, answer)
	o.Store, o.Deliverer, o.Clock = st, d, clk
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 } // no jitter: exact times
	}
	return &harness{t: t, clk: clk, store: st, s: New(o), d: d}
}

func (h *harness) submit(rcpts ...string) string {
	h.t.Helper()
	m := &queue.Message{Sender: "app@sender.test", Arrived: h.clk.Now()}
	for i, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Index: i, Address: r,
			Domain: r[strings.LastIndexByte(r, '@')+1:], State: queue.Queued, NextAttempt: h.clk.Now()})
	}
	if err := h.store.Enqueue(context.Background(), m, []byte("Subject: t\r\n\r\nhi\r\n")); err != nil {
		h.t.Fatal(err)
	}
	return m.ID
}

// drain steps the scheduler and jumps the clock to each next due time
// until nothing is pending, checking the queue's invariants at every step.
func (h *harness) drain(maxSteps int) {
	h.t.Helper()
	ctx := context.Background()
	for i := 0; i < maxSteps; i++ {
		if err := h.s.Step(ctx); err != nil {
			h.t.Fatal(err)
		}
		if err := h.store.Check(ctx); err != nil {
			h.t.Fatalf("step %d: %v", i, err)
		}
		at, ok, err := h.store.NextDue(ctx, time.Time{})
		if err != nil {
			h.t.Fatal(err)
		}
		if !ok {
			return
		}
		h.clk.Set(at)
	}
	h.t.Fatalf("queue not drained after %d steps", maxSteps)
}

func (h *harness) rcpt(id string, i int) queue.Recipient {
	h.t.Helper()
	m, err := h.store.Message(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return m.Recipients[i]
}

// TestDefaultScheduleToExpiry runs the default policy (5m doubling to 24h,
// expiry at 72h) for a mailbox that stays full, and lists every attempt.
func TestDefaultScheduleToExpiry(t *testing.T) {
	full := func(string, int) delivery.Result {
		return reply(452, "4.2.2", "mailbox full", delivery.StageRcpt)
	}
	h := newHarness(t, Options{Schedule: policy.DefaultSchedule, TTLs: policy.DefaultTTLs}, full)
	id := h.submit("full@dest.test")
	h.drain(100)

	var got []string
	for _, at := range h.d.attempts("full@dest.test") {
		got = append(got, at.Sub(t0).String())
	}
	t.Logf("attempts after arrival: %s", strings.Join(got, ", "))
	want := "0s, 5m0s, 15m0s, 35m0s, 1h15m0s, 2h35m0s, 5h15m0s, 10h35m0s, 21h15m0s, 42h35m0s, 66h35m0s, 72h0m0s"
	if strings.Join(got, ", ") != want {
		t.Fatalf("attempt times\n got %s\nwant %s", strings.Join(got, ", "), want)
	}
	r := h.rcpt(id, 0)
	if r.State != queue.Expired || r.Attempts != 12 {
		t.Fatalf("recipient %s after %d attempts, want expired after 12", r.State, r.Attempts)
	}
	sup, _ := h.store.Suppression(context.Background(), "FULL@dest.test", h.clk.Now())
	if sup == nil || sup.Reason != policy.ReasonSoftBounceExpired {
		t.Fatalf("suppression = %+v, want soft_bounce_expired", sup)
	}
	if want := h.clk.Now().Add(30 * 24 * time.Hour); !sup.Expires.Equal(want) {
		t.Errorf("soft-derived suppression expires %v, want %v", sup.Expires, want)
	}
}

// TestJitteredScheduleStaysInBounds uses real random draws: every wait is
// within ±10% of its nominal value and nothing runs after expiry.
func TestJitteredScheduleStaysInBounds(t *testing.T) {
	grey := func(string, int) delivery.Result { return reply(451, "4.7.1", "greylisted", delivery.StageRcpt) }
	h := newHarness(t, Options{Schedule: policy.DefaultSchedule}, grey)
	h.s.o.Rand = nil
	h.s.o.fill()
	h.submit("g@dest.test")
	h.drain(100)
	at := h.d.attempts("g@dest.test")
	for i := 1; i < len(at); i++ {
		gap, nominal := at[i].Sub(at[i-1]), policy.DefaultSchedule.Delay(i, 0.5)
		last := at[i].Equal(t0.Add(72 * time.Hour))
		if !last && (gap < nominal*9/10 || gap > nominal*11/10) {
			t.Errorf("wait %d = %v, want %v ±10%%", i, gap, nominal)
		}
		if at[i].After(t0.Add(72 * time.Hour)) {
			t.Errorf("attempt %d at +%v, after expiry", i, at[i].Sub(t0))
		}
	}
}

func TestHardBounceSuppressesAndLaterMailIsRejected(t *testing.T) {
	answer := func(rcpt string, _ int) delivery.Result {
		if strings.HasPrefix(rcpt, "gone@") {
			return reply(550, "5.1.1", "user unknown", delivery.StageRcpt)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	}
	h := newHarness(t, Options{}, answer)
	id := h.submit("gone@dest.test", "ok@dest.test")
	h.drain(10)
	if r := h.rcpt(id, 0); r.State != queue.Bounced {
		t.Fatalf("gone@: %s, want bounced", r.State)
	}
	if r := h.rcpt(id, 1); r.State != queue.Delivered {
		t.Fatalf("ok@: %s, want delivered", r.State)
	}
	id2 := h.submit("Gone@Dest.test")
	h.drain(10)
	if n := len(h.d.attempts("Gone@Dest.test")); n != 0 {
		t.Fatalf("suppressed address attempted %d times", n)
	}
	if r := h.rcpt(id2, 0); r.State != queue.Rejected {
		t.Fatalf("second message: %s, want rejected", r.State)
	}
	tl, err := h.store.Timeline(context.Background(), id, 0)
	if err != nil || len(tl) != 1 || !tl[0].Suppressed || tl[0].Reply.Code != 550 {
		t.Fatalf("timeline = %+v, %v; want one suppressed 550 attempt", tl, err)
	}
}

func TestSenderSideRejectionDoesNotSuppress(t *testing.T) {
	answer := func(string, int) delivery.Result {
		return reply(550, "5.7.1", "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", delivery.StageRcpt)
	}
	h := newHarness(t, Options{}, answer)
	id := h.submit("a@dest.test")
	h.drain(10)
	if r := h.rcpt(id, 0); r.State != queue.Failed {
		t.Fatalf("state %s, want failed", r.State)
	}
	if sup, _ := h.store.Suppression(context.Background(), "a@dest.test", h.clk.Now()); sup != nil {
		t.Fatalf("blocklisting suppressed the recipient: %+v", sup)
	}
}

func TestJobsGroupByDomainUpToMaxRcpts(t *testing.T) {
	ok := func(string, int) delivery.Result { return reply(250, "2.0.0", "ok", delivery.StageData) }
	h := newHarness(t, Options{}, ok)
	var rcpts []string
	for i := 0; i < 150; i++ {
		rcpts = append(rcpts, fmt.Sprintf("u%d@big.test", i))
	}
	rcpts = append(rcpts, "x@other.test")
	h.submit(rcpts...)
	h.drain(5)
	sizes := map[string][]int{}
	for _, j := range h.d.jobs {
		sizes[j.Domain] = append(sizes[j.Domain], len(j.Rcpts))
	}
	sort.Ints(sizes["big.test"]) // jobs run concurrently: order is not the point
	if got := fmt.Sprint(sizes["big.test"], sizes["other.test"]); got != "[50 100] [1]" {
		t.Fatalf("job sizes = %s, want [50 100] [1]", got)
	}
}

// TestLeaseIsPersistedBeforeTheAttempt: while a delivery is under way the
// recipient's due time is already its retry time, so a crash now would
// retry it then, not at once.
func TestLeaseIsPersistedBeforeTheAttempt(t *testing.T) {
	var h *harness
	var seen time.Time
	h = newHarness(t, Options{}, func(string, int) delivery.Result {
		at, _, _ := h.store.NextDue(context.Background(), time.Time{})
		seen = at
		return reply(451, "4.3.0", "try later", delivery.StageRcpt)
	})
	h.submit("a@dest.test")
	if err := h.s.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(5 * time.Minute); !seen.Equal(want) {
		t.Fatalf("due time during the attempt = %v, want %v", seen.Sub(t0), want.Sub(t0))
	}
}
