package queue

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A deferred message moves whole: envelope, arrival, attempts, next
// attempt, last reply and timeline arrive; the due index on the receiver
// has it at its next attempt; a repeated import is recognised; removal
// leaves nothing of it on the sender.
func TestTransferMovesAMessageWhole(t *testing.T) {
	from, to := newEnv(t), newEnv(t)
	m := msg(t0, "a@example.net", "b@example.net")
	m.Tag, m.Metadata = "welcome", map[string]string{"user": "7"}
	id := from.enqueue(m, "Subject: hi\r\n\r\nbody\r\n")
	soft := reply(451, "4.7.1", "greylisted")
	from.ok(from.s.Apply(bg, []Update{
		{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(5 * time.Minute), Reply: soft, CountAttempt: true,
			Attempt: attempt(time.Second, "deferred", soft)},
		{ID: id, Rcpt: 1, State: Delivered, Reply: reply(250, "2.0.0", "ok"), CountAttempt: true,
			Attempt: attempt(time.Second, "delivered", reply(250, "2.0.0", "ok"))},
	}))
	tr, err := from.s.ExportTransfer(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	existed, err := to.s.ImportTransfers(bg, []*Transfer{tr})
	to.ok(err)
	if existed[0] {
		t.Fatal("a new message reported as already there")
	}
	want, got := from.message(id), to.message(id)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("received\n%+v\nwant\n%+v", got, want)
	}
	for i := range 2 {
		a, _ := from.s.Timeline(bg, id, i)
		b, _ := to.s.Timeline(bg, id, i)
		if len(a) != 1 || !reflect.DeepEqual(a, b) {
			t.Errorf("rcpt %d timeline %+v, want %+v", i, b, a)
		}
	}
	if d := to.due(t0.Add(time.Hour)); len(d) != 1 || d[0] != id+"/0@5m0s" {
		t.Errorf("receiver's due index %v, want rcpt 0 at +5m", d)
	}
	// The next attempt there appends to the timeline after the old entry.
	to.ok(to.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, CountAttempt: true,
		Attempt: attempt(6*time.Minute, "delivered", reply(250, "2.0.0", "ok"))}}))
	if tl, _ := to.s.Timeline(bg, id, 0); len(tl) != 2 || tl[0].Decision != "deferred" || tl[1].Decision != "delivered" {
		t.Errorf("timeline after an attempt on the receiver: %+v", tl)
	}
	if r := to.message(id).Recipients[0]; r.Attempts != 2 {
		t.Errorf("attempts %d, want 2", r.Attempts)
	}

	// A repeat (the sender crashed before removing it) is stored once.
	again, err := to.s.ImportTransfers(bg, []*Transfer{tr})
	to.ok(err)
	if !again[0] {
		t.Error("a repeated transfer was not recognised")
	}
	from.ok(from.s.RemoveTransferred(bg, []string{id}))
	if keys := from.keysWith(id); len(keys) != 0 {
		t.Errorf("left on the sender: %q", keys)
	}
	if _, err := from.s.ExportTransfer(bg, id); !isNotFound(err) {
		t.Errorf("export after removal: %v", err)
	}
}

func TestTransferRefusesFinishedMessages(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(msg(t0, "a@example.net"), "x\r\n")
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, CountAttempt: true}}))
	if _, err := e.s.ExportTransfer(bg, id); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("export of a delivered message: %v, want ErrNotOpen", err)
	}
}

// T1 at every crash point: a crash clone (synced data only) of the
// receiver taken right after ImportTransfers returned holds every message,
// and one of the sender taken before RemoveTransferred returned still
// does, so whichever node crashes, each message is on at least one.
func TestTransferCrashLosesNothing(t *testing.T) {
	from, to := newEnv(t), newEnv(t)
	var ts []*Transfer
	for i := range 50 {
		id := from.enqueue(msg(t0, fmt.Sprintf("a%d@example.net", i)), "Subject: x\r\n\r\nx\r\n")
		from.ok(from.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour),
			CountAttempt: true, Attempt: attempt(time.Second, "deferred", reply(451, "4.7.1", "later"))}}))
		tr, err := from.s.ExportTransfer(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tr)
	}
	senderBefore := from.fs.CrashClone(vfs.CrashCloneCfg{})
	if _, err := to.s.ImportTransfers(bg, ts); err != nil {
		t.Fatal(err)
	}
	receiver := reopenCrashed(t, to, to.fs.CrashClone(vfs.CrashCloneCfg{}))
	from.ok(from.s.RemoveTransferred(bg, ids(ts)))
	sender := reopenCrashed(t, from, senderBefore)
	senderAfter := reopenCrashed(t, from, from.fs.CrashClone(vfs.CrashCloneCfg{}))
	for _, tr := range ts {
		id := tr.Message.ID
		m, err := receiver.Message(bg, id)
		if err != nil || m.Recipients[0].Attempts != 1 {
			t.Fatalf("receiver after a crash: %s %+v %v", id, m, err)
		}
		if _, err := receiver.Body(bg, id); err != nil {
			t.Fatalf("receiver after a crash: body of %s: %v", id, err)
		}
		if _, err := sender.Message(bg, id); err != nil {
			t.Fatalf("sender crashed before the removal lost %s: %v", id, err)
		}
		if _, err := senderAfter.Message(bg, id); !isNotFound(err) {
			t.Fatalf("sender after a synced removal still has %s: %v", id, err)
		}
	}
}

func ids(ts []*Transfer) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Message.ID
	}
	return out
}
