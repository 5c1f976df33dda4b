package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// hookReceiver is an app's webhook endpoint on loopback. It verifies every
// request's signature and, while down, answers 503.
type hookReceiver struct {
	secret string
	mu     sync.Mutex
	down   bool
	got    map[uint64]int // seq → times received with a 2xx
	kinds  map[string]int
	bodies map[uint64]map[string]any
	failed int // requests answered 503
	badSig int
	clk    clock.Clock // nil: see verify
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.verify(r.Header, body) != nil {
		h.badSig++
	}
	if h.down {
		h.failed++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		h.badSig++ // not JSON: count it as a broken request
		return
	}
	seq := uint64(p["seq"].(float64))
	h.got[seq]++
	h.kinds[p["event"].(string)]++
	h.bodies[seq] = p
}

// verify checks both signatures as a receiver would, against the test's
// fake clock when set (setClock), else against the request's own
// timestamp (the tolerance is webhook's tests' business).
func (h *hookReceiver) verify(hd http.Header, body []byte) error {
	now := time.Unix(0, 0)
	if h.clk != nil {
		now = h.clk.Now()
	} else if sec, err := strconv.ParseInt(hd.Get(webhook.HeaderTimestamp), 10, 64); err == nil {
		now = time.Unix(sec, 0)
	}
	err := webhook.VerifyAt(h.secret, hd, body, now, webhook.DefaultTolerance)
	if err == nil && hd.Get(webhook.HeaderMtaqSignature) != "" {
		mtaq := http.Header{}
		mtaq.Set(webhook.HeaderMtaqTimestamp, hd.Get(webhook.HeaderMtaqTimestamp))
		mtaq.Set(webhook.HeaderMtaqSignature, hd.Get(webhook.HeaderMtaqSignature))
		err = webhook.VerifyAt(h.secret, mtaq, body, now, webhook.DefaultTolerance)
	}
	return err
}

func (h *hookReceiver) setClock(c clock.Clock) {
	h.mu.Lock()
	h.clk = c
	h.mu.Unlock()
}

// duplicates counts events received more than once; the caller holds mu.
func (h *hookReceiver) duplicates() int {
	d := 0
	for _, c := range h.got {
		d += c - 1
	}
	return d
}

func (h *hookReceiver) setDown(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

func (h *hookReceiver) failures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}

// missing returns the outbox seqs the receiver has not had yet.
func (h *hookReceiver) missing(evs []queue.Event) []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []uint64
	for _, e := range evs {
		if h.got[e.Seq] == 0 {
			out = append(out, e.Seq)
		}
	}
	return out
}

// TestWebhookReceiverDown: mail flows while the app's endpoint is down;
// once it is back and the backoff has passed, every event of the outbox
// arrives at least once and every request's signature verifies.
func TestWebhookReceiverDown(t *testing.T) {
	rcv := &hookReceiver{secret: "app-secret", down: true, got: map[uint64]int{}, kinds: map[string]int{},
		bodies: map[uint64]map[string]any{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := hookInternet(t, srv.URL)
	rcv.setClock(n.clk)

	// Mail is delivered, bounced and deferred while the endpoint is down:
	// a dead endpoint does not slow delivery.
	start := time.Now()
	okID := n.send("app@sender.test", "alice@ok.test")
	goneID := n.send("app@sender.test", "gone@bad.test")
	fullID := n.send("app@sender.test", "bob@full.test")
	n.wait(okID, 0, queue.Delivered)
	n.wait(goneID, 0, queue.Bounced)
	n.waitAttempts(fullID, 0, 1)
	deliveredIn := time.Since(start)
	waitfor.True(t, "a refused webhook request", func() bool { return rcv.failures() > 0 })

	// Still down for half an hour of fake time: the webhook backs off
	// (1m, 2m, 4m, ...) and bob@full.test is retried meanwhile.
	down := n.clk.Now()
	for n.clk.Now().Sub(down) < 30*time.Minute {
		n.advanceTo(n.clk.Now().Add(time.Minute))
		time.Sleep(10 * time.Millisecond)
	}
	n.waitAttempts(fullID, 0, 2)
	failedWhileDown := rcv.failures()

	rcv.setDown(false)
	up := n.clk.Now()
	var evs []queue.Event
	waitfor.True(t, "every event at the receiver", func() bool {
		n.advanceTo(n.clk.Now().Add(time.Minute))
		var err error
		evs, err = n.d.store.Events(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rcv.missing(evs)) == 0
	})

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.badSig != 0 {
		t.Fatalf("%d requests with a bad signature", rcv.badSig)
	}
	for _, k := range []string{"queued", "delivered", "bounced", "suppressed", "deferred"} {
		if rcv.kinds[k] == 0 {
			t.Errorf("no %s event arrived (kinds %v)", k, rcv.kinds)
		}
	}
	assertBounceFields(t, rcv, evs)
	t.Logf("mail settled in %v with the endpoint down; %d requests refused over %v of fake time; "+
		"after it came back all %d events arrived within %v of fake time (%d duplicates, 0 bad signatures)",
		deliveredIn.Round(time.Millisecond), failedWhileDown, up.Sub(down), len(evs), n.clk.Now().Sub(up), rcv.duplicates())
}

// hookInternet is the fake Internet with one webhook to url and three
// destinations: ok.test delivers, bad.test has no gone@, full.test is full.
func hookInternet(t *testing.T, url string) *internet {
	n := newInternet(t, func(c *conf.Config) {
		c.Webhooks = []conf.Webhook{{URL: url, Secret: "app-secret"}}
	})
	n.mx("ok.test", 10, "mx.ok.test", "127.0.0.2")
	n.mx("bad.test", 10, "mx.bad.test", "127.0.0.3", smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return smtptest.Reply(550, "5.1.1", "User unknown")
		}
		return nil
	}))
	n.mx("full.test", 10, "mx.full.test", "127.0.0.4", smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(452, "4.2.2", "Mailbox full")
	}))
	return n
}

func assertBounceFields(t *testing.T, rcv *hookReceiver, evs []queue.Event) {
	t.Helper()
	i := slices.IndexFunc(evs, func(e queue.Event) bool { return e.Kind == queue.EventBounced })
	if i < 0 {
		t.Fatal("no bounced event in the outbox")
	}
	b := rcv.bodies[evs[i].Seq]
	if b["Type"] != "HardBounce" || b["Email"] != "gone@bad.test" || b["Inactive"] != true ||
		b["RecordType"] != "Bounce" || !strings.Contains(b["Details"].(string), "User unknown") {
		t.Fatalf("bounce payload %v", b)
	}
}

func TestForgetRemovedWebhooks(t *testing.T) {
	t.Parallel() // an in-memory store of its own, no network
	store, err := queue.Open("q", queue.Options{FS: vfs.NewMem(), MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	kept, gone := events.CursorName("https://kept.test/"), events.CursorName("https://gone.test/")
	for _, name := range []string{kept, gone, "tail:other"} {
		if err := store.SetCursor(ctx, name, 5); err != nil {
			t.Fatal(err)
		}
	}
	forgetWebhooks(ctx, store, []string{kept}, zap.NewNop())
	cursors, err := store.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cursors[gone]; ok || len(cursors) != 2 {
		t.Fatalf("cursors after forgetting: %v", cursors)
	}
}
