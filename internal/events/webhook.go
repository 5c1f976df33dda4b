package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/webhook"
)

// Webhook request headers.
const (
	HeaderEvent      = "X-Mtaq-Event"       // the event kind
	HeaderDeliveryID = "X-Mtaq-Delivery-Id" // the event's seq: the same on every retry, for deduplication
)

// WebhookCursorPrefix starts every webhook's cursor name.
const WebhookCursorPrefix = "webhook:"

// Webhook retry schedule and defaults.
const (
	WebhookBackoffMin = time.Minute
	WebhookBackoffMax = 6 * time.Hour
	DefaultMaxAge     = 72 * time.Hour
	DefaultTimeout    = 10 * time.Second
)

// WebhookOptions configure one endpoint.
type WebhookOptions struct {
	URL string
	// Events limits the kinds sent; empty means all.
	Events []string
	// Secret keys the signature; empty sends unsigned requests.
	Secret string
	// MaxAge drops an event still unsent this long after it happened
	// (0: DefaultMaxAge); Timeout bounds one POST (0: DefaultTimeout).
	MaxAge, Timeout time.Duration
	Client          *http.Client // nil: a client with Timeout
	Clock           clock.Clock  // nil: the wall clock
	Logger          *zap.Logger
}

// Webhook is a Handler that POSTs each event, one request per event, as
// JSON. One per request keeps receivers simple (one event, one signature,
// one Delivery-Id to dedupe) at the cost of more requests; a receiver that
// is down delays only this webhook's cursor.
type Webhook struct {
	o    WebhookOptions
	name string
}

var (
	_ Handler   = (*Webhook)(nil)
	_ Backoffer = (*Webhook)(nil)
)

// NewWebhook returns the handler for one [[webhook]].
func NewWebhook(o WebhookOptions) *Webhook {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	sum := sha256.Sum256([]byte(o.URL))
	return &Webhook{o: o, name: WebhookCursorPrefix + hex.EncodeToString(sum[:8])}
}

// Name implements Handler: "webhook:" and a hash of the URL, so editing
// the secret or the event list keeps the cursor, and a new URL starts one.
func (w *Webhook) Name() string { return w.name }

// Backoff implements Backoffer: 1m doubling to 6h.
func (w *Webhook) Backoff(failures int) time.Duration {
	return Doubling(WebhookBackoffMin, WebhookBackoffMax, failures)
}

// Handle implements Handler. It stops at the first event the endpoint did
// not take; the dispatcher retries from there after a backoff.
func (w *Webhook) Handle(ctx context.Context, evs []queue.Event) (int, error) {
	for i, ev := range evs {
		if len(w.o.Events) > 0 && !slices.Contains(w.o.Events, ev.Kind) {
			continue
		}
		if age := w.o.Clock.Now().Sub(ev.At); age > w.o.MaxAge {
			w.o.Logger.Warn("webhook: dropping an event older than max_age", zap.String("url", w.o.URL),
				zap.Uint64("seq", ev.Seq), zap.String("event", ev.Kind), zap.String("queue_id", ev.ID),
				zap.String("rcpt", ev.Rcpt), zap.Duration("age", age))
			continue
		}
		if err := w.post(ctx, ev); err != nil {
			return i, fmt.Errorf("webhook %s, event %d: %w", w.o.URL, ev.Seq, err)
		}
	}
	return len(evs), nil
}

func (w *Webhook) post(ctx context.Context, ev queue.Event) error {
	body, err := json.Marshal(NewPayload(ev))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.o.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mtaq-webhook")
	req.Header.Set(HeaderEvent, ev.Kind)
	req.Header.Set(HeaderDeliveryID, strconv.FormatUint(ev.Seq, 10))
	req.Header.Set(webhook.HeaderMtaqTimestamp, ts)
	if w.o.Secret != "" {
		req.Header.Set(webhook.HeaderMtaqSignature, webhook.SignMtaq(w.o.Secret, ts, body))
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only to reuse the connection
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return nil
}
