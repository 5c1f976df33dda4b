package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
)

// newSharedEnv is newEnv with the shared outbox on ([cluster]).
func newSharedEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, fs: vfs.NewCrashableMem(), clock: clock.NewFake(t0)}
	e.s = e.openShared(e.fs)
	t.Cleanup(func() {
		if err := e.s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

func (e *env) openShared(fs *vfs.MemFS) *PebbleStore {
	e.t.Helper()
	s, err := Open("queue-db", Options{FS: fs, Clock: e.clock, SharedOutbox: true})
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	return s
}

func (e *env) pending() []SharedChange {
	e.t.Helper()
	p, err := e.s.SharedPending(bg, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestSharedOutboxOffWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.ok(e.s.Suppress(bg, Suppression{Address: "a@x.test", Reason: "manual", Created: t0}))
	e.ok(e.s.Unsuppress(bg, "a@x.test"))
	if p := e.pending(); len(p) != 0 {
		t.Fatalf("single node wrote shared entries: %+v", p)
	}
	if e.s.SharedWake() != nil {
		t.Fatal("a wake channel without the shared outbox")
	}
}

// Every local way to change a suppression leaves a p/ entry in its batch,
// in change order, carrying the sighting rather than the merged total.
func TestSharedOutboxRecordsEveryLocalChange(t *testing.T) {
	e := newSharedEnv(t)
	id := e.enqueue(msg(t0, "a@x.test", "B@y.test"), "Subject: hi\r\n\r\nbody\r\n")
	hard := attempt(time.Minute, "bounced", reply(550, "5.1.1", "no such user"))
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 1, State: Bounced, CountAttempt: true, Attempt: hard,
		Suppress: &Suppression{Reason: "hard_bounce"}}}))
	select {
	case <-e.s.SharedWake():
	default:
		t.Fatal("Apply's suppression did not wake the pusher")
	}
	e.ok(e.s.Suppress(bg, Suppression{Address: "b@y.test", Reason: "manual", LastSeen: t0.Add(time.Hour)}))
	e.ok(e.s.SuppressMany(bg, []Suppression{{Address: "c@z.test", Reason: "manual", Created: t0, Count: 3}}))
	e.ok(e.s.Unsuppress(bg, "B@Y.test"))

	p := e.pending()
	if len(p) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(p), p)
	}
	for i := 1; i < len(p); i++ {
		if p[i].Seq <= p[i-1].Seq || p[i].ID == p[i-1].ID || p[i].ID == "" {
			t.Fatalf("entries not in order or ids not unique: %+v", p)
		}
	}
	s0, s1, s2, s3 := p[0], p[1], p[2], p[3]
	if s0.Removed || s0.Suppression.Address != "b@y.test" || s0.Suppression.Count != 1 || s0.Suppression.Reason != "hard_bounce" ||
		s0.Suppression.MessageID != id || !s0.At.Equal(hard.At) {
		t.Errorf("bounce entry %+v", s0)
	}
	// The second sighting adds 1, whatever the local total is.
	if s1.Suppression.Count != 1 || s1.Suppression.Reason != "manual" || !s1.Suppression.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("second sighting %+v", s1)
	}
	if s2.Suppression.Count != 3 || s2.Suppression.Address != "c@z.test" {
		t.Errorf("import entry %+v", s2)
	}
	if !s3.Removed || s3.Suppression.Address != "b@y.test" {
		t.Errorf("removal entry %+v", s3)
	}

	if n, err := e.s.SharedCount(bg); err != nil || n != 4 {
		t.Fatalf("SharedCount %d, %v", n, err)
	}
	// a@x.test is still pending; b@y.test bounced.
	if n, err := e.s.PendingCount(bg); err != nil || n != 1 {
		t.Fatalf("PendingCount %d, %v", n, err)
	}
	e.ok(e.s.SharedDone(bg, []SharedChange{s0, s1}))
	if p := e.pending(); len(p) != 2 || p[0].Seq != s2.Seq {
		t.Fatalf("after done: %+v", p)
	}
	// Reopened, numbering continues after what is left.
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	e.s = e.openShared(e.fs)
	e.ok(e.s.Suppress(bg, Suppression{Address: "d@x.test", Reason: "manual", Created: t0}))
	if p := e.pending(); len(p) != 3 || p[2].Seq <= s3.Seq || p[2].Suppression.Address != "d@x.test" {
		t.Fatalf("after reopen: %+v", p)
	}
}

func TestApplySharedReplacesDeletesAndSparesPending(t *testing.T) {
	e := newSharedEnv(t)
	if _, synced, err := e.s.SharedVersion(bg); err != nil || synced {
		t.Fatalf("fresh store synced=%v, %v", synced, err)
	}
	e.ok(e.s.Suppress(bg, Suppression{Address: "old@x.test", Reason: "manual", Created: t0}))
	e.ok(e.s.SharedDone(bg, e.pending()))
	e.ok(e.s.Suppress(bg, Suppression{Address: "mine@x.test", Reason: "manual", Created: t0}))
	evs := len(e.events(0))

	rows := []SharedRow{
		{Suppression: Suppression{Address: "New@X.test", Reason: "hard_bounce", Created: t0, LastSeen: t0, Count: 4,
			Expires: t0.Add(time.Hour)}, Version: 7},
		{Suppression: Suppression{Address: "old@x.test"}, Removed: true, Version: 8},
		// Pushed from here but not yet acknowledged: the older shared row
		// must not undo it.
		{Suppression: Suppression{Address: "mine@x.test"}, Removed: true, Version: 9},
	}
	n, err := e.s.ApplyShared(bg, rows, 9)
	e.ok(err)
	if n != 2 {
		t.Fatalf("applied %d rows, want 2", n)
	}
	got, _ := e.s.Suppression(bg, "new@x.test", t0)
	if got == nil || got.Count != 4 || got.Reason != "hard_bounce" {
		t.Fatalf("shared row not applied: %+v", got)
	}
	if got, _ := e.s.Suppression(bg, "new@x.test", t0.Add(time.Hour)); got != nil {
		t.Fatalf("shared expiry not kept: %+v", got)
	}
	if got, _ := e.s.Suppression(bg, "old@x.test", t0); got != nil {
		t.Fatalf("tombstone not applied: %+v", got)
	}
	if got, _ := e.s.Suppression(bg, "mine@x.test", t0); got == nil {
		t.Fatal("a pending local suppression was undone by an older shared row")
	}
	// Rows applied are not a whole copy: joined only when told.
	if v, joined, err := e.s.SharedVersion(bg); err != nil || joined || v != 9 {
		t.Fatalf("version %d joined=%v, %v", v, joined, err)
	}
	e.ok(e.s.SharedJoined(bg))
	if v, joined, err := e.s.SharedVersion(bg); err != nil || !joined || v != 9 {
		t.Fatalf("version %d joined=%v, %v", v, joined, err)
	}
	if len(e.pending()) != 1 || len(e.events(0)) != evs {
		t.Fatalf("applying shared rows wrote outbox entries or events: %+v", e.pending())
	}
}

func TestNodeIDStable(t *testing.T) {
	e := newSharedEnv(t)
	a, err := e.s.NodeID()
	e.ok(err)
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	e.s = e.openShared(e.fs)
	b, err := e.s.NodeID()
	e.ok(err)
	if a == "" || a != b {
		t.Fatalf("node id %q then %q", a, b)
	}
}

func TestCheckFindsBadSharedEntries(t *testing.T) {
	e := newSharedEnv(t)
	e.ok(e.s.Suppress(bg, Suppression{Address: "a@x.test", Reason: "manual", Created: t0}))
	// An entry numbered beyond the counter would sort after entries not
	// yet written, breaking per-address order; a record that does not
	// decode could never be pushed.
	if err := e.s.db.Set(sharedKey(1<<40), []byte("junk"), nil); err != nil {
		t.Fatal(err)
	}
	// An index key whose entry is gone would keep shared rows off the
	// address for good.
	if err := e.s.db.Set(sharedAddrKey("b@x.test", 7), nil, nil); err != nil {
		t.Fatal(err)
	}
	err := e.s.Check(bg)
	for _, want := range []string{"Q6 shared outbox entry 1099511627776 at or above the next seq", "Q6 p/",
		"Q6 shared index for b@x.test names entry 7, which does not exist"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want %q", err, want)
		}
	}
}

// A node joining the fleet with its own list queues all of it, once per
// address however often it seeds.
func TestSharedSeed(t *testing.T) {
	e := newEnv(t) // the list grew while the node ran alone
	for _, a := range []string{"a@x.test", "b@x.test", "c@x.test"} {
		e.ok(e.s.Suppress(bg, Suppression{Address: a, Reason: "hard_bounce", Created: t0, Count: 2}))
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	e.s = e.openShared(e.fs)
	n, err := e.s.SharedSeed(bg, "seed-node1-")
	e.ok(err)
	if n != 3 {
		t.Fatalf("seeded %d", n)
	}
	p := e.pending()
	if len(p) != 3 || p[0].ID != "seed-node1-a@x.test" || p[2].Suppression.Count != 2 || p[1].Removed {
		t.Fatalf("seed entries %+v", p)
	}
}
