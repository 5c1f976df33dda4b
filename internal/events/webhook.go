package events

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// Webhook request headers beside the signatures (package webhook).
const (
	HeaderEvent      = "X-Mtaq-Event"       // the event kind
	HeaderDeliveryID = "X-Mtaq-Delivery-Id" // the event's seq: the same on every retry, for deduplication
)

// WebhookCursorPrefix starts every webhook's cursor name.
const WebhookCursorPrefix = "webhook:"

// TestEvent is the kind of the event `mtaq webhooks test` sends.
const TestEvent = "test"

// Webhook retry schedule and defaults.
const (
	// An endpoint that does not answer, or answers 408, 429 or 5xx, is
	// retried after 1m doubling to 6h (or its Retry-After), one request at
	// a time until it takes one again.
	WebhookBackoffMin = time.Minute
	WebhookBackoffMax = 6 * time.Hour
	// An event the endpoint refuses with another 4xx is retried
	// RejectRetries times after 1s, 2s, 4s, then kept in the dead-letter
	// list; the endpoint's other events go on meanwhile.
	RejectRetries    = 3
	RejectBackoffMin = time.Second
	DefaultMaxAge    = 72 * time.Hour
	DefaultTimeout   = 10 * time.Second
	// DefaultConcurrency is how many requests one endpoint gets at once.
	DefaultConcurrency = 4
	// windowSize bounds the events read ahead of the cursor: the memory a
	// webhook holds, and what a crash may send again (events delivered
	// out of order above the cursor).
	windowSize = 10000
	// flushEvery: the cursor is saved after this many events, when
	// nothing is in flight, or after flushAfter.
	flushEvery = 64
	flushAfter = time.Second
	errorPause = 5 * time.Second
)

// WebhookStore is what a Webhook needs of the queue (queue.PebbleStore).
type WebhookStore interface {
	queue.Outbox
	EventsChanged() <-chan struct{}
	LastEvent() uint64
	AdvanceCursor(ctx context.Context, name string, seq uint64, dead []queue.DeadLetter) error
	DeadLetters(ctx context.Context, name string, after uint64, limit int) ([]queue.DeadLetter, error)
	CountDeadLetters(ctx context.Context, name string) (int, error)
	UpdateDeadLetter(ctx context.Context, name string, d queue.DeadLetter) error
	DeleteDeadLetter(ctx context.Context, name string, seq uint64) error
	HoldConsumer(ctx context.Context, name string, h queue.Hold) error
	ReleaseConsumer(ctx context.Context, name string) error
	ConsumerHold(ctx context.Context, name string) (*queue.Hold, error)
}

// WebhookOptions configure one endpoint.
type WebhookOptions struct {
	// Name is the [[webhook]]'s name, for logs, metrics and the CLI.
	Name string
	URL  string
	// Events limits the kinds sent; empty means all.
	Events []string
	// Secret keys both signatures; empty sends unsigned requests.
	Secret string
	// MaxAge drops an event still unsent this long after it happened
	// (0: DefaultMaxAge); Timeout bounds one POST (0: DefaultTimeout).
	MaxAge, Timeout time.Duration
	// Concurrency bounds the requests in flight (0: DefaultConcurrency).
	Concurrency int
	Store       WebhookStore
	Client      *http.Client // nil: a client with Timeout
	Clock       clock.Clock  // nil: the wall clock
	Logger      *zap.Logger
	// OnRequest, when set, is told of every request: the status (0 when
	// there was no answer) and how long it took.
	OnRequest func(status int, took time.Duration)
}

// Webhook POSTs outbox events to one endpoint as JSON, one event per
// request, up to Concurrency at once. Events about one recipient address
// go in the order they happened: a later one waits until the earlier one
// is settled (delivered, dropped past max_age, or dead-lettered). The
// cursor only moves past settled events, so a crash sends again what was
// not settled and skips nothing (at least once).
type Webhook struct {
	o    WebhookOptions
	name string        // cursor name
	sem  chan struct{} // request slots, shared with Retry and Test
	kick chan struct{} // a slot was freed outside Run
	ctl  chan func(*run)
	dead atomic.Int64 // dead letters, counted at start and kept up to date

	mu      sync.Mutex
	st      WebhookStatus
	started bool // Run has loaded the cursor, hold and count
}

// WebhookStatus is a webhook's state for `mtaq webhooks ls` and metrics.
type WebhookStatus struct {
	Name        string
	URL         string
	Cursor      uint64 // every event up to here is settled
	Backlog     uint64 // events after the cursor
	InFlight    int
	DeadLetters int
	// Disabled: the endpoint answered 410 Gone at DisabledAt.
	Disabled       bool
	DisabledReason string
	DisabledAt     time.Time
	// The last failed request: status 0 when there was no answer.
	LastStatus  int
	LastError   string
	LastErrorAt time.Time
	// Failures counts failed requests in a row; while positive the
	// endpoint is backing off until NextRetry.
	Failures  int
	NextRetry time.Time
	Delivered uint64 // events delivered since start
}

// NewWebhook returns the webhook for one [[webhook]]; Run sends.
func NewWebhook(o WebhookOptions) *Webhook {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Concurrency // keep a connection per request slot
		// Redirects are not followed (Standard Webhooks: update the URL
		// instead): a 301 or 302 would turn the POST into a bodiless GET
		// whose 2xx would count as delivered.
		o.Client = &http.Client{Timeout: o.Timeout, Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Logger = o.Logger.With(zap.String("webhook", o.Name), zap.String("url", o.URL))
	w := &Webhook{o: o, name: CursorName(o.URL), sem: make(chan struct{}, o.Concurrency),
		kick: make(chan struct{}, 1), ctl: make(chan func(*run))}
	w.st = WebhookStatus{Name: o.Name, URL: o.URL}
	return w
}

// CursorName is "webhook:" and a hash of the URL, so editing the secret
// or the event list keeps the cursor (and dead letters), and a new URL
// starts afresh.
func CursorName(url string) string {
	sum := sha256.Sum256([]byte(url))
	return WebhookCursorPrefix + hex.EncodeToString(sum[:8])
}

// Name returns the webhook's cursor name.
func (w *Webhook) Name() string { return w.name }

// Status returns the webhook's state now. Before Run has loaded it, the
// durable part comes from the store.
func (w *Webhook) Status() WebhookStatus {
	w.mu.Lock()
	st, started := w.st, w.started
	w.mu.Unlock()
	st.DeadLetters = int(w.dead.Load())
	if !started {
		ctx := context.Background()
		if cur, err := w.o.Store.Cursor(ctx, w.name); err == nil {
			st.Cursor = cur
		}
		if h, err := w.o.Store.ConsumerHold(ctx, w.name); err == nil && h != nil {
			st.Disabled, st.DisabledReason, st.DisabledAt = true, h.Reason, h.At
		}
		if n, err := w.o.Store.CountDeadLetters(ctx, w.name); err == nil {
			st.DeadLetters = n
		}
	}
	if last := w.o.Store.LastEvent(); last > st.Cursor {
		st.Backlog = last - st.Cursor
	}
	return st
}

func (w *Webhook) update(f func(*WebhookStatus)) {
	w.mu.Lock()
	f(&w.st)
	w.mu.Unlock()
}

// entry is one event in the window.
type entry struct {
	ev         queue.Event
	key        string // ordering key: the recipient address
	rejections int    // 4xx answers other than 408, 429, 410
	next       time.Time
	done       bool
	dead       *queue.DeadLetter
}

// ready is a min-heap of entries by seq: the heads of their keys that are
// neither in flight nor settled.
type ready []*entry

func (r ready) Len() int           { return len(r) }
func (r ready) Less(i, j int) bool { return r[i].ev.Seq < r[j].ev.Seq }
func (r ready) Swap(i, j int)      { r[i], r[j] = r[j], r[i] }
func (r *ready) Push(x any)        { *r = append(*r, x.(*entry)) }
func (r *ready) Pop() any {
	old := *r
	e := old[len(old)-1]
	*r = old[:len(old)-1]
	return e
}

// run is Run's state; only Run's goroutine touches it.
type run struct {
	w        *Webhook
	log      *zap.Logger
	saved    uint64 // cursor in the store
	cursor   uint64 // every seq up to here is settled
	read     uint64 // highest seq read
	window   []*entry
	parts    map[string][]*entry
	ready    ready
	results  chan result
	inflight int
	failures int
	backoff  time.Time // no request before this
	disabled bool
	unsaved  []queue.DeadLetter // settled dead letters not yet written with the cursor
	flushed  time.Time
	pause    time.Time // after a store error
}

type result struct {
	e *entry
	reply
}

// reply is what one POST came to.
type reply struct {
	status     int // 0: no answer
	retryAfter time.Duration
	took       time.Duration
	err        error
}

// Run sends events until ctx ends, then waits for its requests and saves
// the cursor.
func (w *Webhook) Run(ctx context.Context) {
	r := &run{w: w, log: w.o.Logger, parts: map[string][]*entry{}, results: make(chan result, w.o.Concurrency)}
	if !r.start(ctx) {
		return
	}
	for ctx.Err() == nil {
		changed := w.o.Store.EventsChanged() // before reading: no missed signal
		r.fill(ctx)
		r.dispatch(ctx)
		r.flush(ctx)
		r.wait(ctx, changed)
	}
	for r.inflight > 0 {
		r.handle(ctx, <-r.results)
	}
	r.flush(context.WithoutCancel(ctx))
}

// start loads the cursor (registering it, so the queue keeps the events
// for this webhook), the hold and the dead-letter count.
func (r *run) start(ctx context.Context) bool {
	w := r.w
	for {
		cur, err := w.o.Store.Cursor(ctx, w.name)
		if err == nil {
			err = w.o.Store.AdvanceCursor(ctx, w.name, cur, nil)
		}
		var hold *queue.Hold
		if err == nil {
			hold, err = w.o.Store.ConsumerHold(ctx, w.name)
		}
		var n int
		if err == nil {
			n, err = w.o.Store.CountDeadLetters(ctx, w.name)
		}
		if err == nil {
			r.saved, r.cursor, r.read = cur, cur, cur
			w.dead.Store(int64(n))
			r.disabled = hold != nil
			w.mu.Lock()
			w.st.Cursor, w.started = cur, true
			if hold != nil {
				w.st.Disabled, w.st.DisabledReason, w.st.DisabledAt = true, hold.Reason, hold.At
			}
			w.mu.Unlock()
			if hold != nil {
				r.log.Warn("webhook: disabled; `mtaq webhooks retry` enables it", zap.String("reason", hold.Reason),
					zap.Time("since", hold.At))
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.log.Error("webhook: reading its cursor", zap.Error(err))
		if !clock.Sleep(ctx, w.o.Clock, errorPause) {
			return false
		}
	}
}

// fill reads events after the window into it.
func (r *run) fill(ctx context.Context) {
	w := r.w
	room := windowSize - len(r.window)
	if room <= 0 || r.disabled || w.o.Clock.Now().Before(r.pause) {
		return
	}
	evs, err := w.o.Store.Events(ctx, r.read, min(room, DefaultBatch*10))
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("webhook: reading events", zap.Uint64("after", r.read), zap.Error(err))
			r.pause = w.o.Clock.Now().Add(errorPause)
		}
		return
	}
	for _, ev := range evs {
		e := &entry{ev: ev, key: orderKey(ev)}
		r.read = ev.Seq
		r.window = append(r.window, e)
		if len(w.o.Events) > 0 && !slices.Contains(w.o.Events, ev.Kind) {
			e.done = true
			continue
		}
		q := r.parts[e.key]
		r.parts[e.key] = append(q, e)
		if len(q) == 0 {
			heap.Push(&r.ready, e)
		}
	}
	r.advance()
}

// orderKey is what events keep their order by: the recipient address.
func orderKey(ev queue.Event) string {
	if ev.Rcpt != "" {
		return "r:" + strings.ToLower(ev.Rcpt)
	}
	if ev.ID != "" {
		return "m:" + ev.ID
	}
	return "s:" + strconv.FormatUint(ev.Seq, 10)
}

// dispatch starts requests for ready entries while slots are free.
func (r *run) dispatch(ctx context.Context) {
	w := r.w
	now := w.o.Clock.Now()
	if r.disabled || now.Before(r.backoff) {
		return
	}
	limit := r.limit()
	var later []*entry
	defer func() {
		for _, e := range later {
			heap.Push(&r.ready, e)
		}
		n := r.inflight
		w.update(func(st *WebhookStatus) { st.InFlight = n })
	}()
	for r.ready.Len() > 0 && r.inflight < limit {
		e := heap.Pop(&r.ready).(*entry)
		if e.next.After(now) {
			later = append(later, e)
			continue
		}
		if age := now.Sub(e.ev.At); age > w.o.MaxAge {
			r.log.Warn("webhook: dropping an event older than max_age", zap.Uint64("seq", e.ev.Seq),
				zap.String("event", e.ev.Kind), zap.String("queue_id", e.ev.ID), zap.String("rcpt", e.ev.Rcpt),
				zap.Duration("age", age))
			r.settle(e)
			continue
		}
		select {
		case w.sem <- struct{}{}:
		default: // Retry or Test hold the other slots
			later = append(later, e)
			return
		}
		r.inflight++
		go func() {
			rep := w.send(ctx, e.ev, "evt_"+strconv.FormatUint(e.ev.Seq, 10))
			<-w.sem
			r.results <- result{e, rep}
		}()
	}
}

// limit is how many requests Run may have in flight now.
func (r *run) limit() int {
	if r.failures > 0 {
		return 1 // probing an endpoint that failed: one request at a time
	}
	return r.w.o.Concurrency
}

// canSend says whether dispatch could start a request now (a slot free
// that Retry and Test do not hold).
func (r *run) canSend(now time.Time) bool {
	return !r.disabled && !now.Before(r.backoff) && r.inflight < r.limit() && len(r.w.sem) < cap(r.w.sem)
}

// settle marks e done and makes the next event of its key ready.
func (r *run) settle(e *entry) {
	e.done = true
	q := r.parts[e.key]
	if len(q) == 0 || q[0] != e {
		panic("webhook: settling an event that is not the head of its key")
	}
	q = q[1:]
	if len(q) == 0 {
		delete(r.parts, e.key)
	} else {
		r.parts[e.key] = q
		heap.Push(&r.ready, q[0])
	}
	r.advance()
}

// advance moves the in-memory cursor over the settled head of the window.
func (r *run) advance() {
	n := 0
	for n < len(r.window) && r.window[n].done {
		e := r.window[n]
		if e.dead != nil {
			r.unsaved = append(r.unsaved, *e.dead)
		}
		r.cursor = e.ev.Seq
		n++
	}
	if n > 0 {
		clear(r.window[:n])
		r.window = r.window[n:]
		c := r.cursor
		r.w.update(func(st *WebhookStatus) { st.Cursor = c })
	}
}

// flush saves the cursor with the dead letters it passes (D1 in queue):
// after flushEvery events, when nothing is in flight, or after flushAfter.
func (r *run) flush(ctx context.Context) {
	if r.cursor == r.saved && len(r.unsaved) == 0 {
		return
	}
	now := r.w.o.Clock.Now()
	if r.inflight > 0 && r.cursor-r.saved < flushEvery && now.Sub(r.flushed) < flushAfter && ctx.Err() == nil {
		return
	}
	if err := r.w.o.Store.AdvanceCursor(ctx, r.w.name, r.cursor, r.unsaved); err != nil {
		if ctx.Err() == nil {
			r.log.Error("webhook: saving the cursor", zap.Uint64("seq", r.cursor), zap.Error(err))
		}
		r.flushed = now // try again later; a crash meanwhile re-sends, loses nothing
		return
	}
	r.w.dead.Add(int64(len(r.unsaved)))
	r.saved, r.unsaved, r.flushed = r.cursor, nil, now
}

// wait sleeps until a reply, new events, a control call, the next retry,
// or the next flush is due.
func (r *run) wait(ctx context.Context, changed <-chan struct{}) {
	w := r.w
	now := w.o.Clock.Now()
	var due time.Time
	soonest := func(t time.Time) {
		if t.After(now) && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	if r.ready.Len() > 0 && !r.disabled {
		// An entry that came due since dispatch looked (the clock moved)
		// is sent now: no timer would wake us for it.
		if r.canSend(now) {
			for _, e := range r.ready {
				if !e.next.After(now) {
					return
				}
			}
		}
		soonest(r.backoff)
		for _, e := range r.ready {
			soonest(e.next)
		}
	}
	if r.cursor != r.saved || len(r.unsaved) > 0 {
		soonest(r.flushed.Add(flushAfter))
	}
	soonest(r.pause)
	var timer <-chan time.Time
	if !due.IsZero() {
		t := w.o.Clock.NewTimer(due.Sub(now))
		defer t.Stop()
		timer = t.C()
	}
	if r.disabled || len(r.window) >= windowSize || now.Before(r.pause) {
		changed = nil // reading more now would not help
	}
	select {
	case <-ctx.Done():
	case res := <-r.results:
		r.handle(ctx, res)
	case f := <-w.ctl:
		f(r)
	case <-w.kick:
	case <-changed:
	case <-timer:
	}
}

// handle takes one reply.
func (r *run) handle(ctx context.Context, res result) {
	w, e := r.w, res.e
	r.inflight--
	n := r.inflight
	w.update(func(st *WebhookStatus) { st.InFlight = n })
	now := w.o.Clock.Now()
	if ctx.Err() != nil && res.status == 0 {
		heap.Push(&r.ready, e) // cut short by shutdown: not the endpoint's fault
		return
	}
	if w.o.OnRequest != nil {
		w.o.OnRequest(res.status, res.took)
	}
	log := r.log.With(zap.Uint64("seq", e.ev.Seq), zap.String("event", e.ev.Kind), zap.String("queue_id", e.ev.ID),
		zap.String("rcpt", e.ev.Rcpt), zap.Int("status", res.status))
	switch classify(res.status) {
	case delivered:
		r.failures, r.backoff = 0, time.Time{}
		w.update(func(st *WebhookStatus) { st.Delivered++; st.Failures, st.NextRetry = 0, time.Time{} })
		r.settle(e)
		return
	case gone:
		heap.Push(&r.ready, e) // sent again once enabled
		if !r.disabled {
			r.disable(ctx, now, res)
		}
	case rejected:
		r.failures, r.backoff = 0, time.Time{}
		e.rejections++
		if e.rejections > RejectRetries {
			e.dead = &queue.DeadLetter{Event: e.ev, Attempts: e.rejections, Status: res.status,
				Error: res.err.Error(), At: now}
			log.Warn("webhook: endpoint refused an event; moved to the dead-letter list", zap.Int("attempts", e.rejections),
				zap.Error(res.err))
			r.settle(e)
		} else {
			e.next = now.Add(Doubling(RejectBackoffMin, WebhookBackoffMin, e.rejections))
			log.Info("webhook: endpoint refused an event; retrying it", zap.Int("attempts", e.rejections),
				zap.Duration("retry_in", e.next.Sub(now)), zap.Error(res.err))
			heap.Push(&r.ready, e)
		}
	default:
		// Requests that were in flight together fail together: one
		// failure for all of them, so the backoff doubles once.
		if !now.Before(r.backoff) {
			r.failures++
			delay := Doubling(WebhookBackoffMin, WebhookBackoffMax, r.failures)
			if res.retryAfter > 0 {
				delay = min(res.retryAfter, WebhookBackoffMax)
			}
			r.backoff = now.Add(delay)
		}
		log.Warn("webhook: request failed; backing off", zap.Int("failures", r.failures),
			zap.Duration("retry_in", r.backoff.Sub(now)), zap.Error(res.err))
		heap.Push(&r.ready, e)
	}
	f, next := r.failures, r.backoff
	w.update(func(st *WebhookStatus) {
		st.LastStatus, st.LastError, st.LastErrorAt = res.status, res.err.Error(), now
		st.Failures, st.NextRetry = f, next
	})
}

// disable stops sending after a 410 Gone, durably.
func (r *run) disable(ctx context.Context, now time.Time, res result) {
	r.disabled = true
	reason := fmt.Sprintf("the endpoint answered %d Gone", res.status)
	if err := r.w.o.Store.HoldConsumer(ctx, r.w.name, queue.Hold{Reason: reason, At: now}); err != nil {
		r.log.Error("webhook: saving that it is disabled (it is, until a restart)", zap.Error(err))
	}
	r.w.update(func(st *WebhookStatus) { st.Disabled, st.DisabledReason, st.DisabledAt = true, reason, now })
	r.log.Warn("webhook: endpoint answered 410 Gone; disabled until `mtaq webhooks retry`",
		zap.Uint64("seq", res.e.ev.Seq), zap.Int("status", res.status))
}

type outcome int

const (
	delivered outcome = iota
	gone              // 410: disable the endpoint
	rejected          // other 4xx but 408 and 429: this event is refused
	failed            // no answer, 3xx, 408, 429, 5xx: the endpoint is in trouble
)

func classify(status int) outcome {
	switch {
	case status >= 200 && status < 300:
		return delivered
	case status == http.StatusGone:
		return gone
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		return failed
	case status >= 400 && status < 500:
		return rejected
	}
	return failed
}

// send POSTs ev signed; id is its webhook-id.
func (w *Webhook) send(ctx context.Context, ev queue.Event, id string) reply {
	start := w.o.Clock.Now()
	rep := w.post(ctx, ev, id)
	rep.took = w.o.Clock.Now().Sub(start)
	return rep
}

func (w *Webhook) post(ctx context.Context, ev queue.Event, id string) reply {
	body, err := json.Marshal(NewPayload(ev))
	if err != nil {
		return reply{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	ts := strconv.FormatInt(w.o.Clock.Now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "mtaq-webhook")
	h.Set(HeaderEvent, ev.Kind)
	h.Set(HeaderDeliveryID, strings.TrimPrefix(id, "evt_"))
	h.Set(webhook.HeaderMtaqTimestamp, ts)
	// The Standard Webhooks names as its specification writes them.
	h[webhook.HeaderID] = []string{id}
	h[webhook.HeaderTimestamp] = []string{ts}
	if w.o.Secret != "" {
		h.Set(webhook.HeaderMtaqSignature, webhook.SignMtaq(w.o.Secret, ts, body))
		sig, err := webhook.SignStandard(w.o.Secret, id, ts, body)
		if err != nil {
			return reply{err: err} // conf refuses such secrets
		}
		h[webhook.HeaderSignature] = []string{sig}
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only to reuse the connection
	if resp.StatusCode/100 == 2 {
		return reply{status: resp.StatusCode}
	}
	return reply{status: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"), w.o.Clock.Now()),
		err: fmt.Errorf("endpoint answered %s", resp.Status)}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
