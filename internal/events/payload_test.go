package events

import (
	"encoding/json"
	"strings"
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

// Every event's payload carries the app's labels and the message's From
// and Subject twice: as mtaq names them and as Postmark does.
func TestPayloadCarriesLabels(t *testing.T) {
	for _, kind := range []string{queue.EventQueued, queue.EventDelivered, queue.EventBounced} {
		ev := queue.Event{Kind: kind, ID: "06ID", Rcpt: "a@x.test", Category: "user_unknown", Tag: "welcome",
			Metadata: map[string]string{"user_id": "42"}, From: "App <app@example.org>", Subject: "Hi"}
		b, err := json.Marshal(NewPayload(ev))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		json.Unmarshal(b, &got)
		for _, k := range []string{"tag", "Tag"} {
			if got[k] != "welcome" {
				t.Errorf("%s: %s = %v in %s", kind, k, got[k], b)
			}
		}
		for _, k := range []string{"metadata", "Metadata"} {
			if m, _ := got[k].(map[string]any); m["user_id"] != "42" {
				t.Errorf("%s: %s = %v", kind, k, got[k])
			}
		}
		if got["From"] != "App <app@example.org>" || got["Subject"] != "Hi" || got["queue_id"] != "06ID" {
			t.Errorf("%s: %s", kind, b)
		}
		if kind == queue.EventBounced && got["MessageID"] != "06ID" {
			t.Errorf("bounce MessageID %v", got["MessageID"])
		}
	}
	b, _ := json.Marshal(NewPayload(queue.Event{Kind: queue.EventDelivered}))
	if !strings.Contains(string(b), `"Metadata":{}`) {
		t.Errorf("no labels: %s", b)
	}
}

// A complaint reads as Postmark's SpamComplaint webhook: record type,
// type code 512, the address, inactive, not to be reactivated.
func TestPayloadSpamComplaint(t *testing.T) {
	ev := queue.Event{Kind: queue.EventComplained, ID: "06ID", Rcpt: "a@x.test", Suppressed: true, Async: true,
		FeedbackType: "abuse", Reason: "complaint"}
	b, err := json.Marshal(NewPayload(ev))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512.0,
		"Email": "a@x.test", "Inactive": true, "CanActivate": false, "MessageID": "06ID", "event": "complained",
		"async": true, "feedback_type": "abuse"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (payload %s)", k, got[k], want, b)
		}
	}
}
