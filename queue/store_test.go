package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnqueueMessageRoundTrip(t *testing.T) {
	e := newEnv(t)
	m := msg(t0, "Alice@Example.COM", "bob@other.test")
	m.Recipients[1].NextAttempt = t0.Add(time.Minute)
	id := e.enqueue(m, "Subject: hi\r\n\r\nbody\r\n")

	got := e.message(id)
	if got.ID != id || got.Sender != "app@example.org" || !got.Arrived.Equal(t0) ||
		got.Size != int64(len("Subject: hi\r\n\r\nbody\r\n")) || got.ClientAddr != "127.0.0.1:5000" || got.Helo != "app" {
		t.Fatalf("envelope: %+v", got)
	}
	if len(got.Recipients) != 2 {
		t.Fatalf("recipients: %+v", got.Recipients)
	}
	r0, r1 := got.Recipients[0], got.Recipients[1]
	if r0.Index != 0 || r0.Address != "Alice@Example.COM" || r0.Domain != "example.com" ||
		r0.State != Queued || !r0.NextAttempt.Equal(t0) || !r0.Updated.Equal(t0) {
		t.Errorf("recipient 0: %+v", r0)
	}
	if r1.Index != 1 || r1.Domain != "other.test" || !r1.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Errorf("recipient 1: %+v", r1)
	}
	body, err := e.s.Body(bg, id)
	if err != nil || string(body) != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("body = %q, %v", body, err)
	}
	if got := e.due(t0.Add(time.Minute)); !slices.Equal(got, []string{id + "/0@0s", id + "/1@1m0s"}) {
		t.Errorf("due = %v", got)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	if err := e.s.Enqueue(bg, msg(t0), nil); err == nil {
		t.Error("no recipients: want error")
	}
	if err := e.s.Enqueue(bg, msg(time.Time{}, "a@x.test"), nil); err == nil {
		t.Error("no arrival time: want error")
	}
	bad := msg(t0, "a@x.test")
	bad.ID = "a/b"
	if err := e.s.Enqueue(bg, bad, nil); err == nil {
		t.Error("id with '/': want error")
	}
	m := msg(t0, "a@x.test")
	m.ID = "fixed-id"
	e.enqueue(m, "x")
	dup := msg(t0, "b@x.test")
	dup.ID = "fixed-id"
	if err := e.s.Enqueue(bg, dup, nil); err == nil {
		t.Error("duplicate id: want error")
	}
	e.ok(nil)
	if _, err := e.s.Message(bg, "nope"); !isNotFound(err) {
		t.Errorf("missing message: %v", err)
	}
	if _, err := e.s.Body(bg, "nope"); !isNotFound(err) {
		t.Errorf("missing body: %v", err)
	}
}

func TestEnqueueAllRejectedIsFinalAtOnce(t *testing.T) {
	e := newEnv(t)
	m := msg(t0, "gone@x.test")
	m.Recipients[0].State = Rejected
	id := e.enqueue(m, "body")
	if _, err := e.s.Body(bg, id); !isNotFound(err) {
		t.Errorf("body of an all-rejected message kept: %v", err)
	}
	if d := e.due(t0.Add(time.Hour)); len(d) != 0 {
		t.Errorf("due = %v", d)
	}
	if r := e.message(id).Recipients[0]; r.State != Rejected || !r.NextAttempt.IsZero() {
		t.Errorf("recipient: %+v", r)
	}
	n, err := e.s.Purge(bg, t0.Add(time.Nanosecond))
	e.ok(err)
	if n != 1 {
		t.Errorf("purged %d, want 1", n)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 7 {
		m := msg(t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("u%d@d%d.test", i, i%2), "Same@Shared.test")
		ids = append(ids, e.enqueue(m, "b"))
	}
	e.ok(e.s.Apply(bg, []Update{{ID: ids[3], Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour)}}))

	list := func(f Filter) []string {
		t.Helper()
		ms, err := e.s.List(bg, f)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got := list(Filter{}); !slices.Equal(got, ids) {
		t.Errorf("all = %v, want %v (arrival order)", got, ids)
	}
	if got := list(Filter{Domain: "D1.test"}); !slices.Equal(got, []string{ids[1], ids[3], ids[5]}) {
		t.Errorf("domain = %v", got)
	}
	if got := list(Filter{State: Deferred}); !slices.Equal(got, []string{ids[3]}) {
		t.Errorf("state = %v", got)
	}
	if got := list(Filter{State: Deferred, Domain: "shared.test"}); len(got) != 0 {
		t.Errorf("state+domain must match one recipient: %v", got)
	}
	if got := list(Filter{Rcpt: "U4@D0.TEST"}); !slices.Equal(got, []string{ids[4]}) {
		t.Errorf("rcpt = %v", got)
	}
	var pages []string
	for after := ""; ; {
		page := list(Filter{Rcpt: "same@shared.test", After: after, Limit: 3})
		if len(page) == 0 {
			break
		}
		pages = append(pages, strings.Join(page, ","))
		after = page[len(page)-1]
	}
	want := []string{strings.Join(ids[:3], ","), strings.Join(ids[3:6], ","), ids[6]}
	if !slices.Equal(pages, want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
}

// TestOpenReadOnly: a read-only open (mtaq queue ls --offline) is refused
// with ErrLocked while another open holds the store, reads what was
// committed once it is closed, and never creates a missing store.
func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := bg
	m := msg(t0, "a@x.test")
	if err := s.Enqueue(ctx, m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{ReadOnly: true}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open beside a writer: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	got, err := ro.Message(ctx, m.ID)
	if err != nil || got.Recipients[0].Address != "a@x.test" {
		t.Fatalf("read-only Message: %+v, %v", got, err)
	}
	if err := ro.Enqueue(ctx, msg(t0, "b@x.test"), []byte("x\r\n")); err == nil {
		t.Fatal("a read-only store took a message")
	}
	missing := filepath.Join(dir, "nothing-here")
	if _, err := Open(missing, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing store succeeded")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("read-only open created %s: %v", missing, err)
	}
}

// Newest first is the same listing backwards, paged with After, bounded
// by Since/Until; Scan stops a search after that many messages and
// Resume continues it without skipping or repeating one.
func TestListPageNewestAndScan(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 9 {
		m := msg(t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("u%d@d.test", i))
		if i%3 == 0 {
			m.Tag = "every-third"
		}
		ids = append(ids, e.enqueue(m, "b"))
	}
	page := func(f Filter) ([]string, string) {
		t.Helper()
		p, err := e.s.ListPage(bg, f)
		if err != nil {
			t.Fatalf("list %+v: %v", f, err)
		}
		var out []string
		for _, m := range p.Messages {
			out = append(out, m.ID)
		}
		return out, p.Resume
	}
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	if got, resume := page(Filter{Newest: true}); !slices.Equal(got, rev) || resume != "" {
		t.Errorf("newest = %v (resume %q), want %v", got, resume, rev)
	}
	if got, resume := page(Filter{Newest: true, Limit: 4}); !slices.Equal(got, rev[:4]) || resume != rev[3] {
		t.Errorf("newest page 1 = %v resume %q", got, resume)
	}
	if got, _ := page(Filter{Newest: true, Limit: 4, After: rev[3]}); !slices.Equal(got, rev[4:8]) {
		t.Errorf("newest page 2 = %v, want %v", got, rev[4:8])
	}
	if got, _ := page(Filter{Newest: true, Since: t0.Add(2 * time.Second), Until: t0.Add(5 * time.Second)}); !slices.Equal(got, []string{ids[4], ids[3], ids[2]}) {
		t.Errorf("newest in [2s, 5s) = %v", got)
	}
	// A tag search examining 2 messages a request: the tagged ones are 6, 3, 0.
	var found []string
	requests := 0
	for after := ""; ; {
		got, resume := page(Filter{Newest: true, Tag: "every-third", Scan: 2, After: after})
		requests++
		found = append(found, got...)
		if resume == "" {
			break
		}
		after = resume
	}
	if !slices.Equal(found, []string{ids[6], ids[3], ids[0]}) || requests != 5 {
		t.Errorf("scan-bounded tag search found %v in %d requests, want %v in 5", found, requests, []string{ids[6], ids[3], ids[0]})
	}
	// The byte prefilter never hides a match: case-folded fields, values
	// JSON escapes, non-ASCII ones.
	odd := msg(t0.Add(time.Minute), "Zoë.O'Neil+x@Ünï.test", "MiXeD@Case.TEST")
	odd.Sender, odd.Tag = "Ops<Team>@Example.ORG", `a"b\c&<`
	oddID := e.enqueue(odd, "b")
	for _, f := range []Filter{{Rcpt: "mixed@case.test"}, {Domain: "CASE.test"}, {Rcpt: "zoë.o'neil+x@ünï.test"},
		{Sender: "ops<team>@example.org"}, {Tag: `a"b\c&<`}, {State: Queued, Rcpt: "MIXED@case.test"}} {
		f.Newest = true
		if got, _ := page(f); len(got) != 1 || got[0] != oddID {
			t.Errorf("%+v found %v, want %s", f, got, oddID)
		}
	}
	if got, _ := page(Filter{State: Deferred, Rcpt: "mixed@case.test"}); len(got) != 0 {
		t.Errorf("state and recipient must hold for one recipient: %v", got)
	}
	if got, resume := page(Filter{Rcpt: "u7@d.test", Scan: 3}); len(got) != 0 || resume != ids[2] {
		t.Errorf("oldest-first scan of 3 = %v, resume %q, want none and %s", got, resume, ids[2])
	}
}

// TestListRecipientSearchBothWays: a recipient search reads the recipient
// records in step with the messages, in either direction, so a match in
// any recipient of any message is found, whatever matched (or stopped the
// walk early) in the messages before it.
func TestListRecipientSearchBothWays(t *testing.T) {
	e := newEnv(t)
	var ids []string
	want := map[string][]string{} // domain → ids of messages with a recipient there, oldest first
	for i := range 30 {
		var rcpts []string
		for k := range i%4 + 1 { // 1 to 4 recipients, at d0 … d3
			rcpts = append(rcpts, fmt.Sprintf("r%d-%d@d%d.test", i, k, (i+k)%5))
		}
		id := e.enqueue(msg(t0.Add(time.Duration(i)*time.Second), rcpts...), "b")
		ids = append(ids, id)
		for k := range rcpts {
			d := fmt.Sprintf("d%d.test", (i+k)%5)
			if l := want[d]; len(l) == 0 || l[len(l)-1] != id {
				want[d] = append(want[d], id)
			}
		}
	}
	for _, newest := range []bool{false, true} {
		for d, w := range want {
			if newest {
				w = slices.Clone(w)
				slices.Reverse(w)
			}
			var got []string
			for after := ""; ; { // pages of at most 4 messages examined
				p, err := e.s.ListPage(bg, Filter{Domain: d, Newest: newest, Scan: 4, After: after})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range p.Messages {
					got = append(got, m.ID)
				}
				if p.Resume == "" {
					break
				}
				after = p.Resume
			}
			if !slices.Equal(got, w) {
				t.Errorf("newest=%v domain %s: %v, want %v", newest, d, got, w)
			}
		}
		// The last recipient of one message, in one search over all.
		p, err := e.s.ListPage(bg, Filter{Rcpt: "r27-3@d0.test", Newest: newest})
		if err != nil || len(p.Messages) != 1 || p.Messages[0].ID != ids[27] {
			t.Errorf("newest=%v rcpt search: %v, %v", newest, p, err)
		}
	}
}

// Message reads a message of up to pointRcpts recipients with point
// lookups and a larger one with a scan: both give every recipient, in
// index order, with what Apply last wrote.
func TestMessageRecipientsByLookupAndScan(t *testing.T) {
	e := newEnv(t)
	for _, n := range []int{1, pointRcpts, pointRcpts + 1, 3 * pointRcpts} {
		var rcpts []string
		for i := range n {
			rcpts = append(rcpts, fmt.Sprintf("r%d@d%d.test", i, i%3))
		}
		id := e.enqueue(msg(t0, rcpts...), "body")
		last := n - 1
		e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: last, State: Delivered, Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}}))
		m := e.message(id)
		if len(m.Recipients) != n {
			t.Fatalf("%d recipients: Message has %d", n, len(m.Recipients))
		}
		for i, r := range m.Recipients {
			if r.Index != i || r.Address != rcpts[i] {
				t.Fatalf("%d recipients: #%d is %d %s, want %d %s", n, i, r.Index, r.Address, i, rcpts[i])
			}
			want := Queued
			if i == last {
				want = Delivered
			}
			if r.State != want {
				t.Fatalf("%d recipients: #%d is %s, want %s", n, i, r.State, want)
			}
		}
	}
}
