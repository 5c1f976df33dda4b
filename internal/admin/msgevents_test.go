package admin

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// MessageEvents finds a message's events among many others by seeking to
// the moments it changed: its queued event at arrival and its deferred
// event an hour later, not the events of its neighbours.
func TestMessageEventsFindsOnlyItsOwn(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 2000 { // without f.enqueue's full Check each time
		m := &queue.Message{Sender: "app@sender.test", Arrived: f.clk.Now(),
			Recipients: []queue.Recipient{{Address: fmt.Sprintf("u%d@example.net", i)}}}
		if err := f.store.Enqueue(bg, m, []byte("Subject: x\r\n\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		f.clk.Advance(time.Second)
	}
	target := ids[1234]
	f.clk.Advance(time.Hour)
	deferred := func(id string) {
		r := &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: "greylisted"}
		if err := f.store.Apply(bg, []queue.Update{{ID: id, Rcpt: 0, State: queue.Deferred, NextAttempt: f.clk.Now().Add(time.Hour),
			CountAttempt: true, Reply: r, Attempt: &queue.Attempt{At: f.clk.Now(), Reply: *r, Decision: "deferred"}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 500 {
		deferred(ids[i*4])
		if i == 300 {
			deferred(target)
		}
		f.clk.Advance(time.Second)
	}
	f.check(nil)
	evs, err := f.svc.MessageEvents(bg, target)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		if ev.ID != target {
			t.Fatalf("event %d of %s returned for %s", ev.Seq, ev.ID, target)
		}
		kinds = append(kinds, ev.Kind)
	}
	if !slices.Equal(kinds, []string{"queued", "deferred"}) {
		t.Fatalf("events of %s: %v, want queued then deferred", target, kinds)
	}
	if _, err := f.svc.MessageEvents(bg, "0000000000000000"); err == nil {
		t.Fatal("an unknown message has events")
	}
}
