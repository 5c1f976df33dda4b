package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func dead(seq uint64, status int) DeadLetter {
	return DeadLetter{Event: Event{Seq: seq, Kind: EventDelivered, At: t0, Rcpt: fmt.Sprintf("x%d@x.test", seq)},
		Attempts: 4, Status: status, Error: "endpoint answered 400 Bad Request", At: t0}
}

func TestDeadLettersWithTheCursor(t *testing.T) {
	e := newEnv(t)
	const c = "webhook:abc"
	e.ok(e.s.AdvanceCursor(bg, c, 5, []DeadLetter{dead(2, 400), dead(5, 422)}))
	// D1: a dead letter beyond the cursor is refused, nothing is written.
	if err := e.s.AdvanceCursor(bg, c, 6, []DeadLetter{dead(7, 400)}); err == nil {
		t.Fatal("dead letter beyond the cursor accepted")
	}
	if cur, _ := e.s.Cursor(bg, c); cur != 5 {
		t.Fatalf("cursor moved by a refused advance: %d", cur)
	}
	e.ok(e.s.AdvanceCursor(bg, c, 9, []DeadLetter{dead(8, 404)}))
	got, err := e.s.DeadLetters(bg, c, 0, 0)
	if err != nil || len(got) != 3 || got[0].Event.Seq != 2 || got[1].Status != 422 || got[2].Event.Rcpt != "x8@x.test" {
		t.Fatalf("dead letters %+v, %v", got, err)
	}
	if page, _ := e.s.DeadLetters(bg, c, 2, 1); len(page) != 1 || page[0].Event.Seq != 5 {
		t.Fatalf("page after 2: %+v", page)
	}
	if n, _ := e.s.CountDeadLetters(bg, c); n != 3 {
		t.Fatalf("count %d", n)
	}
	// Another consumer's list is its own, even with a name that is a
	// prefix of this one's.
	e.ok(e.s.AdvanceCursor(bg, "webhook:ab", 9, nil))
	if n, _ := e.s.CountDeadLetters(bg, "webhook:ab"); n != 0 {
		t.Fatalf("prefix consumer sees %d", n)
	}

	upd := got[0]
	upd.Attempts, upd.Status = 5, 500
	e.ok(e.s.UpdateDeadLetter(bg, c, upd))
	e.ok(e.s.DeleteDeadLetter(bg, c, 5))
	if err := e.s.DeleteDeadLetter(bg, c, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := e.s.UpdateDeadLetter(bg, c, dead(5, 400)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a deleted dead letter brought it back: %v", err)
	}
	got, _ = e.s.DeadLetters(bg, c, 0, 0)
	if len(got) != 2 || got[0].Attempts != 5 || got[0].Status != 500 {
		t.Fatalf("after update and delete: %+v", got)
	}

	// Hold and release.
	if h, err := e.s.ConsumerHold(bg, c); h != nil || err != nil {
		t.Fatalf("hold before any: %v %v", h, err)
	}
	e.ok(e.s.HoldConsumer(bg, c, Hold{Reason: "410 Gone", At: t0}))
	if h, _ := e.s.ConsumerHold(bg, c); h == nil || h.Reason != "410 Gone" {
		t.Fatalf("hold %+v", h)
	}
	e.ok(e.s.ReleaseConsumer(bg, c))
	if h, _ := e.s.ConsumerHold(bg, c); h != nil {
		t.Fatalf("released hold %+v", h)
	}

	// D2: forgetting the consumer forgets all of it, not its neighbour's.
	e.ok(e.s.HoldConsumer(bg, c, Hold{Reason: "410 Gone", At: t0}))
	e.ok(e.s.AdvanceCursor(bg, "webhook:abcd", 9, []DeadLetter{dead(3, 400)}))
	e.ok(e.s.DeleteCursor(bg, c))
	if n, _ := e.s.CountDeadLetters(bg, c); n != 0 {
		t.Fatalf("%d dead letters outlive the cursor", n)
	}
	if h, _ := e.s.ConsumerHold(bg, c); h != nil {
		t.Fatal("hold outlives the cursor")
	}
	if n, _ := e.s.CountDeadLetters(bg, "webhook:abcd"); n != 1 {
		t.Fatalf("neighbour lost its dead letters: %d", n)
	}
	for _, bad := range []string{"", "a/b", "a\x00b", strings.Repeat("x", 201)} {
		if err := e.s.AdvanceCursor(bg, bad, 1, nil); err == nil {
			t.Errorf("consumer name %q accepted", bad)
		}
	}
}

// TestCheckFindsDeadLetterViolations: Check reports a dead letter beyond
// its cursor or without one (written around the API, as corruption would).
func TestCheckFindsDeadLetterViolations(t *testing.T) {
	e := newEnv(t)
	e.ok(e.s.AdvanceCursor(bg, "c1", 3, nil))
	b := e.s.db.NewBatch()
	if err := setRecord(b, deadKey("c1", 4), &DeadLetter{Event: Event{Seq: 4, Kind: EventQueued}}); err != nil {
		t.Fatal(err)
	}
	if err := setRecord(b, deadKey("c2", 1), &DeadLetter{Event: Event{Seq: 1, Kind: EventQueued}}); err != nil {
		t.Fatal(err)
	}
	if err := setRecord(b, deadKey("c1", 2), &DeadLetter{Event: Event{Seq: 3, Kind: EventQueued}}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.commit(b); err != nil {
		t.Fatal(err)
	}
	err := e.s.Check(bg)
	for _, want := range []string{"3 violation", "c1/4 beyond the cursor 3", "c2/1 of a consumer without a cursor", "c1/2 holds event 3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want %q", err, want)
		}
	}
}

// TestAdvanceCursorCrash: after a crash at any point, a consumer's cursor
// and the dead letters it passed are both there or both not (D1).
func TestAdvanceCursorCrash(t *testing.T) {
	e := newEnv(t)
	const c = "webhook:crash"
	done := make(chan struct{})
	acked := make(chan uint64, 100)
	go func() {
		defer close(done)
		for i := uint64(1); i <= 100; i++ {
			if err := e.s.AdvanceCursor(bg, c, i*2, []DeadLetter{dead(i*2-1, 400)}); err != nil {
				t.Error(err)
				return
			}
			acked <- i * 2
		}
	}()
	var last uint64
	for range 30 {
		last = <-acked
	}
	clone := e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(5, 6))})
	<-done
	s := reopenCrashed(t, e, clone) // runs Check: D1 holds
	cur, err := s.Cursor(bg, c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.CountDeadLetters(bg, c)
	if cur < last {
		t.Fatalf("acknowledged cursor %d lost: %d after the crash", last, cur)
	}
	if err != nil || uint64(n) != cur/2 {
		t.Fatalf("cursor %d with %d dead letters (%v), want %d", cur, n, err, cur/2)
	}
	t.Logf("crash kept the cursor at %d with its %d dead letters", cur, n)
}

func TestTrimDeadLetters(t *testing.T) {
	e := newEnv(t)
	old, fresh := dead(1, 400), dead(2, 400)
	fresh.At = t0.Add(48 * time.Hour)
	e.ok(e.s.AdvanceCursor(bg, "c1", 2, []DeadLetter{old, fresh}))
	e.ok(e.s.AdvanceCursor(bg, "c2", 1, []DeadLetter{old}))
	n, err := e.s.TrimDeadLetters(bg, t0.Add(24*time.Hour))
	e.ok(err)
	if n != 2 {
		t.Fatalf("trimmed %d, want the two old ones", n)
	}
	got, _ := e.s.DeadLetters(bg, "c1", 0, 0)
	if len(got) != 1 || got[0].Event.Seq != 2 {
		t.Fatalf("left %+v", got)
	}
	if n, _ := e.s.TrimDeadLetters(bg, t0.Add(24*time.Hour)); n != 0 {
		t.Fatalf("trimmed %d more", n)
	}
}
