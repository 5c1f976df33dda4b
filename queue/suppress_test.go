package queue

import (
	"slices"
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
