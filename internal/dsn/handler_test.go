package dsn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

type fixture struct {
	st  *queue.PebbleStore
	clk *clock.Fake
	h   *Handler
}

func newFixture(t *testing.T, delayWarning time.Duration) *fixture {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := queue.Open("q", queue.Options{FS: vfs.NewMem(), Clock: clk, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := NewHandler(Options{Store: st, Intake: newIntake(st, clk), Hostname: "mta.example.org", Clock: clk,
		DelayWarning: delayWarning, Expire: 72 * time.Hour})
	return &fixture{st: st, clk: clk, h: h}
}

// newIntake is the daemon's intake on st.
func newIntake(st intake.Store, clk clock.Clock) *intake.Intake {
	return intake.New(intake.Options{Hostname: "mta.example.org", Store: st, Clock: clk})
}

// original enqueues a message from sender to rcpts with origHeaders.
func (f *fixture) original(t *testing.T, sender string, rcpts ...string) *queue.Message {
	t.Helper()
	m := &queue.Message{Sender: sender, Arrived: t0}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Address: r, State: queue.Queued, NextAttempt: t0, Updated: t0})
	}
	if err := f.st.Enqueue(context.Background(), m, []byte(origHeaders+"Hello\r\n")); err != nil {
		t.Fatal(err)
	}
	return m
}

// dsns returns the null-sender messages in the queue.
func (f *fixture) dsns(t *testing.T) []*queue.Message {
	t.Helper()
	all, err := f.st.List(context.Background(), queue.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*queue.Message
	for _, m := range all {
		if m.Sender == "" {
			out = append(out, m)
		}
	}
	return out
}

func bounced(id, rcpt string, seq uint64) queue.Event {
	return queue.Event{Seq: seq, Kind: queue.EventBounced, At: t0.Add(time.Minute), ID: id, Rcpt: rcpt,
		MX: "mx.example.test", Category: "user_unknown",
		Reply: &queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "user unknown"}}
}

func TestHandlerBounceQueuesDSN(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ctx := context.Background()
	m := f.original(t, "app@example.org", "nobody@example.test", "gone@example.test", "ok@example.test")
	evs := []queue.Event{
		bounced(m.ID, "nobody@example.test", 1),
		{Seq: 2, Kind: queue.EventDelivered, ID: m.ID, Rcpt: "ok@example.test"},
		bounced(m.ID, "gone@example.test", 3),
	}
	done, err := f.h.Handle(ctx, evs)
	if err != nil || done != 3 {
		t.Fatalf("Handle = %d, %v", done, err)
	}
	ds := f.dsns(t)
	if len(ds) != 1 {
		t.Fatalf("%d DSNs, want one covering both recipients", len(ds))
	}
	d := ds[0]
	if len(d.Recipients) != 1 || d.Recipients[0].Address != "app@example.org" || d.Recipients[0].State != queue.Queued {
		t.Fatalf("DSN envelope %+v", d)
	}
	body, err := f.st.Body(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Final-Recipient: rfc822; nobody@example.test", "Final-Recipient: rfc822; gone@example.test",
		"Status: 5.1.1", "Subject: Your invoice 42", "Message-ID: <" + d.ID + ".dsn@mta.example.org>"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("DSN lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "ok@example.test") {
		t.Error("DSN names the delivered recipient")
	}
}

func TestHandlerSkips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ctx := context.Background()
	null := f.original(t, "", "nobody@example.test")
	off := f.original(t, "app@example.org", "nobody@example.test")
	offMsg := &queue.Message{Sender: "app@example.org", Arrived: t0, NoDSN: true,
		Recipients: []queue.Recipient{{Address: "x@example.test"}}}
	if err := f.st.Enqueue(ctx, offMsg, []byte(origHeaders)); err != nil {
		t.Fatal(err)
	}
	evs := []queue.Event{
		bounced(null.ID, "nobody@example.test", 1),
		bounced(offMsg.ID, "x@example.test", 2),
		bounced("01JN0000000000ZZ", "gone@example.test", 3), // purged message
		{Seq: 4, Kind: queue.EventDeferred, At: t0.Add(9 * time.Hour), ID: off.ID, Rcpt: "nobody@example.test"},
		{Seq: 5, Kind: queue.EventRejected, ID: off.ID, Rcpt: "nobody@example.test"},
	}
	if done, err := f.h.Handle(ctx, evs); err != nil || done != len(evs) {
		t.Fatalf("Handle = %d, %v", done, err)
	}
	// Three skipped originals plus the null-sender one: no DSN at all.
	if n := len(f.dsns(t)) - 1; n != 0 {
		t.Fatalf("%d DSNs queued, want none", n)
	}
}

// deferredAttempt records a deferred attempt at at, as the scheduler does.
func deferredAttempt(t *testing.T, st *queue.PebbleStore, id string, at time.Time) queue.Event {
	t.Helper()
	err := st.Apply(context.Background(), []queue.Update{{ID: id, Rcpt: 0, State: queue.Deferred,
		NextAttempt: at.Add(time.Hour), CountAttempt: true,
		Attempt: &queue.Attempt{At: at, Decision: "deferred", Reply: queue.Reply{Code: 451, Enhanced: "4.7.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return queue.Event{Kind: queue.EventDeferred, At: at, ID: id, Rcpt: "slow@example.test",
		Reply: &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: "greylisted"}, Category: "greylisting"}
}

func TestHandlerDelayWarningOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4*time.Hour)
	ctx := context.Background()
	m := f.original(t, "app@example.org", "slow@example.test")
	count := func() int { return len(f.dsns(t)) }
	for i, at := range []time.Duration{time.Hour, 3 * time.Hour, 5 * time.Hour, 9 * time.Hour} {
		e := deferredAttempt(t, f.st, m.ID, t0.Add(at))
		e.Seq = uint64(i + 1)
		if _, err := f.h.Handle(ctx, []queue.Event{e}); err != nil {
			t.Fatal(err)
		}
		want := 0
		if at >= 4*time.Hour {
			want = 1
		}
		if count() != want {
			t.Fatalf("after the attempt at +%v: %d DSNs, want %d", at, count(), want)
		}
	}
	// A fresh handler (a restart) replaying the last event does not warn again.
	h2 := NewHandler(Options{Store: f.st, Intake: newIntake(f.st, f.clk), Hostname: "mta.example.org", Clock: f.clk,
		DelayWarning: 4 * time.Hour})
	e := queue.Event{Seq: 4, Kind: queue.EventDeferred, At: t0.Add(9 * time.Hour), ID: m.ID, Rcpt: "slow@example.test"}
	if _, err := h2.Handle(ctx, []queue.Event{e}); err != nil || count() != 1 {
		t.Fatalf("after restart: %d DSNs, %v", count(), err)
	}
}

func TestHandlerNoWarningsByDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	m := f.original(t, "app@example.org", "slow@example.test")
	e := deferredAttempt(t, f.st, m.ID, t0.Add(10*time.Hour))
	if _, err := f.h.Handle(context.Background(), []queue.Event{e}); err != nil || len(f.dsns(t)) != 0 {
		t.Fatalf("%d DSNs, %v", len(f.dsns(t)), err)
	}
}

// failingStore fails the nth Enqueue (1-based) once.
type failingStore struct {
	*queue.PebbleStore
	n, calls int
}

func (s *failingStore) Enqueue(ctx context.Context, m *queue.Message, body []byte) error {
	s.calls++
	if s.calls == s.n {
		return errors.New("disk trouble")
	}
	return s.PebbleStore.Enqueue(ctx, m, body)
}

// A failed enqueue finishes the events before its group; the retry does
// not send the groups already sent again.
func TestHandlerEnqueueErrorResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0)
	ctx := context.Background()
	a := f.original(t, "a@example.org", "x@example.test", "y@example.test")
	b := f.original(t, "b@example.org", "z@example.test")
	fs := &failingStore{PebbleStore: f.st, n: 2}
	h := NewHandler(Options{Store: fs, Intake: newIntake(fs, f.clk), Hostname: "mta.example.org", Clock: f.clk})
	evs := []queue.Event{bounced(a.ID, "x@example.test", 1), bounced(b.ID, "z@example.test", 2),
		bounced(a.ID, "y@example.test", 3)}
	done, err := h.Handle(ctx, evs)
	if err == nil || done != 1 {
		t.Fatalf("Handle = %d, %v; want 1 and an error", done, err)
	}
	if done, err := h.Handle(ctx, evs[done:]); err != nil || done != 2 {
		t.Fatalf("retry: Handle = %d, %v", done, err)
	}
	got := map[string]int{}
	for _, m := range f.dsns(t) {
		got[m.Recipients[0].Address]++
	}
	if got["a@example.org"] != 1 || got["b@example.org"] != 1 {
		t.Fatalf("DSNs per sender %v, want one each", got)
	}
}
