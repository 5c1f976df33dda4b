package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// pickyReceiver is an app's endpoint that refuses (400) every event whose
// recipient starts with x while picky is set, or answers status to all.
type pickyReceiver struct {
	secret string
	mu     sync.Mutex
	clk    clock.Clock
	picky  bool
	status int // answer to everything when set (e.g. 410)

	inflight, peak int
	requests       map[uint64]int      // seq → requests
	ok             map[uint64]int      // seq → 2xx answers
	order          map[string][]uint64 // recipient → seqs answered 2xx, in arrival order
	badSig         []string
	sample         *http.Request // one signed request, for the python verifier
	sampleBody     []byte
}

func newPicky(secret string) *pickyReceiver {
	return &pickyReceiver{secret: secret, picky: true, requests: map[uint64]int{}, ok: map[uint64]int{},
		order: map[string][]uint64{}}
}

func (p *pickyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.inflight++
	p.peak = max(p.peak, p.inflight)
	p.mu.Unlock()
	// Hold each request a moment so that concurrent ones overlap.
	time.Sleep(2 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	if err := webhook.VerifyAt(p.secret, r.Header, body, p.clk.Now(), webhook.DefaultTolerance); err != nil {
		p.badSig = append(p.badSig, err.Error())
	}
	var ev struct {
		Seq  uint64 `json:"seq"`
		Rcpt string `json:"recipient"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		p.badSig = append(p.badSig, err.Error())
		return
	}
	p.requests[ev.Seq]++
	switch {
	case p.status != 0:
		w.WriteHeader(p.status)
		return
	case p.picky && strings.HasPrefix(ev.Rcpt, "x"):
		http.Error(w, "recipient looks malformed", http.StatusBadRequest)
		return
	}
	p.ok[ev.Seq]++
	p.order[ev.Rcpt] = append(p.order[ev.Rcpt], ev.Seq)
	if p.sample == nil && r.Header.Get(webhook.HeaderSignature) != "" {
		p.sample, p.sampleBody = r.Clone(context.Background()), body
	}
}

func (p *pickyReceiver) set(f func(*pickyReceiver)) {
	p.mu.Lock()
	f(p)
	p.mu.Unlock()
}

// received reports whether every event of evs that match has had a 2xx.
func (p *pickyReceiver) received(evs []queue.Event, match func(queue.Event) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range evs {
		if match(e) && p.ok[e.Seq] == 0 {
			return false
		}
	}
	return true
}

// inOrder fails unless each recipient's events arrived in outbox order.
func (p *pickyReceiver) inOrder(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for rcpt, seqs := range p.order {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Errorf("%s: events arrived out of order: %v", rcpt, seqs)
			}
		}
	}
}

func isX(e queue.Event) bool { return strings.HasPrefix(e.Rcpt, "x") }

// pickyInternet is the fake Internet with one webhook, "app", to url,
// and ok.test delivering everything.
func pickyInternet(t *testing.T, rcv *pickyReceiver) (*internet, admin.API) {
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	var sock string
	n := newInternet(t, func(c *conf.Config) {
		sock = c.AdminSocketPath()
		c.DSN.Enabled = false // the outbox holds the test's own events only
		c.Webhooks = []conf.Webhook{{Name: "app", URL: srv.URL, Secret: rcv.secret, Concurrency: 4}}
	})
	rcv.set(func(p *pickyReceiver) { p.clk = n.clk })
	n.mx("ok.test", 10, "mx.ok.test", "127.0.0.2")
	return n, admin.NewClient(sock)
}

func (n *internet) events() []queue.Event {
	n.t.Helper()
	evs, err := n.d.store.Events(context.Background(), 0, 0)
	if err != nil {
		n.t.Fatal(err)
	}
	return evs
}

// TestWebhookPickyReceiver is issue 16's scenario: a receiver answering
// 400 to every event whose recipient starts with x. All other events
// arrive, in order per recipient, without waiting for the refused ones;
// those are retried 3 times and land in the dead-letter list; once the
// receiver is fixed, `webhooks retry app --dead` (the admin API the CLI
// calls) delivers them.
func TestWebhookPickyReceiver(t *testing.T) {
	rcv := newPicky("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	n, api := pickyInternet(t, rcv)
	ctx := context.Background()

	start := time.Now()
	var ids []string
	for i := range 30 {
		// Each recipient address gets several messages: its queued and
		// delivered events must stay in order across them.
		ids = append(ids, n.send("app@sender.test", fmt.Sprintf("a%d@ok.test", i%5), fmt.Sprintf("x%d@ok.test", i%3),
			fmt.Sprintf("b%d@ok.test", i%7)))
	}
	for _, id := range ids {
		for r := range 3 {
			n.wait(id, r, queue.Delivered)
		}
	}
	// An event is readable once its commit has settled, which can be just
	// after the state the waits above saw.
	var evs []queue.Event
	waitfor.True(t, "queued and delivered events for 90 recipients", func() bool {
		evs = n.events()
		return len(evs) == 30*3*2
	})
	waitfor.True(t, "every event of a and b recipients", func() bool {
		return rcv.received(evs, func(e queue.Event) bool { return !isX(e) })
	})
	others := time.Since(start)
	rcv.inOrder(t)

	// The fake clock has not moved: the refused events wait for their
	// 1s, 2s and 4s retries. Move it until they are all dead letters.
	var xs int
	for _, e := range evs {
		if isX(e) {
			xs++
		}
	}
	var hook admin.WebhookEntry
	waitfor.NoError(t, func() error {
		n.clk.Advance(time.Second)
		l, err := api.ListWebhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hook = l.Webhooks[0]; hook.DeadLetters != xs {
			return fmt.Errorf("%d dead letters, want %d: %+v", hook.DeadLetters, xs, hook)
		}
		return nil
	})
	if hook.Name != "app" || hook.LastStatus != 400 || !strings.Contains(hook.LastError, "400") || hook.Disabled {
		t.Errorf("webhooks ls: %+v", hook)
	}
	dead, err := n.d.store.DeadLetters(ctx, events.CursorName(hook.URL), 0, 0)
	if err != nil || len(dead) != xs {
		t.Fatalf("dead letters %d, %v", len(dead), err)
	}
	rcv.mu.Lock()
	for _, d := range dead {
		if !isX(d.Event) || d.Status != 400 || d.Attempts != 4 || rcv.requests[d.Event.Seq] != 4 {
			t.Errorf("dead letter %d (%s): status %d, %d attempts, %d requests", d.Event.Seq, d.Event.Rcpt,
				d.Status, d.Attempts, rcv.requests[d.Event.Seq])
		}
	}
	peak := rcv.peak
	rcv.mu.Unlock()
	if peak > 4 {
		t.Errorf("%d requests in flight at once, concurrency is 4", peak)
	}

	rcv.set(func(p *pickyReceiver) { p.picky = false }) // the receiver is fixed
	res, err := api.RetryWebhook(ctx, "app", true)
	if err != nil || res.Resent != xs || res.Delivered != xs || res.Failed != 0 {
		t.Fatalf("retry --dead: %+v, %v", res, err)
	}
	if !rcv.received(evs, func(queue.Event) bool { return true }) {
		t.Fatal("an event is still missing after retry --dead")
	}
	l, _ := api.ListWebhooks(ctx)
	if l.Webhooks[0].DeadLetters != 0 || l.Webhooks[0].Backlog != 0 {
		t.Fatalf("after retry: %+v", l.Webhooks[0])
	}
	rcv.inOrder(t)
	if len(rcv.badSig) != 0 {
		t.Fatalf("bad signatures: %v", rcv.badSig)
	}
	if err := n.d.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
	verifyWithPython(t, rcv)
	t.Logf("%d events: the %d for a and b recipients arrived in order %v after the first submission "+
		"(wall time, fake clock still); the %d for x recipients were tried 4 times each and dead-lettered; "+
		"retry --dead delivered them all; peak %d requests in flight",
		len(evs), len(evs)-xs, others.Round(time.Millisecond), xs, peak)
}

// verifyWithPython checks one request mtaq sent with an independent
// Standard Webhooks verifier (python3's hmac and base64, written from the
// specification).
func verifyWithPython(t *testing.T, rcv *pickyReceiver) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		missingTool(t, "python3 is not installed (Debian: python3)")
	}
	rcv.mu.Lock()
	h, body := rcv.sample.Header, rcv.sampleBody
	rcv.mu.Unlock()
	cmd := exec.Command(py, "../../webhook/testdata/standard_verify.py", webhook.StandardSecret(rcv.secret),
		h.Get(webhook.HeaderID), h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature))
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3 Standard Webhooks verifier refused webhook-id %s: %v %s", h.Get(webhook.HeaderID), err, out)
	}
}

// TestWebhookGoneDisables: a 410 disables the endpoint (no request while
// mail flows and hours pass), `webhooks test` still reaches it, and
// `webhooks retry` enables it: every event arrives.
func TestWebhookGoneDisables(t *testing.T) {
	rcv := newPicky("app-secret")
	rcv.set(func(p *pickyReceiver) { p.status = http.StatusGone; p.picky = false })
	n, api := pickyInternet(t, rcv)
	ctx := context.Background()
	n.wait(n.send("app@sender.test", "a@ok.test"), 0, queue.Delivered)
	waitfor.True(t, "disabled", func() bool {
		l, err := api.ListWebhooks(ctx)
		return err == nil && l.Webhooks[0].Disabled
	})
	rcv.mu.Lock()
	before := len(rcv.requests)
	rcv.mu.Unlock()
	for i := range 5 {
		n.wait(n.send("app@sender.test", fmt.Sprintf("b%d@ok.test", i)), 0, queue.Delivered)
	}
	n.advanceTo(n.clk.Now().Add(6 * time.Hour))
	var evs []queue.Event
	waitfor.True(t, "12 events", func() bool { evs = n.events(); return len(evs) == 12 })
	l, _ := api.ListWebhooks(ctx)
	rcv.mu.Lock()
	after := len(rcv.requests)
	rcv.mu.Unlock()
	if after != before || l.Webhooks[0].Backlog != 12 || !strings.Contains(l.Webhooks[0].DisabledReason, "410") {
		t.Fatalf("disabled webhook: %d requests became %d; %+v", before, after, l.Webhooks[0])
	}
	if tr, err := api.TestWebhook(ctx, "app"); err != nil || tr.Status != http.StatusGone {
		t.Fatalf("test: %+v, %v", tr, err)
	}
	rcv.set(func(p *pickyReceiver) { p.status = 0 })
	if tr, err := api.TestWebhook(ctx, "app"); err != nil || tr.Status != http.StatusOK {
		t.Fatalf("test: %+v, %v", tr, err)
	}
	if _, err := api.RetryWebhook(ctx, "nope", false); err == nil || !strings.Contains(err.Error(), `no webhook named "nope"`) {
		t.Fatalf("unknown webhook: %v", err)
	}
	res, err := api.RetryWebhook(ctx, "app", false)
	if err != nil || !res.Enabled {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	waitfor.True(t, "every event after the retry", func() bool {
		return rcv.received(evs, func(queue.Event) bool { return true })
	})
	if len(rcv.badSig) != 0 {
		t.Fatalf("bad signatures: %v", rcv.badSig)
	}
}

// TestWebhookRestart: dead letters and the place in the stream survive a
// restart, and a graceful stop while the endpoint is down (503) neither
// loses nor repeats an event: each arrives exactly once.
func TestWebhookRestart(t *testing.T) {
	rcv := newPicky("app-secret")
	n, api := pickyInternet(t, rcv)
	ctx := context.Background()
	for i := range 6 {
		id := n.send("app@sender.test", fmt.Sprintf("a%d@ok.test", i%2), fmt.Sprintf("x%d@ok.test", i%2))
		n.wait(id, 0, queue.Delivered)
		n.wait(id, 1, queue.Delivered)
	}
	var evs []queue.Event
	waitfor.True(t, "24 events", func() bool { evs = n.events(); return len(evs) == 24 })
	waitfor.True(t, "the x events dead-lettered and the rest received", func() bool {
		n.clk.Advance(time.Second)
		l, err := api.ListWebhooks(ctx)
		return err == nil && l.Webhooks[0].DeadLetters == 12 && rcv.received(evs, func(e queue.Event) bool { return !isX(e) })
	})

	rcv.set(func(p *pickyReceiver) { p.status = http.StatusServiceUnavailable })
	for i := range 4 {
		n.wait(n.send("app@sender.test", fmt.Sprintf("b%d@ok.test", i)), 0, queue.Delivered)
	}
	waitfor.True(t, "the endpoint backing off", func() bool {
		l, err := api.ListWebhooks(ctx)
		return err == nil && l.Webhooks[0].Failures > 0
	})
	n.restart()
	l, err := api.ListWebhooks(ctx)
	if err != nil || l.Webhooks[0].DeadLetters != 12 || l.Webhooks[0].Backlog != 8 {
		t.Fatalf("after the restart: %+v, %v", l, err)
	}
	rcv.set(func(p *pickyReceiver) { p.status = 0; p.picky = false })
	waitfor.True(t, "32 events", func() bool { evs = n.events(); return len(evs) == 32 })
	waitfor.True(t, "the 8 events sent while down", func() bool {
		n.advanceTo(n.clk.Now().Add(time.Minute)) // past the backoff
		return rcv.received(evs, func(e queue.Event) bool { return !isX(e) })
	})
	if res, err := api.RetryWebhook(ctx, "app", true); err != nil || res.Delivered != 12 {
		t.Fatalf("retry --dead after the restart: %+v, %v", res, err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, e := range evs {
		if rcv.ok[e.Seq] != 1 {
			t.Errorf("event %d (%s %s) received %d times", e.Seq, e.Kind, e.Rcpt, rcv.ok[e.Seq])
		}
	}
}
