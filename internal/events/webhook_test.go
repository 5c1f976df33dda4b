package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// receiver is a webhook endpoint that checks signatures.
type receiver struct {
	secret string
	now    time.Time // the receiver's clock, for the timestamp check
	mu     sync.Mutex
	status int // answer; 0 means 200
	bodies []map[string]any
	ids    []string
	bad    int // requests whose signature did not verify
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if webhook.VerifyAt(r.secret, req.Header, body, r.now, webhook.DefaultTolerance) != nil {
		r.bad++
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	var m map[string]any
	json.Unmarshal(body, &m) //nolint:errcheck // checked by the test's field asserts
	r.bodies = append(r.bodies, m)
	r.ids = append(r.ids, req.Header.Get(HeaderDeliveryID))
}

func TestWebhookPostsSignedEvents(t *testing.T) {
	t.Parallel()
	rcv := &receiver{secret: "k", now: t0.Add(time.Hour)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	clk := clock.NewFake(t0.Add(time.Hour))
	w := NewWebhook(WebhookOptions{URL: srv.URL, Secret: "k", Clock: clk, Events: []string{"bounced", "delivered"}})
	evs := []queue.Event{
		{Seq: 1, Kind: queue.EventQueued, At: t0, ID: "Q1", Rcpt: "a@x.test"},
		{Seq: 2, Kind: queue.EventBounced, At: t0, ID: "Q1", Rcpt: "a@x.test", Attempt: 1, Class: "hard",
			Category: "user_unknown", Suppressed: true, Reason: "hard_bounce",
			Reply: &queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}},
		{Seq: 3, Kind: queue.EventDelivered, At: t0, ID: "Q2", Rcpt: "b@x.test"},
	}
	done, err := w.Handle(context.Background(), evs)
	if err != nil || done != 3 {
		t.Fatalf("handle: %d, %v", done, err)
	}
	if rcv.bad != 0 || len(rcv.bodies) != 2 || rcv.ids[0] != "2" || rcv.ids[1] != "3" {
		t.Fatalf("bad signatures %d, ids %v", rcv.bad, rcv.ids)
	}
	b := rcv.bodies[0]
	want := map[string]any{"event": "bounced", "queue_id": "Q1", "recipient": "a@x.test", "RecordType": "Bounce",
		"Type": "HardBounce", "TypeCode": 1.0, "Email": "a@x.test", "BouncedAt": "2025-03-01T09:00:00Z",
		"Inactive": true, "CanActivate": true, "Details": "no such user", "MessageID": "Q1", "seq": 2.0}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("%s = %v, want %v", k, b[k], v)
		}
	}
	if _, ok := rcv.bodies[1]["Type"]; ok {
		t.Errorf("delivered event carries bounce fields: %v", rcv.bodies[1])
	}
}

func TestWebhookStopsAtFailureAndDropsOldEvents(t *testing.T) {
	t.Parallel()
	rcv := &receiver{secret: "k", now: t0, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	clk := clock.NewFake(t0)
	w := NewWebhook(WebhookOptions{URL: srv.URL, Secret: "k", Clock: clk, MaxAge: time.Hour})
	evs := []queue.Event{{Seq: 7, Kind: queue.EventDelivered, At: t0}, {Seq: 8, Kind: queue.EventDelivered, At: t0}}
	if done, err := w.Handle(context.Background(), evs); done != 0 || err == nil {
		t.Fatalf("down endpoint: %d, %v", done, err)
	}
	clk.Advance(2 * time.Hour) // both events are now past max_age
	if done, err := w.Handle(context.Background(), evs); done != 2 || err != nil {
		t.Fatalf("old events: %d, %v", done, err)
	}
	if w.Backoff(1) != time.Minute || w.Backoff(20) != 6*time.Hour {
		t.Fatal("webhook backoff is 1m doubling to 6h")
	}
}

func TestPostmarkTypes(t *testing.T) {
	t.Parallel()
	for cat, want := range map[string]string{"user_unknown": "HardBounce", "domain_not_found": "DnsError",
		"mailbox_full": "SoftBounce", "spam_content": "SpamNotification", "blocked_reputation": "Blocked",
		"greylisting": "Transient", "unclassified": "Unknown", "": "Unknown"} {
		p := NewPayload(queue.Event{Kind: queue.EventBounced, Category: cat})
		if p.Postmark == nil || p.Type != want {
			t.Errorf("%q: %+v, want %s", cat, p.Postmark, want)
		}
	}
	if p := NewPayload(queue.Event{Kind: queue.EventExpired, Category: "network_error"}); p.Type != "Transient" {
		t.Errorf("expired network error: %s", p.Type)
	}
}
