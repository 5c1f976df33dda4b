package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	bg = context.Background()
)

type fixture struct {
	t     testing.TB
	store *queue.PebbleStore
	clk   *clock.Fake
	svc   *Service
	woken int
}

func (f *fixture) Wake() { f.woken++ }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, clk: clock.NewFake(t0)}
	s, err := queue.Open("db", queue.Options{FS: vfs.NewMem(), Clock: f.clk, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.store = s
	f.svc = NewService(Options{Store: s, Scheduler: f, Clock: f.clk, TTLs: policy.TTLs{HardBounce: 168 * time.Hour}})
	return f
}

// check fails on err and then on any broken queue invariant.
func (f *fixture) check(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.Check(bg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) enqueue(rcpts ...string) string {
	f.t.Helper()
	m := &queue.Message{Sender: "app@sender.test", Arrived: f.clk.Now()}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Address: r})
	}
	body := "From: app@sender.test\r\nTo: " + strings.Join(rcpts, ", ") + "\r\nSubject: a long\r\n subject\r\n\r\nhello\r\n"
	f.check(f.store.Enqueue(bg, m, []byte(body)))
	return m.ID
}

func (f *fixture) defer_(id string, rcpt int, text string) {
	f.t.Helper()
	r := &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: text}
	f.check(f.store.Apply(bg, []queue.Update{{ID: id, Rcpt: rcpt, State: queue.Deferred,
		NextAttempt: f.clk.Now().Add(time.Hour), CountAttempt: true, Reply: r,
		Attempt: &queue.Attempt{At: f.clk.Now(), MX: "mx.test", Reply: *r, Decision: "deferred"}}}))
}

func (f *fixture) act(a QueueAction) *ActionResult {
	f.t.Helper()
	res, err := f.svc.QueueAction(bg, a)
	f.check(err)
	return res
}

func TestListAndShow(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue("a@x.test", "b@y.test")
	f.clk.Advance(time.Second)
	b := f.enqueue("c@y.test")
	f.defer_(a, 1, "greylisted")

	page, err := f.svc.ListQueue(bg, QueueFilter{State: "deferred"})
	f.check(err)
	if len(page.Messages) != 1 || page.Messages[0].ID != a || page.Next != "" {
		t.Fatalf("deferred page %+v", page)
	}
	r := page.Messages[0].Recipients[1]
	if r.State != "deferred" || r.Attempts != 1 || r.NextAttempt == nil || r.LastReply.Text != "greylisted" {
		t.Fatalf("recipient %+v", r)
	}
	page, _ = f.svc.ListQueue(bg, QueueFilter{Limit: 1})
	if len(page.Messages) != 1 || page.Next != a {
		t.Fatalf("first page %+v", page)
	}
	page, _ = f.svc.ListQueue(bg, QueueFilter{Limit: 1, After: page.Next})
	if len(page.Messages) != 1 || page.Messages[0].ID != b {
		t.Fatalf("second page %+v", page)
	}
	if _, err := f.svc.ListQueue(bg, QueueFilter{State: "lost"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown state: %v", err)
	}

	d, err := f.svc.ShowMessage(bg, a)
	f.check(err)
	want := []Header{{"From", "app@sender.test"}, {"To", "a@x.test, b@y.test"}, {"Subject", "a long subject"}}
	if !slices.Equal(d.Headers, want) || len(d.Recipients[1].Timeline) != 1 || len(d.Recipients[0].Timeline) != 0 {
		t.Fatalf("detail %+v", d)
	}
	_, err = f.svc.ShowMessage(bg, "0000000000000000")
	if !errors.Is(err, ErrNoMessage) || err.Error() != "no message 0000000000000000 in the queue" {
		t.Fatalf("unknown message: %v", err)
	}
}

func TestQueueActions(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue("a@x.test", "b@y.test")
	b := f.enqueue("c@y.test")
	c := f.enqueue("d@z.test")

	if res := f.act(QueueAction{Action: "hold", Domain: "Y.TEST"}); res.Messages != 2 || res.Recipients != 2 {
		t.Fatalf("hold --domain: %+v", res)
	}
	if res := f.act(QueueAction{Action: "release", All: true}); res.Messages != 2 || res.Recipients != 2 || f.woken != 1 {
		t.Fatalf("release --all: %+v, woken %d", res, f.woken)
	}
	if res := f.act(QueueAction{Action: "bounce", ID: c}); res.Recipients != 1 {
		t.Fatalf("bounce: %+v", res)
	}
	if res := f.act(QueueAction{Action: "delete", ID: b}); res.Recipients != 1 {
		t.Fatalf("delete: %+v", res)
	}
	f.defer_(a, 0, "try later")
	f.clk.Advance(time.Minute)
	res, err := f.svc.Flush(bg)
	f.check(err)
	if res.Recipients != 2 || f.woken != 2 { // the deferred one and its queued sibling
		t.Fatalf("flush: %+v, woken %d", res, f.woken)
	}
	m, _ := f.store.Message(bg, a)
	if !m.Recipients[0].NextAttempt.Equal(f.clk.Now()) || m.Recipients[0].Attempts != 1 {
		t.Fatalf("after flush %+v", m.Recipients[0])
	}
	for _, bad := range []QueueAction{{Action: "hold"}, {Action: "hold", ID: a, All: true}, {Action: "freeze", ID: a}} {
		if _, err := f.svc.QueueAction(bg, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, err := f.svc.QueueAction(bg, QueueAction{Action: "hold", ID: "NOPE"}); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("hold NOPE: %v", err)
	}
}

func TestBulkActionPages(t *testing.T) {
	f := newFixture(t)
	for i := range bulkPage*2 + 3 {
		m := &queue.Message{Sender: "app@sender.test", Arrived: t0, Recipients: []queue.Recipient{{Address: fmt.Sprintf("r%d@x.test", i)}}}
		if err := f.store.Enqueue(bg, m, []byte("body")); err != nil {
			t.Fatal(err)
		}
	}
	if res := f.act(QueueAction{Action: "hold", All: true}); res.Messages != bulkPage*2+3 {
		t.Fatalf("hold --all: %+v", res)
	}
}

func TestSuppressions(t *testing.T) {
	f := newFixture(t)
	e, err := f.svc.AddSuppression(bg, SuppressionAdd{Address: "<User@Example.COM>"})
	f.check(err)
	if e.Address != "user@example.com" || e.Reason != "manual" || e.Expires != nil || !e.Active {
		t.Fatalf("manual: %+v", e)
	}
	e, _ = f.svc.AddSuppression(bg, SuppressionAdd{Address: "hb@example.com", Reason: "hard_bounce"})
	if e.Expires == nil || !e.Expires.Equal(t0.Add(168*time.Hour)) {
		t.Fatalf("hard_bounce takes the configured TTL: %+v", e)
	}
	e, _ = f.svc.AddSuppression(bg, SuppressionAdd{Address: "tmp@example.com", Reason: "complaint", TTL: time.Hour})
	if e.Expires == nil || !e.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("--ttl: %+v", e)
	}
	for _, bad := range []SuppressionAdd{{Address: "no-at"}, {Address: "a b@x.test"}, {Address: "a@x.test", Reason: "angry"}} {
		if _, err := f.svc.AddSuppression(bg, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	f.clk.Advance(2 * time.Hour)
	e, err = f.svc.ShowSuppression(bg, "TMP@example.com")
	if err != nil || e.Active {
		t.Fatalf("expired entry shown inactive: %+v %v", e, err)
	}
	page, _ := f.svc.ListSuppressions(bg, SuppressionFilter{Reason: "hard_bounce"})
	if len(page.Entries) != 1 || page.Entries[0].Address != "hb@example.com" {
		t.Fatalf("by reason: %+v", page)
	}
	page, _ = f.svc.ListSuppressions(bg, SuppressionFilter{Limit: 2})
	if len(page.Entries) != 2 || page.Next != "tmp@example.com" {
		t.Fatalf("page: %+v", page)
	}
	f.check(f.svc.RemoveSuppression(bg, "User@example.com"))
	if err := f.svc.RemoveSuppression(bg, "user@example.com"); !errors.Is(err, ErrNoSuppression) || err.Error() != "user@example.com is not suppressed" {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestImportExport(t *testing.T) {
	f := newFixture(t)
	var in bytes.Buffer
	in.WriteString("address,reason,expires\n")
	for i := range 12000 {
		switch i {
		case 7:
			in.WriteString("not-an-address\n")
		case 11000:
			in.WriteString("x@y.test,angry\n")
		default:
			fmt.Fprintf(&in, "u%d@example.com,unsubscribe\n", i)
		}
	}
	in.WriteString("ttl@example.com,complaint,24h\nat@example.com,manual,2030-01-01T00:00:00Z\n")
	var calls []int
	res, err := f.svc.ImportSuppressions(bg, &in, func(n int) { calls = append(calls, n) })
	f.check(err)
	if res.Added != 12000 || res.Skipped != 2 || len(res.Errors) != 2 ||
		!strings.HasPrefix(res.Errors[0], "line 9: bad address") || !strings.HasPrefix(res.Errors[1], "line 11002: unknown reason") {
		t.Fatalf("import: %+v", res)
	}
	if !slices.Equal(calls, []int{10000}) {
		t.Fatalf("progress calls %v", calls)
	}
	var out bytes.Buffer
	f.check(f.svc.ExportSuppressions(bg, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 12001 || lines[0] != strings.Join(csvHeader, ",") || !strings.Contains(out.String(), "ttl@example.com,complaint,2026-03-02T09:00:00Z,") {
		t.Fatalf("export: %d lines, head %q", len(lines), lines[:2])
	}

	// Round trip into an empty store: same entries, same expiries.
	g := newFixture(t)
	res, err = g.svc.ImportSuppressions(bg, strings.NewReader(out.String()), nil)
	g.check(err)
	var again bytes.Buffer
	g.check(g.svc.ExportSuppressions(bg, &again))
	if res.Added != 12000 || res.Skipped != 0 || again.String() != out.String() {
		t.Fatalf("round trip: %+v, equal=%v", res, again.String() == out.String())
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t)
	a := f.enqueue("a@x.test", "b@y.test", "c@y.test")
	f.defer_(a, 1, "rate limited")
	ok := &queue.Reply{Code: 250, Text: "ok"}
	var ups []queue.Update
	for i := range 19 {
		id := f.enqueue(fmt.Sprintf("d%d@z.test", i))
		ups = append(ups, queue.Update{ID: id, Rcpt: 0, State: queue.Delivered, CountAttempt: true, Reply: ok,
			Attempt: &queue.Attempt{At: f.clk.Now(), Decision: "delivered"}})
	}
	bad := f.enqueue("gone@z.test")
	ups = append(ups, queue.Update{ID: bad, Rcpt: 0, State: queue.Bounced, CountAttempt: true,
		Reply: &queue.Reply{Code: 550}, Attempt: &queue.Attempt{At: f.clk.Now(), Decision: "bounced"}})
	f.check(f.store.Apply(bg, ups))
	_, err := f.svc.AddSuppression(bg, SuppressionAdd{Address: "gone@z.test"})
	f.check(err)

	st, err := f.svc.Stats(bg)
	f.check(err)
	if st.States["queued"] != 2 || st.States["deferred"] != 1 || st.States["delivered"] != 19 || st.States["bounced"] != 1 {
		t.Fatalf("states %v", st.States)
	}
	if st.Finished != 20 || st.HardBounceRate != 0.05 || st.Level != LevelCritical || st.Suppressions != 1 {
		t.Fatalf("rates %+v", st)
	}
	if len(st.Destinations) != 2 || st.Destinations[0].Domain != "y.test" || st.Destinations[0].LastCode != 451 ||
		st.Destinations[0].States["deferred"] != 1 {
		t.Fatalf("destinations %+v", st.Destinations)
	}
	f.clk.Advance(25 * time.Hour)
	if st, _ := f.svc.Stats(bg); st.Finished != 0 || st.Level != LevelOK {
		t.Fatalf("outside the window: %+v", st)
	}
}

// TestListQueueAcceptsEveryState: the state filter takes each state, and
// the refusal of an unknown one names them all.
func TestListQueueAcceptsEveryState(t *testing.T) {
	f := newFixture(t)
	for _, s := range queue.States() {
		if _, err := f.svc.ListQueue(bg, QueueFilter{State: string(s)}); err != nil {
			t.Errorf("state %s: %v", s, err)
		}
	}
	_, err := f.svc.ListQueue(bg, QueueFilter{State: "lost"})
	for _, s := range queue.States() {
		if err == nil || !strings.Contains(err.Error(), string(s)) {
			t.Errorf("refusal %v does not name %s", err, s)
		}
	}
}
