package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

func decode[T any](t *testing.T, st int, body []byte, want int) T {
	t.Helper()
	if st != want {
		t.Fatalf("status %d, want %d: %s", st, want, body)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

// Listing filters by recipient, sender, tag, state and arrival time, and
// pages with a cursor; the answers are the admin API's.
func TestListAndShowMessages(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for i := range 5 {
		from := "a@app.test"
		if i%2 == 1 {
			from = "b@narrow.test"
		}
		tag := fmt.Sprintf("t%d", i%2)
		r := h.send(adminKey, map[string]any{"from": from, "to": []string{fmt.Sprintf("u%d@example.test", i)}, "text": "x", "tag": tag})
		ids = append(ids, r.ID)
		h.clk.Advance(time.Minute)
	}
	list := func(key, query string) admin.QueuePage {
		t.Helper()
		st, _, body := h.do("GET", "/v1/messages?"+query, key, nil)
		return decode[admin.QueuePage](t, st, body, 200)
	}
	idsOf := func(p admin.QueuePage) string {
		var out []string
		for _, m := range p.Messages {
			out = append(out, m.ID)
		}
		return strings.Join(out, ",")
	}
	if got := idsOf(list(readKey, "")); got != strings.Join(ids, ",") {
		t.Errorf("all: %s", got)
	}
	if got := idsOf(list(readKey, "recipient=U2@example.test")); got != ids[2] {
		t.Errorf("recipient: %s", got)
	}
	if got := idsOf(list(readKey, "sender=b@narrow.test")); got != ids[1]+","+ids[3] {
		t.Errorf("sender: %s", got)
	}
	if got := idsOf(list(readKey, "tag=t0&state=queued")); got != ids[0]+","+ids[2]+","+ids[4] {
		t.Errorf("tag+state: %s", got)
	}
	q := url.Values{"since": {t0.Add(time.Minute).Format(time.RFC3339)}, "until": {t0.Add(3 * time.Minute).Format(time.RFC3339)}}
	if got := idsOf(list(readKey, q.Encode())); got != ids[1]+","+ids[2] {
		t.Errorf("time range: %s", got)
	}
	var paged []string
	for cursor := ""; ; {
		p := list(readKey, "limit=2&cursor="+cursor)
		paged = append(paged, idsOf(p))
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if got := strings.Join(paged, "|"); got != ids[0]+","+ids[1]+"|"+ids[2]+","+ids[3]+"|"+ids[4] {
		t.Errorf("pages: %s", got)
	}
	// A key with allowed_senders reads only its senders' mail.
	if got := idsOf(list(narrowKey, "")); got != ids[1]+","+ids[3] {
		t.Errorf("narrow key sees %s", got)
	}
	if st, _, _ := h.do("GET", "/v1/messages/"+ids[0], narrowKey, nil); st != 404 {
		t.Errorf("narrow key read another sender's message: %d", st)
	}
	st, _, body := h.do("GET", "/v1/messages/"+ids[1], readKey, nil)
	d := decode[admin.MessageDetail](t, st, body, 200)
	if d.ID != ids[1] || d.Sender != "b@narrow.test" || d.Tag != "t1" || len(d.Headers) == 0 || d.Recipients[0].State != "queued" {
		t.Errorf("detail %+v", d)
	}
	for _, c := range []struct{ query, detail string }{
		{"state=lost", "unknown state"},
		{"since=yesterday", "since: want an RFC 3339 time"},
		{"limit=-1", "limit: want a non-negative integer"},
		{"rcpt=x@y", "rcpt: unknown query parameter"},
		{"since=2026-12-07T10:00:00Z&until=2026-12-07T09:00:00Z", "until"},
	} {
		st, hd, body := h.do("GET", "/v1/messages?"+c.query, readKey, nil)
		if p := h.problem(hd, body); st != 400 || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %d %q", c.query, st, p.Detail)
		}
	}
	st, hd, body := h.do("GET", "/v1/messages/0000000000000000", readKey, nil)
	if p := h.problem(hd, body); st != 404 || p.Type != typeNotFound {
		t.Errorf("unknown id: %d %+v", st, p)
	}
	st, hd, body = h.do("GET", "/v1/nothing", readKey, nil)
	if p := h.problem(hd, body); st != 404 {
		t.Errorf("unknown route: %d %+v", st, p)
	}
	st, hd, body = h.do("PUT", "/v1/messages", readKey, nil)
	if p := h.problem(hd, body); st != 405 || hd.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /v1/messages: %d Allow %q %+v", st, hd.Get("Allow"), p)
	}
}

func TestSuppressionsEventsStats(t *testing.T) {
	h := newHarness(t)
	st, _, body := h.do("POST", "/v1/suppressions", adminKey, map[string]any{"address": "Bob@Example.test", "reason": "manual", "ttl": "720h"})
	e := decode[admin.SuppressionEntry](t, st, body, 201)
	if e.Address != "bob@example.test" || e.Expires == nil || !e.Expires.Equal(t0.Add(720*time.Hour)) {
		t.Fatalf("entry %+v", e)
	}
	st, _, body = h.do("GET", "/v1/suppressions/bob@example.test", readKey, nil)
	if e := decode[admin.SuppressionEntry](t, st, body, 200); e.Reason != "manual" || !e.Active {
		t.Errorf("show %+v", e)
	}
	st, _, body = h.do("GET", "/v1/suppressions?reason=manual", readKey, nil)
	if p := decode[admin.SuppressionPage](t, st, body, 200); len(p.Entries) != 1 {
		t.Errorf("list %+v", p)
	}
	if st, _, body := h.do("POST", "/v1/suppressions", readKey, map[string]any{"address": "x@example.test"}); st != 403 {
		t.Errorf("read key suppressing: %d %s", st, body)
	}
	for _, c := range []struct {
		body   any
		detail string
	}{
		{map[string]any{"address": "x@example.test", "ttl": "soon"}, "ttl: want a positive duration"},
		{map[string]any{"reason": "manual"}, "address: required"},
		{map[string]any{"address": "x@example.test", "reason": "because"}, "reason"},
		{map[string]any{"address": "x@example.test", "until": "x"}, "until: unknown field"},
	} {
		st, hd, body := h.do("POST", "/v1/suppressions", adminKey, c.body)
		if p := h.problem(hd, body); st != 400 || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%v: %d %q", c.body, st, p.Detail)
		}
	}
	if st, _, body := h.do("DELETE", "/v1/suppressions/bob@example.test", adminKey, nil); st != 204 || len(body) != 0 {
		t.Errorf("delete: %d %s", st, body)
	}
	st, hd, body := h.do("DELETE", "/v1/suppressions/bob@example.test", adminKey, nil)
	if p := h.problem(hd, body); st != 404 {
		t.Errorf("delete again: %d %+v", st, p)
	}
	st, hd, body = h.do("GET", "/v1/suppressions/bob@example.test", readKey, nil)
	if p := h.problem(hd, body); st != 404 {
		t.Errorf("show removed: %d %+v", st, p)
	}

	res := h.send(sendKey, map[string]any{"from": "a@app.test", "to": []string{"x@example.test"}, "text": "hi", "tag": "ev"})
	st, _, body = h.do("GET", "/v1/events?after=0", readKey, nil)
	page := decode[admin.EventPage](t, st, body, 200)
	var kinds []string
	for _, e := range page.Events {
		kinds = append(kinds, e.Kind)
	}
	if len(page.Events) < 3 || page.Last != page.Events[len(page.Events)-1].Seq {
		t.Fatalf("events %s", body)
	}
	last := page.Events[len(page.Events)-1]
	if last.Kind != "queued" || last.ID != res.ID || last.Tag != "ev" {
		t.Errorf("last event %+v (kinds %v)", last, kinds)
	}
	st, _, body = h.do("GET", fmt.Sprintf("/v1/events?after=%d", page.Last), readKey, nil)
	if p := decode[admin.EventPage](t, st, body, 200); len(p.Events) != 0 || p.Last != page.Last {
		t.Errorf("after the last: %s", body)
	}
	// The narrow key sees no event of another sender.
	st, _, body = h.do("GET", "/v1/events", narrowKey, nil)
	if p := decode[admin.EventPage](t, st, body, 200); len(p.Events) != 0 {
		t.Errorf("narrow key sees %s", body)
	}
	st, hd, body = h.do("GET", "/v1/events?after=-3", readKey, nil)
	if p := h.problem(hd, body); st != 400 || p.Field != "after" {
		t.Errorf("bad after: %d %+v", st, p)
	}
	st, _, body = h.do("GET", "/v1/stats", readKey, nil)
	if s := decode[admin.Stats](t, st, body, 200); s.States["queued"] != 1 || s.Level != "ok" {
		t.Errorf("stats %s", body)
	}
	st, hd, body = h.do("GET", "/v1/openapi.json", "", nil)
	if st != 200 || hd.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"openapi": "3.1.0"`) {
		t.Errorf("openapi.json: %d %.100s", st, body)
	}
}

// After Shutdown the port answers nothing.
func TestShutdownStopsServing(t *testing.T) {
	h := newHarness(t)
	done := make(chan int)
	go func() {
		st, _, _ := h.do("POST", "/v1/messages", sendKey, map[string]any{"from": "a@app.test", "to": []string{"x@example.test"}, "text": "hi"})
		done <- st
	}()
	if st := <-done; st != http.StatusAccepted {
		t.Fatalf("send: %d", st)
	}
	h.stop()
	if _, err := http.Get(h.url + "/v1/openapi.json"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

// TestOverview: GET /v1/overview answers the stored counters as the
// OpenAPI document describes them (the harness validates every response).
func TestOverview(t *testing.T) {
	h := newHarness(t)
	m := &queue.Message{Sender: "app@example.test", Arrived: t0,
		Recipients: []queue.Recipient{{Address: "a@dest.test"}, {Address: "b@dest.test"}}}
	if err := h.store.Enqueue(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Hour)
	at := h.clk.Now()
	err := h.store.Apply(context.Background(), []queue.Update{
		{ID: m.ID, Rcpt: 0, State: queue.Delivered, CountAttempt: true, Attempt: &queue.Attempt{At: at, Reply: queue.Reply{Code: 250}}},
		{ID: m.ID, Rcpt: 1, State: queue.Bounced, CountAttempt: true, Attempt: &queue.Attempt{At: at, Reply: queue.Reply{Code: 550}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := h.do("GET", "/v1/overview", readKey, nil)
	ov := decode[admin.Overview](t, st, body, 200)
	if len(ov.Hours) != 24 || ov.Hours[23].Delivered != 1 || ov.Hours[23].Bounced != 1 || len(ov.Days) != 7 {
		t.Fatalf("overview %s", body)
	}
	if len(ov.Domains) != 1 || ov.Domains[0].Domain != "dest.test" || ov.Domains[0].BounceRate != 0.5 || ov.Domains[0].BounceLevel != "critical" {
		t.Errorf("domains %+v", ov.Domains)
	}
	if st, _, _ := h.do("GET", "/v1/overview", "", nil); st != 401 {
		t.Errorf("without a key: %d", st)
	}
}
