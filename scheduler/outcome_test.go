package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
)

// TestOnOutcome: every recipient outcome is told once, attempts with
// their duration, a suppressed address as rejected with nothing sent.
func TestOnOutcome(t *testing.T) {
	answer := func(rcpt string, n int) delivery.Result {
		var r delivery.Result
		switch {
		case rcpt == "gone@b.test":
			r = reply(550, "5.1.1", "user unknown", delivery.StageRcpt)
		case n == 1:
			r = reply(451, "4.7.1", "greylisted, try again", delivery.StageRcpt)
		default:
			r = reply(250, "2.0.0", "ok", delivery.StageData)
		}
		r.Duration = 20 * time.Millisecond
		return r
	}
	var mu sync.Mutex
	var got []string
	h := newHarness(t, Options{OnOutcome: func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %s %s sent=%v %v", o.Domain, o.Decision, o.Category, o.Sent, o.Duration))
	}}, answer)
	h.submit("dave@a.test", "gone@b.test")
	h.drain(10)
	h.submit("gone@b.test")
	if err := h.s.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"a.test deferred greylisting sent=true 20ms",
		"b.test bounced user_unknown sent=true 20ms",
		"a.test delivered  sent=true 20ms",
		"b.test rejected suppressed sent=false 0s",
	}
	slices.Sort(got) // jobs to two domains run in parallel
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("outcomes\n got %q\nwant %q", got, want)
	}
}
