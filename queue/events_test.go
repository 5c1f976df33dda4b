package queue

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func (e *env) events(after uint64) []Event {
	e.t.Helper()
	evs, err := e.s.Events(bg, after, 0)
	if err != nil {
		e.t.Fatalf("events: %v", err)
	}
	return evs
}

func kinds(evs []Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%d:%s:%s", ev.Seq, ev.Kind, ev.Rcpt))
	}
	return strings.Join(out, " ")
}

func TestEventsFollowStateChanges(t *testing.T) {
	e := newEnv(t)
	m := msg(t0, "a@x.test", "b@y.test", "c@z.test")
	m.Recipients[2].State = Rejected
	id := e.enqueue(m, "Subject: hi\r\nFrom: app@example.org\r\n\r\nbody\r\n")
	if got := e.message(id).Headers; got != "Subject: hi\r\nFrom: app@example.org\r\n" {
		t.Fatalf("headers %q", got)
	}
	soft := attempt(time.Minute, "deferred", reply(451, "4.2.2", "full"))
	soft.Class, soft.Category = "soft", "mailbox_full"
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour),
		CountAttempt: true, Reply: &soft.Reply, Attempt: soft}}))
	// A local deferral (no counted attempt) is not news.
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(2 * time.Hour)}}))
	hard := attempt(2*time.Minute, "bounced", reply(550, "5.1.1", "no such user"))
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Bounced, CountAttempt: true, Attempt: hard,
		Suppress: &Suppression{Reason: "hard_bounce"}}}))
	e.ok(e.s.Unsuppress(bg, "B@y.test"))
	e.ok(e.s.Suppress(bg, Suppression{Address: "d@x.test", Reason: "manual", Created: t0}))
	_, err := e.s.Bounce(bg, id, t0.Add(time.Hour))
	e.ok(err)

	evs := e.events(0)
	want := "1:queued:a@x.test 2:queued:b@y.test 3:rejected:c@z.test 4:deferred:a@x.test " +
		"5:bounced:b@y.test 6:suppressed:b@y.test 7:unsuppressed:b@y.test 8:suppressed:d@x.test 9:failed:a@x.test"
	if got := kinds(evs); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	def := evs[3]
	if def.Attempt != 1 || def.MX != "mx.example.test" || def.Reply.Code != 451 || def.Category != "mailbox_full" ||
		!def.NextAttempt.Equal(t0.Add(time.Hour)) || def.Suppressed || def.Sender != "app@example.org" {
		t.Fatalf("deferred event %+v", def)
	}
	if b := evs[4]; !b.Suppressed || b.Reason != "hard_bounce" || b.Reply.Enhanced != "5.1.1" || b.Attempt != 1 {
		t.Fatalf("bounced event %+v", b)
	}
	if f := evs[8]; f.Reply.Text != OperatorReply || f.Category != "operator" || f.Attempt != 1 {
		t.Fatalf("operator failed event %+v", f)
	}
	if got := e.events(5); len(got) != 4 || got[0].Seq != 6 {
		t.Fatalf("events after 5: %s", kinds(got))
	}
}

// TestEventsConcurrentNoGaps: many writers commit in parallel while a
// reader follows with a cursor; the reader must see every seq exactly once,
// in order, though commits finish out of seq order.
func TestEventsConcurrentNoGaps(t *testing.T) {
	e := newEnv(t)
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := msg(t0, fmt.Sprintf("w%d-%d@x.test", w, i))
				if err := e.s.Enqueue(bg, m, []byte("b")); err != nil {
					t.Error(err)
					return
				}
				err := e.s.Apply(bg, []Update{{ID: m.ID, Rcpt: 0, State: Delivered, CountAttempt: true,
					Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var cursor uint64
	seen := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		evs, err := e.s.Events(bg, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Seq != cursor+1 {
				t.Fatalf("after %d got seq %d: a gap", cursor, ev.Seq)
			}
			cursor = ev.Seq
			seen++
		}
		if finished && len(evs) > 0 {
			finished = false // drain
		}
	}
	if want := writers * each * 2; seen != want || cursor != uint64(want) {
		t.Fatalf("saw %d events up to %d, want %d", seen, cursor, want)
	}
}

// TestEventsCrash: after a crash, every acknowledged Enqueue has its queued
// event, and every event in the clone reports a state that is there.
func TestEventsCrash(t *testing.T) {
	e := newEnv(t)
	acked := enqueueWhileCrashing(t, e, 16, 25, 200)
	for name, fs := range map[string]*vfs.MemFS{"synced": acked.clone, "random": acked.randomClone} {
		t.Run(name, func(t *testing.T) {
			s := reopenCrashed(t, e, fs)
			evs, err := s.Events(bg, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]bool{}
			for _, ev := range evs {
				if _, err := s.Message(bg, ev.ID); err != nil || ev.Kind != EventQueued {
					t.Fatalf("event %+v for a state not committed: %v", ev, err)
				}
				byID[ev.ID] = true
			}
			for _, id := range acked.ids {
				if !byID[id] {
					t.Fatalf("acknowledged message %s has no queued event", id)
				}
			}
			// Numbering resumes after the last surviving event.
			m := msg(t0, "after@crash.test")
			if err := s.Enqueue(bg, m, []byte("b")); err != nil {
				t.Fatal(err)
			}
			more, _ := s.Events(bg, evs[len(evs)-1].Seq, 0)
			if len(more) != 1 || more[0].ID != m.ID {
				t.Fatalf("after reopen: %s", kinds(more))
			}
		})
	}
}

func TestCursorsPersistAndTrim(t *testing.T) {
	e := newEnv(t)
	for i := range 6 {
		e.enqueue(msg(t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("r%d@x.test", i)), "b")
	}
	e.ok(e.s.SetCursor(bg, "webhook:a", 4))
	e.ok(e.s.SetCursor(bg, "webhook:b", 2))
	e.reopen()
	if c, err := e.s.Cursor(bg, "webhook:a"); err != nil || c != 4 {
		t.Fatalf("cursor after reopen: %d, %v", c, err)
	}
	if c, _ := e.s.Cursor(bg, "new"); c != 0 {
		t.Fatalf("new cursor %d", c)
	}
	// Older than 3h: events 1-3; cursor b holds at 2.
	n, err := e.s.TrimEvents(bg, t0.Add(3*time.Hour))
	e.ok(err)
	if first := e.events(0)[0].Seq; n != 2 || first != 3 {
		t.Fatalf("trimmed %d, first left %d", n, first)
	}
	e.ok(e.s.DeleteCursor(bg, "webhook:b"))
	e.ok(e.s.DeleteCursor(bg, "webhook:a"))
	// Everything is old and handled, but the newest event stays (E2).
	n, err = e.s.TrimEvents(bg, t0.Add(100*time.Hour))
	e.ok(err)
	if left := e.events(0); n != 3 || len(left) != 1 || left[0].Seq != 6 {
		t.Fatalf("trimmed %d, left %s", n, kinds(left))
	}
	e.reopen()
	id := e.enqueue(msg(t0, "z@x.test"), "b")
	if got := e.events(6); len(got) != 1 || got[0].ID != id || got[0].Seq != 7 {
		t.Fatalf("numbering after trim and reopen: %s", kinds(got))
	}
}

func TestHeaderBlock(t *testing.T) {
	long := strings.Repeat("X-Long: "+strings.Repeat("a", 100)+"\r\n", 200)
	for _, c := range []struct{ body, want string }{
		{"A: 1\r\nB: 2\r\n\r\nbody", "A: 1\r\nB: 2\r\n"},
		{"A: 1\nB: 2\n\nbody", "A: 1\nB: 2\n"},
		{"\r\nbody only", ""},
		{"A: 1\r\n", "A: 1\r\n"},
		{"A: 1\r\n folded\r\nno header here\r\nB: 2\r\n", "A: 1\r\n folded\r\n"},
		{"0123456789abcdef\r\n", ""},
		{" leading space: x\r\n", ""},
	} {
		if got := headerBlock([]byte(c.body)); got != c.want {
			t.Errorf("headerBlock(%q) = %q, want %q", c.body, got, c.want)
		}
	}
	got := headerBlock([]byte(long + "\r\nbody"))
	if len(got) > MaxKeptHeaders || !strings.HasSuffix(got, "\r\n") || len(got) < MaxKeptHeaders-200 {
		t.Fatalf("capped headers: %d bytes", len(got))
	}
}

// reopen closes the store and opens a crash clone of what it synced.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.fs = e.fs.CrashClone(vfs.CrashCloneCfg{})
	e.s = e.open(e.fs)
}

// An app's labels are stored with the message, filter listings and ride
// on every event of its recipients.
func TestLabelsOnEventsAndFilter(t *testing.T) {
	e := newEnv(t)
	m := msg(t0, "a@x.test", "b@y.test")
	m.Tag, m.Metadata = "welcome", map[string]string{"user_id": "42"}
	id := e.enqueue(m, "Subject: hi\r\n\r\nbody\r\n")
	other := e.enqueue(msg(t0, "c@x.test"), "Subject: other\r\n\r\nbody\r\n")
	hard := attempt(time.Minute, "bounced", reply(550, "5.1.1", "no such user"))
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Bounced, CountAttempt: true, Attempt: hard}}))
	for _, ev := range e.events(0) {
		tagged := ev.ID == id
		if tagged != (ev.Tag == "welcome" && ev.Metadata["user_id"] == "42") {
			t.Fatalf("event %s of %s: tag %q metadata %v", ev.Kind, ev.ID, ev.Tag, ev.Metadata)
		}
	}
	got, err := e.s.List(bg, Filter{Tag: "welcome"})
	e.ok(err)
	if len(got) != 1 || got[0].ID != id || got[0].Tag != "welcome" || got[0].Metadata["user_id"] != "42" {
		t.Fatalf("tag filter: %+v (other %s)", got, other)
	}
	if all, _ := e.s.List(bg, Filter{}); len(all) != 2 {
		t.Fatalf("no filter: %d messages", len(all))
	}
}
