package admin

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

func (f *fixture) outcome(id string, rcpt int, st queue.State, code int) {
	f.t.Helper()
	r := &queue.Reply{Code: code, Text: fmt.Sprint(code)}
	f.check(f.store.Apply(bg, []queue.Update{{ID: id, Rcpt: rcpt, State: st, CountAttempt: true, Reply: r,
		Attempt: &queue.Attempt{At: f.clk.Now(), MX: "mx.test", Reply: *r, Decision: string(st)}}}))
}

// TestOverview: a week of outcomes read back per hour, per day and per
// destination with its levels, through the Service and the admin socket.
func TestOverview(t *testing.T) {
	f := newFixture(t)
	// Three days ago: 96 delivered and 4 bounced at big.test (4%: warning).
	for i := range 100 {
		id := f.enqueue(fmt.Sprintf("u%d@big.test", i))
		if i < 4 {
			f.outcome(id, 0, queue.Bounced, 550)
		} else {
			f.outcome(id, 0, queue.Delivered, 250)
		}
	}
	// This hour: one delivered at small.test, one deferred, one waiting.
	f.clk.Advance(72*time.Hour + 30*time.Minute)
	id := f.enqueue("a@small.test", "b@small.test", "c@small.test")
	f.outcome(id, 0, queue.Delivered, 250)
	f.defer_(id, 1, "greylisted")
	ov, err := f.svc.Overview(bg)
	f.check(err)
	if len(ov.Hours) != 24 || len(ov.Days) != 7 || !ov.Hours[23].Start.Equal(t0.Add(72*time.Hour)) {
		t.Fatalf("%d hours (last %v), %d days", len(ov.Hours), ov.Hours[len(ov.Hours)-1].Start, len(ov.Days))
	}
	if want := (queue.Counts{Delivered: 1, Deferred: 1}); ov.Hours[23].Counts != want {
		t.Errorf("this hour %+v, want %+v", ov.Hours[23].Counts, want)
	}
	if want := (queue.Counts{Delivered: 96, Bounced: 4}); ov.Days[3].Counts != want || !ov.Days[3].Start.Equal(t0.Add(-9*time.Hour)) {
		t.Errorf("three days ago %v %+v, want %+v", ov.Days[3].Start, ov.Days[3].Counts, want)
	}
	if len(ov.Domains) != 2 || ov.Domains[0].Domain != "big.test" || ov.Domains[0].BounceLevel != LevelWarning ||
		ov.Domains[0].BounceRate != 0.04 || ov.Domains[1].BounceLevel != LevelOK {
		t.Errorf("domains %+v", ov.Domains)
	}

	sock := filepath.Join(shortDir(t), "admin.sock")
	startServer(t, f.svc, ServerOptions{SocketPath: sock})
	c := NewClient(sock)
	got, err := c.Overview(bg)
	if err != nil || got.Days[3].Delivered != 96 || got.Domains[0].BounceRate != 0.04 {
		t.Fatalf("over the socket: %+v, %v", got, err)
	}
	ds, err := c.DestinationQueues(bg)
	if err != nil || len(ds) != 1 || ds[0].Domain != "small.test" || ds[0].Waiting != 2 || ds[0].Live != nil {
		t.Fatalf("destinations over the socket: %+v, %v", ds, err)
	}
}

type fakeLive []scheduler.DestinationStatus

func (l fakeLive) Destinations() []scheduler.DestinationStatus    { return l }
func (fakeLive) ResetDestination(string) bool                     { return false }
func (fakeLive) SenderSideRejections() []scheduler.SenderSideStat { return nil }
func (fakeLive) Sources(context.Context) []scheduler.SourceStat   { return nil }

// TestDestinationQueues: the stored waiting count joined with the
// scheduler's state, a parked destination first.
func TestDestinationQueues(t *testing.T) {
	f := newFixture(t)
	f.enqueue("a@many.test", "b@many.test", "c@many.test")
	f.enqueue("a@few.test")
	parked := t0.Add(10 * time.Minute)
	// few.test from two source addresses (pools): the parked one shows,
	// whichever order the scheduler lists them in.
	f.svc.live = fakeLive{{Domain: "few.test", SourceIP: "192.0.2.1", State: "ok"},
		{Domain: "few.test", SourceIP: "192.0.2.2", State: "parked", ParkedUntil: parked, LastReply: "421 busy"},
		{Domain: "few.test", SourceIP: "192.0.2.3", State: "ok"},
		{Domain: "gone.test", State: "ok"}}
	ds, err := f.svc.DestinationQueues(bg)
	f.check(err)
	if len(ds) != 3 || ds[0].Domain != "few.test" || ds[0].Waiting != 1 || ds[0].Live == nil || !ds[0].Live.ParkedUntil.Equal(parked) ||
		ds[1].Domain != "many.test" || ds[1].Waiting != 3 || ds[1].Live != nil || ds[2].Domain != "gone.test" || ds[2].Waiting != 0 {
		t.Fatalf("destinations %+v", ds)
	}
	_, err = f.svc.QueueAction(bg, QueueAction{Action: "hold", Domain: "many.test"})
	f.check(err)
	ds, err = f.svc.DestinationQueues(bg)
	f.check(err)
	for _, d := range ds {
		if d.Domain == "many.test" {
			t.Errorf("held recipients still counted as waiting: %+v", d)
		}
	}
}
