package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

func TestCLIEventsTail(t *testing.T) {
	n := newCLINet(t)
	n.mx("ok.test", "127.0.0.2")
	n.mx("bad.test", "127.0.0.3", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(550, "5.1.1", "User unknown")
	}))
	id := n.send("alice@ok.test", "gone@bad.test")
	n.wait(id, queue.Delivered, queue.Bounced)

	// An event becomes readable when its batch's commit has settled, which
	// can be just after the state the wait above saw.
	waitfor.True(t, "five events readable", func() bool {
		return strings.Count(strings.TrimSpace(n.ok("events", "tail", "--json")), "\n") >= 4
	})
	out := n.ok("events", "tail")
	t.Logf("mtaq events tail:\n%s", out)
	for _, want := range []string{"queued", "delivered", id, "gone@bad.test", "550 5.1.1", "suppressed", "reason=hard_bounce", `"User unknown"`} {
		if !strings.Contains(out, want) {
			t.Errorf("events tail lacks %q", want)
		}
	}
	js := n.ok("events", "tail", "--json", "--after", "2")
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(js), "\n") {
		var e queue.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if e.Seq <= 2 {
			t.Fatalf("--after 2 printed seq %d", e.Seq)
		}
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 3 {
		t.Fatalf("kinds after 2: %v", kinds)
	}
}

// TestTailFollow prints events as they come, then polls every followEvery
// on its clock until interrupted.
func TestTailFollow(t *testing.T) {
	t.Parallel()
	api := &fakeEvents{}
	fc := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	var sb strings.Builder
	done := make(chan error)
	armed := fc.Added()
	go func() { done <- tailEvents(ctx, api, tailOptions{follow: true, json: true, clock: fc}, &sb) }()
	waitArmed(t, armed) // caught up: two events, then an empty page
	if got := strings.Count(sb.String(), "\n"); got != 2 || api.calls != 3 {
		t.Fatalf("after catching up: %d calls, printed %q", api.calls, sb.String())
	}
	armed = fc.Added()
	fc.Advance(followEvery)
	waitArmed(t, armed)
	if api.calls != 4 {
		t.Fatalf("one followEvery later: %d calls, want 4", api.calls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitArmed waits until the fake clock's next timer is armed.
func waitArmed(t *testing.T, armed <-chan struct{}) {
	t.Helper()
	select {
	case <-armed:
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not go back to sleep")
	}
}

// fakeEvents hands out one event on each of the first two calls.
type fakeEvents struct {
	admin.API
	calls int
}

func (f *fakeEvents) Events(_ context.Context, after uint64, _ int) (*admin.EventPage, error) {
	f.calls++
	if after >= 2 {
		return &admin.EventPage{Events: []queue.Event{}, Last: after}, nil
	}
	e := queue.Event{Seq: after + 1, Kind: queue.EventQueued}
	return &admin.EventPage{Events: []queue.Event{e}, Last: e.Seq}, nil
}
