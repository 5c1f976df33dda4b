package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// TestMessagePageShowsTLSPolicy: an attempt's TLS policy and MTA-STS id
// appear under its TLS cell.
func TestMessagePageShowsTLSPolicy(t *testing.T) {
	c, clk, s := newConsoleStore(t, false)
	m := &queue.Message{Sender: "app@sender.test", Arrived: clk.Now(), Recipients: []queue.Recipient{{Address: "x@example.net"}}}
	if err := s.Enqueue(t.Context(), m, []byte("Subject: s\r\n\r\nb\r\n")); err != nil {
		t.Fatal(err)
	}
	r := &queue.Reply{Enhanced: "4.7.5", Text: "MTA-STS policy (id 42): mx.evil.test not in policy"}
	if err := s.Apply(t.Context(), []queue.Update{{ID: m.ID, Rcpt: 0, State: queue.Deferred, NextAttempt: clk.Now().Add(time.Hour),
		CountAttempt: true, Reply: r, Attempt: &queue.Attempt{At: clk.Now(), Stage: "resolve", Reply: *r, Decision: "deferred",
			TLSPolicy: "mta-sts", TLSPolicyID: "42"}}}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/ui/messages/"+m.ID, nil)
	req.AddCookie(signIn(t, c))
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if body := rec.Body.String(); !strings.Contains(body, "<small>policy: mta-sts (id 42)</small>") {
		t.Errorf("message page lacks the TLS policy:\n%s", body)
	}
}
