package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/mtaq/mtaq/queue"
)

func fullRequest() map[string]any {
	return map[string]any{
		"from":     "Billing <billing@app.test>",
		"to":       []string{"Alice <alice@example.test>"},
		"cc":       []string{"carol@example.test"},
		"bcc":      []string{"audit@example.test"},
		"reply_to": "support@app.test",
		"subject":  "Your invoice – December",
		"text":     "Hello Alice,\nyour invoice is attached.\n",
		"html":     "<p>Hello Alice,</p><p>your invoice is attached.</p>",
		"headers":  map[string]string{"X-Campaign": "dec-2026", "List-Unsubscribe": "<mailto:unsub@app.test>"},
		"attachments": []map[string]string{{"filename": "invoice.pdf", "content_type": "application/pdf",
			"content": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 not really\x00\x01"))}},
		"tag":      "invoice",
		"metadata": map[string]string{"customer_ID": "42", "plan": "pro"},
	}
}

// A JSON message becomes a MIME message a mail reader parses back into
// what was sent, through intake (Received, Message-ID, Date, labels out of
// the header), and is answered 202 with its queue ID.
func TestSendJSONBuildsTheMessage(t *testing.T) {
	h := newHarness(t)
	res := h.send(sendKey, fullRequest())
	if len(res.ID) != 16 || len(res.Recipients) != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, r := range res.Recipients {
		if r.Status != "queued" {
			t.Errorf("%s: %s", r.Address, r.Status)
		}
	}
	m, err := h.store.Message(context.Background(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Sender != "billing@app.test" || len(m.Recipients) != 3 || m.Recipients[2].Address != "audit@example.test" {
		t.Fatalf("envelope %+v", m)
	}
	if m.Tag != "invoice" || m.Metadata["customer_ID"] != "42" || m.Metadata["plan"] != "pro" {
		t.Errorf("labels: tag %q metadata %v (keys keep their case)", m.Tag, m.Metadata)
	}
	body, err := h.store.Body(context.Background(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(body)
	if !strings.HasPrefix(raw, "Received: from app ([127.0.0.1])\r\n\tby mtaq.test (mtaq) with HTTP id "+res.ID) {
		t.Errorf("Received field: %.120q", raw)
	}
	for _, gone := range []string{"Bcc", "audit@example.test", "X-Mtaq-"} {
		if strings.Contains(raw, gone) {
			t.Errorf("message contains %q", gone)
		}
	}
	mr, err := mail.CreateReader(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := mr.Header.Subject(); subj != "Your invoice – December" {
		t.Errorf("Subject %q", subj)
	}
	from, _ := mr.Header.AddressList("From")
	to, _ := mr.Header.AddressList("To")
	cc, _ := mr.Header.AddressList("Cc")
	if len(from) != 1 || from[0].Name != "Billing" || len(to) != 1 || to[0].Address != "alice@example.test" || len(cc) != 1 {
		t.Errorf("From %v To %v Cc %v", from, to, cc)
	}
	if id, _ := mr.Header.MessageID(); id == "" {
		t.Error("no Message-ID added")
	}
	if _, err := mr.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if mr.Header.Get("X-Campaign") != "dec-2026" || mr.Header.Get("Reply-To") != "<support@app.test>" {
		t.Errorf("extra fields: %q %q", mr.Header.Get("X-Campaign"), mr.Header.Get("Reply-To"))
	}
	var texts []string
	var att []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			texts = append(texts, ct+":"+string(b))
		case *mail.AttachmentHeader:
			if name, _ := ph.Filename(); name != "invoice.pdf" {
				t.Errorf("filename %q", name)
			}
			att = b
		}
	}
	if len(texts) != 2 || !strings.HasPrefix(texts[0], "text/plain:Hello Alice") || !strings.HasPrefix(texts[1], "text/html:<p>") {
		t.Errorf("text parts %q", texts)
	}
	if string(att) != "%PDF-1.4 not really\x00\x01" {
		t.Errorf("attachment %q", att)
	}
}

// Bad input is a 4xx problem document naming the field, never a 500, and
// queues nothing.
func TestBadInputNamesTheField(t *testing.T) {
	h := newHarness(t)
	with := func(k string, v any) map[string]any {
		r := fullRequest()
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
		return r
	}
	cases := []struct {
		name   string
		body   any
		hdr    []string
		status int
		detail string
	}{
		{"bad to", with("to", []string{"a@x.test", "b@x.test", "c@x.test", "not an address"}), nil, 400, "to[3]: not an address"},
		{"bad cc", with("cc", []string{"<@>"}), nil, 400, "cc[0]: not an address"},
		{"no from", with("from", nil), nil, 400, "from: required"},
		{"bad from", with("from", "nobody"), nil, 400, "from: not an address"},
		{"no recipients", map[string]any{"from": "a@app.test", "text": "x"}, nil, 400, "to: at least one recipient"},
		{"unknown field", with("attachment", "x"), nil, 400, "attachment: unknown field"},
		{"wrong type", with("to", "alice@example.test"), nil, 400, "to: want an array, got string"},
		{"bad base64", with("attachments", []map[string]string{{"filename": "a", "content": "!!"}}), nil, 400, "attachments[0].content: not base64"},
		{"no filename", with("attachments", []map[string]string{{"content": "YQ=="}}), nil, 400, "attachments[0].filename: required"},
		{"bad media type", with("attachments", []map[string]string{{"filename": "a", "content_type": "a b", "content": "YQ=="}}), nil, 400, "attachments[0].content_type: not a media type"},
		{"reserved header", with("headers", map[string]string{"Content-Type": "text/plain"}), nil, 400, "headers.Content-Type: set from the request's own fields"},
		{"header injection", with("headers", map[string]string{"X-A": "v\r\nBcc: evil@x.test"}), nil, 400, "headers.X-A: contains control characters"},
		{"subject injection", with("subject", "Hi\r\nBcc: evil@x.test"), nil, 400, "subject: contains control characters"},
		{"tag injection", with("tag", "a\nX-Evil: 1"), nil, 400, "tag: contains control characters"},
		{"tag too long", with("tag", strings.Repeat("t", 200)), nil, 422, "tag: X-Mtaq-Tag: longer than 128 octets"},
		{"metadata key", with("metadata", map[string]string{"bad key": "v"}), nil, 400, "metadata.bad key: the key must be"},
		{"no body", with("text", nil), nil, 0, ""},
		{"too many recipients", with("bcc", manyAddrs(60)), nil, 422, "bcc[48]: more than 50 distinct recipients"},
		{"empty", "", nil, 400, "the body is empty"},
		{"not json", "{from:", nil, 400, "not JSON at byte"},
		{"two values", `{"from":"a@app.test"} {}`, nil, 400, "the body holds more than one JSON value"},
		{"too large", `{"text":"` + strings.Repeat("x", 3<<20) + `"}`, nil, 413, "the body is over"},
		{"bad idempotency key", fullRequest(), []string{"Idempotency-Key", "has space"}, 400, "Idempotency-Key: want one value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, hd, body := h.do("POST", "/v1/messages", sendKey, c.body, c.hdr...)
			if c.status == 0 {
				if st != http.StatusAccepted {
					t.Fatalf("%d %s", st, body)
				}
				return
			}
			p := h.problem(hd, body)
			if st != c.status || p.Status != c.status || !strings.HasPrefix(p.Detail, c.detail) {
				t.Fatalf("got %d %q, want %d %q…", st, p.Detail, c.status, c.detail)
			}
			if i := strings.Index(c.detail, ":"); i > 0 && !strings.Contains(c.detail[:i], " ") && p.Field != c.detail[:i] {
				t.Errorf("field %q, want %q", p.Field, c.detail[:i])
			}
		})
	}
	if n := len(h.messages()); n != 1 { // only "no body" (html alone) was fine
		t.Errorf("%d messages queued, want 1", n)
	}
}

func TestAuthScopesAndRateLimit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.RateLimit, o.RateBurst = 1, 2 })
	msg := map[string]any{"from": "a@app.test", "to": []string{"b@example.test"}, "text": "hi"}
	st, hd, body := h.do("POST", "/v1/messages", "", msg)
	if p := h.problem(hd, body); st != 401 || hd.Get("WWW-Authenticate") == "" || p.Type != typeUnauthorized {
		t.Errorf("no key: %d %+v", st, p)
	}
	st, hd, body = h.do("POST", "/v1/messages", "mtaq_wrong", msg)
	if p := h.problem(hd, body); st != 401 || !strings.Contains(p.Detail, "unknown API key") {
		t.Errorf("wrong key: %d %+v", st, p)
	}
	st, hd, body = h.do("POST", "/v1/messages", readKey, msg)
	if p := h.problem(hd, body); st != 403 || !strings.Contains(p.Detail, `"send" scope`) {
		t.Errorf("read key sending: %d %+v", st, p)
	}
	st, hd, body = h.do("GET", "/v1/messages", sendKey, nil)
	if p := h.problem(hd, body); st != 403 || !strings.Contains(p.Detail, `"read" scope`) {
		t.Errorf("send key reading: %d %+v", st, p)
	}
	// A key's sender rule is submission's allowed_senders.
	st, hd, body = h.do("POST", "/v1/messages", narrowKey, msg)
	if p := h.problem(hd, body); st != 403 || p.Field != "from" {
		t.Errorf("narrow key, other sender: %d %+v", st, p)
	}
	// readKey spent 1 of its 2 tokens above: one more, then 429 with
	// Retry-After; a second later there is a token again.
	if st, _, _ := h.do("GET", "/v1/stats", readKey, nil); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	st, hd, body = h.do("GET", "/v1/stats", readKey, nil)
	if p := h.problem(hd, body); st != 429 || hd.Get("Retry-After") != "1" || p.Type != typeRateLimited {
		t.Errorf("over the limit: %d Retry-After %q %+v", st, hd.Get("Retry-After"), p)
	}
	// Other keys have their own bucket.
	if st, _, _ := h.do("GET", "/v1/stats", adminKey, nil); st != 200 {
		t.Errorf("another key limited too: %d", st)
	}
	h.clk.Advance(time.Second)
	if st, _, _ := h.do("GET", "/v1/stats", readKey, nil); st != 200 {
		t.Errorf("after Retry-After: %d", st)
	}
}

// The same Idempotency-Key from the same API key returns the first
// response and queues nothing, also after a restart; from another key it
// is another request.
func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	msg := map[string]any{"from": "ops@app.test", "to": []string{"b@example.test"}, "text": "once"}
	st, _, first := h.do("POST", "/v1/messages", adminKey, msg, "Idempotency-Key", "order-1234")
	if st != 202 {
		t.Fatalf("%d %s", st, first)
	}
	st, hd, again := h.do("POST", "/v1/messages", adminKey, msg, "Idempotency-Key", "order-1234")
	if st != 202 || string(again) != string(first) || hd.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s (replayed %q), want %s", st, again, hd.Get("Idempotent-Replayed"), first)
	}
	h.restart()
	// Even a different body: the key decides.
	st, _, after := h.do("POST", "/v1/messages", adminKey, map[string]any{"from": "ops@app.test", "to": []string{"z@example.test"}, "text": "x"},
		"Idempotency-Key", "order-1234")
	if st != 202 || string(after) != string(first) {
		t.Fatalf("after restart: %d %s, want %s", st, after, first)
	}
	if n := len(h.messages()); n != 1 {
		t.Fatalf("%d messages queued, want 1", n)
	}
	other := h.send(sendKey, map[string]any{"from": "ops@app.test", "to": []string{"b@example.test"}, "text": "once"}, "Idempotency-Key", "order-1234")
	var firstRes SendResult
	json.Unmarshal(first, &firstRes) //nolint:errcheck // checked by the 202 above
	if other.ID == firstRes.ID || len(h.messages()) != 2 {
		t.Fatalf("another API key's request was taken for a retry")
	}
	// 24 hours later the key is free again.
	h.clk.Advance(24*time.Hour + time.Second)
	if st, _, b := h.do("POST", "/v1/messages", adminKey, msg, "Idempotency-Key", "order-1234"); st != 202 || string(b) == string(first) {
		t.Fatalf("after 24h: %d %s", st, b)
	}
}

// Concurrent retries with one key still queue one message.
func TestIdempotencyKeyConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	msg := map[string]any{"from": "ops@app.test", "to": []string{"b@example.test"}, "text": "once"}
	bodies := make(chan string, 10)
	for range 10 {
		go func() {
			_, _, b := h.do("POST", "/v1/messages", adminKey, msg, "Idempotency-Key", "same")
			bodies <- string(b)
		}()
	}
	first := <-bodies
	for range 9 {
		if b := <-bodies; b != first {
			t.Errorf("answers differ: %s vs %s", b, first)
		}
	}
	if n := len(h.messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestSendRaw(t *testing.T) {
	h := newHarness(t)
	msg := "From: app@app.test\nTo: x@example.test\nSubject: raw\nX-Mtaq-Tag: raw-tag\n\nbody\n"
	st, _, body := h.do("POST", "/v1/messages/raw?from=app@app.test&to=x@example.test&to=y@example.test", sendKey, msg,
		"Content-Type", "message/rfc822")
	if st != 202 {
		t.Fatalf("%d %s", st, body)
	}
	var r SendResult
	json.Unmarshal(body, &r) //nolint:errcheck // checked below
	m, err := h.store.Message(context.Background(), r.ID)
	if err != nil || len(m.Recipients) != 2 || m.Tag != "raw-tag" || m.Subject != "raw" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, c := range []struct {
		path, ct string
		status   int
		detail   string
	}{
		{"/v1/messages/raw?from=a@app.test&to=x@example.test", "text/plain", 415, "Content-Type: want message/rfc822"},
		{"/v1/messages/raw?from=a@app.test", "message/rfc822", 400, "to: at least one recipient"},
		{"/v1/messages/raw?from=a@app.test&to=x@example.test&to=bad", "message/rfc822", 400, "to[1]: not an address"},
		{"/v1/messages/raw?from=nope&to=x@example.test", "message/rfc822", 400, "from: not an address"},
		{"/v1/messages/raw?from=a@app.test&rcpt=x@example.test", "message/rfc822", 400, "rcpt: unknown query parameter"},
	} {
		st, hd, body := h.do("POST", c.path, sendKey, msg, "Content-Type", c.ct)
		if p := h.problem(hd, body); st != c.status || !strings.HasPrefix(p.Detail, c.detail) {
			t.Errorf("%s (%s): %d %q, want %d %q", c.path, c.ct, st, p.Detail, c.status, c.detail)
		}
	}
	st, hd, body := h.do("POST", "/v1/messages/raw?from=a@app.test&to=x@example.test", sendKey, strings.Repeat("x", 1<<20+1),
		"Content-Type", "message/rfc822")
	if p := h.problem(hd, body); st != 413 || p.SMTPCode != "552 5.3.4" {
		t.Errorf("over max_message_bytes: %d %+v", st, p)
	}
}

func TestSendBatch(t *testing.T) {
	h := newHarness(t)
	good := map[string]any{"from": "a@app.test", "to": []string{"b@example.test"}, "text": "hi"}
	bad := map[string]any{"from": "a@app.test", "to": []string{"b@example.test", "oops"}, "text": "hi"}
	st, _, body := h.do("POST", "/v1/messages/batch", sendKey, map[string]any{"messages": []any{good, bad, good}},
		"Idempotency-Key", "batch-1")
	if st != 202 {
		t.Fatalf("%d %s", st, body)
	}
	var res BatchResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 || res.Results[0].SendResult == nil || res.Results[2].SendResult == nil ||
		res.Results[1].Error == nil || res.Results[1].Error.Detail != "messages[1].to[1]: not an address" {
		t.Fatalf("results %s", body)
	}
	// A retry re-sends nothing that was queued.
	_, _, again := h.do("POST", "/v1/messages/batch", sendKey, map[string]any{"messages": []any{good, bad, good}},
		"Idempotency-Key", "batch-1")
	var res2 BatchResult
	json.Unmarshal(again, &res2) //nolint:errcheck // compared below
	if res2.Results[0].ID != res.Results[0].ID || res2.Results[2].ID != res.Results[2].ID || len(h.messages()) != 2 {
		t.Fatalf("retry queued again: %s vs %s", again, body)
	}
	many := make([]any, MaxBatch+1)
	for i := range many {
		many[i] = good
	}
	st, hd, body := h.do("POST", "/v1/messages/batch", sendKey, map[string]any{"messages": many})
	if p := h.problem(hd, body); st != 400 || p.Detail != "messages: 501 messages: at most 500 per batch" {
		t.Errorf("501 messages: %d %q", st, p.Detail)
	}
	st, hd, body = h.do("POST", "/v1/messages/batch", sendKey, map[string]any{"messages": []any{}})
	if p := h.problem(hd, body); st != 400 || p.Field != "messages" {
		t.Errorf("no messages: %d %q", st, p.Detail)
	}
}

// A suppressed recipient is reported rejected and recorded, not sent.
func TestSuppressedRecipientIsRejected(t *testing.T) {
	h := newHarness(t)
	st, _, body := h.do("POST", "/v1/suppressions", adminKey, map[string]any{"address": "gone@example.test", "reason": "unsubscribe"})
	if st != 201 {
		t.Fatalf("%d %s", st, body)
	}
	res := h.send(sendKey, map[string]any{"from": "a@app.test", "to": []string{"ok@example.test", "Gone@example.test"}, "text": "hi"})
	if res.Recipients[0].Status != "queued" || res.Recipients[1].Status != "rejected" || res.Recipients[1].Reason != "suppressed" {
		t.Fatalf("%+v", res.Recipients)
	}
	m, _ := h.store.Message(context.Background(), res.ID)
	if m.Recipients[1].State != queue.Rejected {
		t.Errorf("state %s", m.Recipients[1].State)
	}
	st, hd, body := h.do("POST", "/v1/messages", sendKey, map[string]any{"from": "a@app.test", "to": []string{"gone@example.test"}, "text": "hi"})
	if st != 202 {
		// record mode: queued with every recipient rejected, like SMTP
		t.Fatalf("all suppressed: %d %s %v", st, body, hd)
	}
}

func manyAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%d@example.test", i)
	}
	return out
}

// A key carries its user's dsn = false: the message is queued with no
// bounce messages, as SMTP AUTH as that user would.
func TestKeyCarriesDSNSetting(t *testing.T) {
	h := newHarness(t)
	narrow := h.send(narrowKey, map[string]any{"from": "app@narrow.test", "to": []string{"x@example.test"}, "text": "hi"})
	plain := h.send(sendKey, map[string]any{"from": "app@narrow.test", "to": []string{"x@example.test"}, "text": "hi"})
	for id, want := range map[string]bool{narrow.ID: true, plain.ID: false} {
		m, err := h.store.Message(context.Background(), id)
		if err != nil || m.NoDSN != want {
			t.Errorf("%s: NoDSN %v, want %v (%v)", id, m.NoDSN, want, err)
		}
	}
}
