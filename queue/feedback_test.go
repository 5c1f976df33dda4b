package queue

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// delivered enqueues a message for rcpts with the given headers and
// delivers every recipient; it returns the ID.
func (e *env) delivered(headers string, rcpts ...string) string {
	e.t.Helper()
	id := e.enqueue(msg(t0, rcpts...), headers+"\r\nbody\r\n")
	var ups []Update
	for i := range rcpts {
		ups = append(ups, Update{ID: id, Rcpt: i, State: Delivered, CountAttempt: true,
			Reply: reply(250, "2.0.0", "ok"), Attempt: attempt(time.Minute, "delivered", reply(250, "2.0.0", "ok"))})
	}
	e.ok(e.s.Apply(bg, ups))
	return id
}

func (e *env) feedback(f Feedback) FeedbackResult {
	e.t.Helper()
	if f.At.IsZero() {
		f.At = t0.Add(time.Hour)
	}
	res, err := e.s.ApplyFeedback(bg, f)
	e.ok(err)
	return res
}

func (e *env) eventsOf(kind string) []Event {
	e.t.Helper()
	evs, err := e.s.Events(bg, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []Event
	for _, ev := range evs {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func hardBounce() *Suppression { return &Suppression{Reason: "hard_bounce"} }

func TestAsyncBounceMovesDeliveredToBouncedOnce(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <a@x>\r\nFrom: App <app@example.org>", "Ann@example.com", "bob@example.com")
	f := Feedback{Key: "k1", Kind: FeedbackBounce, QueueID: id, Verified: true, Rcpt: "ann@EXAMPLE.com",
		Reply: reply(550, "5.1.1", "user unknown"), ReportingMTA: "gw.example.com", Class: "hard",
		Category: "user_unknown", Suppress: hardBounce()}
	res := e.feedback(f)
	if !res.Matched || res.Duplicate || !res.Suppressed {
		t.Fatalf("first report: %+v, want matched and suppressed", res)
	}
	m := e.message(id)
	if m.Recipients[0].State != Bounced || m.Recipients[1].State != Delivered {
		t.Fatalf("states %s, %s; want bounced, delivered", m.Recipients[0].State, m.Recipients[1].State)
	}
	tl, err := e.s.Timeline(bg, id, 0)
	if err != nil || len(tl) != 2 || tl[1].Stage != "async" || tl[1].MX != "gw.example.com" || tl[1].Reply.Code != 550 {
		t.Fatalf("timeline %+v (%v), want the delivery then the async bounce from gw.example.com", tl, err)
	}
	sup, _ := e.s.Suppression(bg, "ann@example.com", t0.Add(2*time.Hour))
	if sup == nil || sup.Reason != "hard_bounce" || sup.MessageID != id {
		t.Fatalf("suppression %+v", sup)
	}
	bounced := e.eventsOf(EventBounced)
	if len(bounced) != 1 || !bounced[0].Async || bounced[0].Rcpt != "ann@example.com" || bounced[0].From != "App <app@example.org>" {
		t.Fatalf("bounced events %+v, want one async for ann with the message's From", bounced)
	}

	// The same report again (the MTA retried after losing our 250).
	if res := e.feedback(f); !res.Duplicate {
		t.Fatalf("repeat: %+v, want duplicate", res)
	}
	if n := len(e.eventsOf(EventBounced)); n != 1 {
		t.Fatalf("%d bounced events after the repeat, want 1", n)
	}
	if sup, _ := e.s.Suppression(bg, "ann@example.com", t0.Add(2*time.Hour)); sup.Count != 1 {
		t.Fatalf("suppression count %d after the repeat, want 1", sup.Count)
	}
	recs, err := e.s.Feedbacks(bg, FeedbackFilter{})
	if err != nil || len(recs) != 1 || !recs[0].Matched {
		t.Fatalf("records %+v (%v), want one matched", recs, err)
	}
}

func TestFeedbackThatMatchesNothingChangesNothing(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <real@x>", "ann@example.com", "bob@example.com")
	queued := e.enqueue(msg(t0, "carl@example.com"), "Subject: x\r\n\r\nbody\r\n")
	cases := []struct {
		name string
		f    Feedback
		want string
	}{
		{"no message", Feedback{Rcpt: "ann@example.com"}, NoMatchNoMessage},
		{"valid token, not a recipient", Feedback{QueueID: id, Verified: true, Rcpt: "eve@example.com"}, NoMatchNotRecipient},
		{"redacted, several recipients", Feedback{QueueID: id, Verified: true}, NoMatchNoRecipient},
		{"never sent", Feedback{QueueID: queued, Verified: true, Rcpt: "carl@example.com"}, NoMatchNeverSent},
		{"unverified, wrong Message-ID", Feedback{QueueID: id, MessageID: "forged@x", Rcpt: "ann@example.com"}, NoMatchMessageID},
		{"unverified, no Message-ID", Feedback{QueueID: id, Rcpt: "ann@example.com"}, NoMatchMessageID},
		{"unknown message, unverified", Feedback{QueueID: "01JZZZZZZZZZZZZZ", Rcpt: "ann@example.com", MessageID: "real@x"}, NoMatchUnknown},
		{"purged, no recipient named", Feedback{QueueID: "01JZZZZZZZZZZZZZ", Verified: true}, NoMatchUnknown},
	}
	for i, c := range cases {
		c.f.Key, c.f.Kind, c.f.Suppress = string(rune('a'+i)), FeedbackComplaint, &Suppression{Reason: "complaint"}
		res := e.feedback(c.f)
		if res.Matched || res.Reason != c.want || res.Suppressed {
			t.Errorf("%s: %+v, want unmatched: %s", c.name, res, c.want)
		}
	}
	if n, _ := e.s.SuppressionCount(bg); n != 0 {
		t.Fatalf("%d suppressions, want 0", n)
	}
	for _, k := range []string{EventComplained, EventSuppressed} {
		if evs := e.eventsOf(k); len(evs) != 0 {
			t.Fatalf("%s events %+v, want none", k, evs)
		}
	}
	recs, _ := e.s.Feedbacks(bg, FeedbackFilter{Unmatched: true})
	if len(recs) != len(cases) {
		t.Fatalf("%d unmatched records, want %d", len(recs), len(cases))
	}
}

// A destination that expanded an alias names the expanded address as the
// Final-Recipient and the one we sent to as the Original-Recipient.
func TestBounceMatchesThroughOriginalRecipient(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <al@x>", "sales@example.com", "ops@example.com")
	res := e.feedback(Feedback{Key: "o", Kind: FeedbackBounce, QueueID: id, Verified: true,
		Rcpt: "jane.roe@staff.example.com", OriginalRcpt: "Sales@example.com", Reply: reply(550, "5.1.1", "no such user"),
		Suppress: hardBounce()})
	if !res.Matched || res.Rcpt != "sales@example.com" {
		t.Fatalf("%+v, want matched to sales@example.com", res)
	}
	if m := e.message(id); m.Recipients[0].State != Bounced || m.Recipients[1].State != Delivered {
		t.Fatalf("states %s, %s", m.Recipients[0].State, m.Recipients[1].State)
	}
	if sup, _ := e.s.Suppression(bg, "sales@example.com", t0.Add(2*time.Hour)); sup == nil {
		t.Fatal("the address mail went to is not suppressed")
	}
	if sup, _ := e.s.Suppression(bg, "jane.roe@staff.example.com", t0.Add(2*time.Hour)); sup != nil {
		t.Fatal("the expanded address was suppressed; mtaq never mails it")
	}
}

func TestComplaintWithRedactedRecipientMatchesSingleRecipientMessage(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <one@x>", "dana@example.com")
	res := e.feedback(Feedback{Key: "c", Kind: FeedbackComplaint, QueueID: id, MessageID: "<one@x>",
		FeedbackType: "abuse", Suppress: &Suppression{Reason: "complaint"}})
	if !res.Matched || res.Rcpt != "dana@example.com" {
		t.Fatalf("%+v, want matched to dana", res)
	}
	if m := e.message(id); m.Recipients[0].State != Delivered {
		t.Fatalf("a complaint changed the state to %s", m.Recipients[0].State)
	}
	c := e.eventsOf(EventComplained)
	if len(c) != 1 || c[0].FeedbackType != "abuse" || c[0].Rcpt != "dana@example.com" || !c[0].Suppressed {
		t.Fatalf("complained events %+v", c)
	}
	if sup, _ := e.s.Suppression(bg, "dana@example.com", t0.AddDate(10, 0, 0)); sup == nil || sup.Reason != "complaint" {
		t.Fatalf("suppression %+v, want complaint without expiry", sup)
	}
}

func TestDelayReportIsAnEventOnly(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <d@x>", "erin@example.com")
	res := e.feedback(Feedback{Key: "d", Kind: FeedbackDelay, QueueID: id, Verified: true, Rcpt: "erin@example.com",
		Reply: reply(451, "4.4.1", "no answer")})
	if !res.Matched {
		t.Fatalf("%+v", res)
	}
	if m := e.message(id); m.Recipients[0].State != Delivered {
		t.Fatalf("state %s", m.Recipients[0].State)
	}
	if tl, _ := e.s.Timeline(bg, id, 0); len(tl) != 1 {
		t.Fatalf("timeline has %d entries, want only the delivery", len(tl))
	}
	if d := e.eventsOf(EventDelayed); len(d) != 1 || !d[0].Async {
		t.Fatalf("delayed events %+v", d)
	}
}

func TestVerifiedReportForPurgedMessageStillSuppresses(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <p@x>", "fay@example.com")
	if n, err := e.s.Purge(bg, t0.Add(24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	res := e.feedback(Feedback{Key: "p", Kind: FeedbackBounce, QueueID: id, Verified: true, Rcpt: "fay@example.com",
		Reply: reply(550, "5.1.1", "no such user"), Suppress: hardBounce(), At: t0.Add(48 * time.Hour)})
	if !res.Matched || !res.Suppressed {
		t.Fatalf("%+v, want matched and suppressed", res)
	}
	if sup, _ := e.s.Suppression(bg, "fay@example.com", t0.Add(49*time.Hour)); sup == nil || sup.MessageID != id {
		t.Fatalf("suppression %+v", sup)
	}
	if keys := e.keysWith(id); len(keys) != 0 {
		t.Fatalf("the purged message came back: %v", keys)
	}
}

func TestTrimFeedbackForgetsOldReports(t *testing.T) {
	e := newEnv(t)
	id := e.delivered("Message-ID: <t@x>", "gil@example.com")
	f := Feedback{Key: "t", Kind: FeedbackDelay, QueueID: id, Verified: true, Rcpt: "gil@example.com"}
	e.feedback(f)
	if n, err := e.s.TrimFeedback(bg, t0.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("trim before the report: %d, %v", n, err)
	}
	if n, err := e.s.TrimFeedback(bg, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("trim: %d, %v", n, err)
	}
	if recs, _ := e.s.Feedbacks(bg, FeedbackFilter{}); len(recs) != 0 {
		t.Fatalf("records left: %+v", recs)
	}
	if res := e.feedback(f); res.Duplicate {
		t.Fatal("a trimmed key still counts as applied")
	}
}

// TestCountBySender: delivered recipients and matched complaints per
// sending domain (From's, else the envelope sender's) in the window.
func TestCountBySender(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, e.delivered(fmt.Sprintf("Message-ID: <%d@x>\r\nFrom: News <news@Brand.example>", i),
			fmt.Sprintf("r%d@example.com", i)))
	}
	e.delivered("Message-ID: <plain@x>", "s@example.com") // no From: the envelope's example.org
	e.feedback(Feedback{Key: "c1", Kind: FeedbackComplaint, QueueID: ids[0], Verified: true, Rcpt: "r0@example.com",
		Suppress: &Suppression{Reason: "complaint"}})
	e.feedback(Feedback{Key: "c2", Kind: FeedbackComplaint, QueueID: ids[1], Verified: true, Rcpt: "nobody@example.com"})
	got, err := e.s.CountBySender(bg, t0, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []SenderCounts{{Domain: "brand.example", Delivered: 4, Complaints: 1}, {Domain: "example.org", Delivered: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("counts %+v, want %+v (the unmatched complaint does not count)", got, want)
	}
	if got, _ := e.s.CountBySender(bg, t0.Add(2*time.Hour), 72*time.Hour); len(got) != 0 {
		t.Fatalf("a window after everything counts %+v", got)
	}
}
