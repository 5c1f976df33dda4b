package events

import (
	"testing"

	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// TestPayloadForEveryCategory: a bounce of each category carries that
// category's Postmark type, not the unclassified fallback.
func TestPayloadForEveryCategory(t *testing.T) {
	t.Parallel()
	fallback, _ := policy.TextsFor(policy.Unclassified)
	for _, c := range policy.Categories() {
		want, _ := policy.TextsFor(c)
		p := NewPayload(queue.Event{Kind: queue.EventBounced, Category: string(c), Rcpt: "a@x.test"})
		if p.Postmark == nil || p.Type != want.PostmarkType || p.TypeCode != want.PostmarkCode ||
			p.Description != want.Description {
			t.Errorf("%s: %+v, want %+v", c, p.Postmark, want)
		}
		if c != policy.Unclassified && p.Description == fallback.Description {
			t.Errorf("%s: shown as unclassified", c)
		}
	}
}

func TestPayloadFallbacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, cat, typ string
	}{
		{queue.EventBounced, "no_such_category", "Unknown"},
		{queue.EventExpired, "", "Transient"},
		{queue.EventExpired, "unclassified", "Transient"},
		{queue.EventFailed, "operator", "Unknown"},
		{queue.EventDeferred, "greylisting", "Transient"},
	} {
		p := NewPayload(queue.Event{Kind: tc.kind, Category: tc.cat})
		if p.Postmark == nil || p.Type != tc.typ {
			t.Errorf("%s %q: %+v, want Type %s", tc.kind, tc.cat, p.Postmark, tc.typ)
		}
	}
	if p := NewPayload(queue.Event{Kind: queue.EventDelivered}); p.Postmark != nil {
		t.Errorf("delivered carries bounce fields: %+v", p.Postmark)
	}
}
