package queue

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSuppressionCaseExpiryAndMerge(t *testing.T) {
	e := newEnv(t)
	first := Suppression{Address: "User@Example.COM", Reason: "soft_bounce_expired", Created: t0,
		Reply: reply(452, "4.2.2", "mailbox full"), MessageID: "M1", Expires: t0.Add(30 * 24 * time.Hour)}
	e.ok(e.s.Suppress(bg, first))

	got, err := e.s.Suppression(bg, "user@EXAMPLE.com", t0.Add(time.Hour))
	if err != nil || got == nil || got.Address != "user@example.com" || got.Count != 1 ||
		!got.Created.Equal(t0) || !got.LastSeen.Equal(t0) {
		t.Fatalf("lookup in another case = %+v, %v", got, err)
	}
	if got, _ := e.s.Suppression(bg, "user@example.com", t0.Add(31*24*time.Hour)); got != nil {
		t.Fatalf("expired entry still suppresses: %+v", got)
	}

	// A hard bounce later: same entry, counted, never expires, new reason.
	later := t0.Add(48 * time.Hour)
	e.ok(e.s.Suppress(bg, Suppression{Address: "user@example.com", Reason: "hard_bounce", LastSeen: later,
		Reply: reply(550, "5.1.1", "unknown")}))
	got, _ = e.s.Suppression(bg, "USER@example.com", t0.Add(365*24*time.Hour))
	if got == nil || got.Count != 2 || got.Reason != "hard_bounce" || !got.Created.Equal(t0) ||
		!got.LastSeen.Equal(later) || got.Reply.Code != 550 || got.MessageID != "M1" || !got.Expires.IsZero() {
		t.Fatalf("merged = %+v", got)
	}

	e.ok(e.s.Unsuppress(bg, "USER@EXAMPLE.COM"))
	if got, _ := e.s.Suppression(bg, "user@example.com", t0); got != nil {
		t.Fatalf("after unsuppress: %+v", got)
	}
	if err := e.s.Unsuppress(bg, "user@example.com"); !isNotFound(err) {
		t.Fatalf("unsuppress missing: %v", err)
	}
}

func TestSuppressionsListOrderedByAddress(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"c@x.test", "A@x.test", "b@x.test", "d@x.test"} {
		e.ok(e.s.Suppress(bg, Suppression{Address: a, Reason: "manual", Created: t0, Expires: t0.Add(time.Minute)}))
	}
	addrs := func(after string, limit int) []string {
		t.Helper()
		list, err := e.s.Suppressions(bg, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.Address)
		}
		return out
	}
	if got := addrs("", 0); !slices.Equal(got, []string{"a@x.test", "b@x.test", "c@x.test", "d@x.test"}) {
		t.Fatalf("all (expired included) = %v", got)
	}
	if got := addrs("B@x.test", 1); !slices.Equal(got, []string{"c@x.test"}) {
		t.Fatalf("page = %v", got)
	}
}

// TestSuppressionFilter: the lookup at RCPT asks an in-memory filter first
// (suppfilter.go). With its capacity forced small, 8 writers suppress
// 1,600 addresses while the filter rebuilds itself several times and a
// reader looks up every address already suppressed: none may read as not
// suppressed (F1), during the run, after it and after a restart; and most
// addresses never suppressed must be answered from memory.
func TestSuppressionFilter(t *testing.T) {
	defer func(n int) { suppFilterMin = n }(suppFilterMin)
	suppFilterMin = 16
	e := newEnv(t)
	const writers, each = 8, 200
	addr := func(w, i int) string { return fmt.Sprintf("User%d.%d@Example.TEST", w, i) }
	var done sync.WaitGroup
	var written [writers]atomic.Int64
	stop := make(chan struct{})
	misses := make(chan string, writers*each)
	go func() { // the reader
		for k := 0; ; k++ {
			select {
			case <-stop:
				close(misses)
				return
			default:
			}
			w := k % writers
			n := int(written[w].Load())
			if n == 0 {
				continue
			}
			a := addr(w, k%n)
			if got, err := e.s.Suppression(bg, strings.ToLower(a), t0); err != nil || got == nil {
				misses <- a
			}
		}
	}()
	for w := range writers {
		done.Go(func() {
			for i := range each {
				if err := e.s.Suppress(bg, Suppression{Address: addr(w, i), Reason: "hard_bounce", Created: t0}); err != nil {
					t.Error(err)
					return
				}
				written[w].Store(int64(i + 1))
			}
		})
	}
	done.Wait()
	close(stop)
	for a := range misses {
		t.Errorf("%s read as not suppressed while suppressed", a)
	}
	e.s.bg.Wait() // the last build
	e.ok(nil)     // Check: F1 on every key

	all := func(when string) {
		t.Helper()
		for w := range writers {
			for i := range each {
				if got, err := e.s.Suppression(bg, addr(w, i), t0); err != nil || got == nil {
					t.Fatalf("%s: %s not suppressed: %v", when, addr(w, i), err)
				}
			}
		}
		absent := 0
		for i := range 1000 {
			if !e.s.supp.mayHold(fmt.Sprintf("never%d@example.test", i)) {
				absent++
			}
		}
		if absent < 950 {
			t.Errorf("%s: the filter answered only %d of 1000 unsuppressed addresses", when, absent)
		}
	}
	all("after the run")
	e.reopen()
	e.s.bg.Wait()
	all("after a restart")
	e.ok(e.s.Unsuppress(bg, addr(0, 0)))
	if got, _ := e.s.Suppression(bg, addr(0, 0), t0); got != nil {
		t.Errorf("after unsuppress: %+v", got)
	}
}
