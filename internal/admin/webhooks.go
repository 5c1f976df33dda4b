package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// Webhooks is the daemon's webhooks as the admin API reaches them. Retry
// and Test return ErrNoWebhook (wrapped) for a name not configured.
type Webhooks interface {
	List() []WebhookEntry
	Retry(ctx context.Context, name string, dead bool) (*WebhookRetry, error)
	Test(ctx context.Context, name string) (*WebhookTest, error)
	// DeadLetters returns up to limit dead letters after seq after.
	DeadLetters(ctx context.Context, name string, after uint64, limit int) ([]queue.DeadLetter, error)
}

// DeadLetterPage is one page of a webhook's dead letters, oldest event
// first; Next is the after= of the next page, 0 on the last.
type DeadLetterPage struct {
	DeadLetters []queue.DeadLetter `json:"dead_letters"`
	Next        uint64             `json:"next"`
}

// WebhookList is `mtaq webhooks ls`.
type WebhookList struct {
	Webhooks []WebhookEntry `json:"webhooks"`
}

// WebhookEntry is one [[webhook]]'s state.
type WebhookEntry struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Backlog: outbox events it has not settled (delivered, dropped past
	// max_age, or dead-lettered) yet.
	Backlog     uint64 `json:"backlog"`
	InFlight    int    `json:"in_flight"`
	DeadLetters int    `json:"dead_letters"`
	// Disabled: the endpoint answered 410 Gone; `mtaq webhooks retry`
	// enables it.
	Disabled       bool       `json:"disabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at"`
	// The last failed request; LastStatus 0 when there was no answer.
	LastStatus  int        `json:"last_status"`
	LastError   string     `json:"last_error"`
	LastErrorAt *time.Time `json:"last_error_at"`
	// Failures in a row; while positive it backs off until NextRetry.
	Failures  int        `json:"failures"`
	NextRetry *time.Time `json:"next_retry"`
	Delivered uint64     `json:"delivered"` // since the daemon started
	// Cursor (every event up to it is settled) and Consumer (its name in
	// the queue, for its dead letters) are for MessageEvents, in process.
	Cursor   uint64 `json:"-"`
	Consumer string `json:"-"`
}

// WebhookRetry is what `mtaq webhooks retry` did.
type WebhookRetry struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"` // it was disabled by a 410 and is enabled again
	// Dead letters sent again (--dead): delivered ones leave the list.
	Resent    int `json:"resent"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// WebhookTest is the receiver's answer to a test event.
type WebhookTest struct {
	Name       string  `json:"name"`
	URL        string  `json:"url"`
	Status     int     `json:"status"` // 0: no answer
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// webhookRetryRequest is POST /v1/webhooks/{name}/retry's body.
type webhookRetryRequest struct {
	Dead bool `json:"dead"`
}

// ListWebhooks implements API.
func (s *Service) ListWebhooks(context.Context) (*WebhookList, error) {
	l := &WebhookList{Webhooks: []WebhookEntry{}}
	if s.webhooks != nil {
		l.Webhooks = append(l.Webhooks, s.webhooks.List()...)
	}
	return l, nil
}

// RetryWebhook implements API.
func (s *Service) RetryWebhook(ctx context.Context, name string, dead bool) (*WebhookRetry, error) {
	if s.webhooks == nil {
		return nil, NoWebhook(name)
	}
	return s.webhooks.Retry(ctx, name, dead)
}

// TestWebhook implements API.
func (s *Service) TestWebhook(ctx context.Context, name string) (*WebhookTest, error) {
	if s.webhooks == nil {
		return nil, NoWebhook(name)
	}
	return s.webhooks.Test(ctx, name)
}

// WebhookDeadLetters implements API.
func (s *Service) WebhookDeadLetters(ctx context.Context, name string, after uint64, n int) (*DeadLetterPage, error) {
	if s.webhooks == nil {
		return nil, NoWebhook(name)
	}
	n = limit(n)
	dl, err := s.webhooks.DeadLetters(ctx, name, after, n)
	if err != nil {
		return nil, err
	}
	page := &DeadLetterPage{DeadLetters: dl}
	if dl == nil {
		page.DeadLetters = []queue.DeadLetter{}
	}
	if len(dl) == n {
		page.Next = dl[len(dl)-1].Event.Seq
	}
	return page, nil
}

func (h *handler) webhookDeadLetters(w http.ResponseWriter, r *http.Request) {
	n, after, err := querySeqPage(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.api.WebhookDeadLetters(r.Context(), r.PathValue("name"), after, n)
	h.reply(w, r, page, err)
}

func (h *handler) listWebhooks(w http.ResponseWriter, r *http.Request) {
	l, err := h.api.ListWebhooks(r.Context())
	h.reply(w, r, l, err)
}

func (h *handler) retryWebhook(w http.ResponseWriter, r *http.Request) {
	var req webhookRetryRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	res, err := h.api.RetryWebhook(r.Context(), r.PathValue("name"), req.Dead)
	h.reply(w, r, res, err)
}

func (h *handler) testWebhook(w http.ResponseWriter, r *http.Request) {
	res, err := h.api.TestWebhook(r.Context(), r.PathValue("name"))
	h.reply(w, r, res, err)
}

// ListWebhooks implements API.
func (c *Client) ListWebhooks(ctx context.Context) (*WebhookList, error) {
	var l WebhookList
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks", nil, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// RetryWebhook implements API.
func (c *Client) RetryWebhook(ctx context.Context, name string, dead bool) (*WebhookRetry, error) {
	var res WebhookRetry
	err := c.do(ctx, http.MethodPost, "/v1/webhooks/"+url.PathEscape(name)+"/retry", nil,
		jsonBody(webhookRetryRequest{Dead: dead}), &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// WebhookDeadLetters implements API.
func (c *Client) WebhookDeadLetters(ctx context.Context, name string, after uint64, limit int) (*DeadLetterPage, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p DeadLetterPage
	if err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(name)+"/dead", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// TestWebhook implements API.
func (c *Client) TestWebhook(ctx context.Context, name string) (*WebhookTest, error) {
	var res WebhookTest
	if err := c.do(ctx, http.MethodPost, "/v1/webhooks/"+url.PathEscape(name)+"/test", nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
