// Package admin is the operator's way into a running daemon: an HTTP/JSON
// API on a unix socket inside data_dir (and optionally TCP with a bearer
// token), a Service that carries out requests against the queue and the
// scheduler, and a Client that the CLI, sendmail's -bp/-q and scripts use.
// The daemon is the only process that opens Pebble; everything else goes
// through here. It owns no state of its own.
package admin

import (
	"context"
	"io"
	"time"

	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// API is what the daemon offers operators. Service implements it inside
// the daemon; Client implements it over HTTP. Field names in the JSON
// types are an interface for scripts: keep them.
type API interface {
	ListQueue(ctx context.Context, f QueueFilter) (*QueuePage, error)
	// ShowMessage returns ErrNoMessage (wrapped) for an unknown ID.
	ShowMessage(ctx context.Context, id string) (*MessageDetail, error)
	// MessageBody returns the stored message (headers and body, CRLF
	// lines) exactly as it will be sent; ErrNoMessage (wrapped) for an
	// unknown ID or one whose body is gone (every recipient final).
	MessageBody(ctx context.Context, id string) ([]byte, error)
	QueueAction(ctx context.Context, a QueueAction) (*ActionResult, error)

	ListSuppressions(ctx context.Context, f SuppressionFilter) (*SuppressionPage, error)
	// ShowSuppression returns ErrNoSuppression (wrapped) when none.
	ShowSuppression(ctx context.Context, addr string) (*SuppressionEntry, error)
	AddSuppression(ctx context.Context, a SuppressionAdd) (*SuppressionEntry, error)
	RemoveSuppression(ctx context.Context, addr string) error
	// ImportSuppressions reads CSV (address[,reason[,expires RFC 3339 or ttl]]
	// with an optional header row); progress is called now and then.
	ImportSuppressions(ctx context.Context, csv io.Reader, progress func(done int)) (*ImportResult, error)
	ExportSuppressions(ctx context.Context, csv io.Writer) error

	Stats(ctx context.Context) (*Stats, error)
	// Overview reads the queue's stored outcome rollup (24 hours, 7 days,
	// rates per destination); ErrNoRollup (wrapped) without one.
	Overview(ctx context.Context) (*Overview, error)
	// DestinationQueues lists waiting recipients per destination with the
	// scheduler's state of each; ErrNoRollup (wrapped) without a rollup.
	DestinationQueues(ctx context.Context) ([]DestinationQueue, error)
	// Flush makes every deferred recipient due now (sendmail -q).
	Flush(ctx context.Context) (*ActionResult, error)
	// ResetDestination forgets a destination's throttling and closes its
	// circuit breaker; ErrInvalid (wrapped) when the scheduler does not
	// know the domain.
	ResetDestination(ctx context.Context, domain string) error
	// Events returns up to limit outbox events after seq after (0: from
	// the oldest kept), for mtaq events tail.
	Events(ctx context.Context, after uint64, limit int) (*EventPage, error)
	// ReceiveReport applies one bounce or complaint email (mtaq bounce
	// receive); rcpts are its envelope recipients when known.
	ReceiveReport(ctx context.Context, raw []byte, rcpts []string) (*ReceiveResult, error)
	// ListReports lists kept reports (mtaq bounce ls).
	ListReports(ctx context.Context, f ReportFilter) (*ReportPage, error)
	// Reload reads the daemon's configuration file again and applies what
	// can change while it runs (mtaq reload, like SIGHUP).
	Reload(ctx context.Context) (*ReloadResult, error)
	// Backup writes a consistent copy of the live queue into a new
	// directory without stopping delivery (mtaq backup).
	Backup(ctx context.Context, req BackupRequest) (*BackupResult, error)

	// ListWebhooks returns every [[webhook]]'s state (mtaq webhooks ls).
	ListWebhooks(ctx context.Context) (*WebhookList, error)
	// RetryWebhook enables a webhook a 410 disabled and ends its backoff;
	// with dead it also sends its dead letters again and waits for the
	// answers. ErrNoWebhook (wrapped) for an unknown name.
	RetryWebhook(ctx context.Context, name string, dead bool) (*WebhookRetry, error)
	// TestWebhook sends a signed test event and returns the answer.
	TestWebhook(ctx context.Context, name string) (*WebhookTest, error)
	// WebhookDeadLetters lists a webhook's dead letters after seq after
	// (mtaq webhooks dead).
	WebhookDeadLetters(ctx context.Context, name string, after uint64, limit int) (*DeadLetterPage, error)
	// Verify answers one address or up to 1,000 (mtaq verify, POST
	// /v1/verify); ErrInvalid (wrapped) for a bad request.
	Verify(ctx context.Context, r verify.Request) (*verify.Response, error)
	// UpdateDisposableList replaces the disposable-domain list (mtaq
	// verify update-list); ErrInvalid (wrapped) names a bad line.
	UpdateDisposableList(ctx context.Context, list io.Reader) (*verify.ListUpdate, error)
	// ClusterStatus reports the fleet (mtaq cluster status); ErrInvalid
	// (wrapped) on a node without [cluster].
	ClusterStatus(ctx context.Context) (*ClusterStatus, error)
	// TLSReport is a recipient domain's TLS-RPT counts for today so far
	// (mtaq tls report DOMAIN).
	TLSReport(ctx context.Context, domain string) (*TLSReport, error)
}

// QueueFilter selects messages; zero fields match everything.
type QueueFilter struct {
	State  string `json:"state,omitempty"`
	Domain string `json:"domain,omitempty"`
	Rcpt   string `json:"rcpt,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Sender string `json:"sender,omitempty"` // envelope sender, case-insensitive
	// Since (inclusive) and Until (exclusive) bound the arrival time.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	After string    `json:"after,omitempty"` // resume after this ID
	Limit int       `json:"limit,omitempty"` // 0: server default (1000)
	// Newest lists newest first; After then resumes with older ones.
	Newest bool `json:"newest,omitempty"`
	// Scan bounds the messages examined (0: all); Next then resumes a
	// search that stopped before filling its page.
	Scan int `json:"scan,omitempty"`
}

// QueuePage is one page of ListQueue; Next is "" on the last page (it may
// be set on a short page when Scan stopped the search).
type QueuePage struct {
	Messages []QueueEntry `json:"messages"`
	Next     string       `json:"next"`
}

// QueueEntry is one message in a listing.
type QueueEntry struct {
	ID         string            `json:"id"`
	Sender     string            `json:"sender"`
	Arrived    time.Time         `json:"arrived"`
	Size       int64             `json:"size"`
	Tag        string            `json:"tag,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Recipients []RecipientEntry  `json:"recipients"`
}

// RecipientEntry is one recipient's state.
type RecipientEntry struct {
	Address     string       `json:"address"`
	State       string       `json:"state"`
	Attempts    int          `json:"attempts"`
	NextAttempt *time.Time   `json:"next_attempt"` // null when not pending
	LastReply   *queue.Reply `json:"last_reply"`   // null before any attempt
	// Timeline is filled by ShowMessage only.
	Timeline []queue.Attempt `json:"timeline,omitempty"`
}

// MessageDetail is ShowMessage's answer: the entry plus what an operator
// asks about a message.
type MessageDetail struct {
	QueueEntry
	// Pool is the source pool intake chose; "" without pools.
	Pool       string   `json:"pool,omitempty"`
	ClientAddr string   `json:"client_addr"`
	Helo       string   `json:"helo"`
	Headers    []Header `json:"headers"` // empty once the body is gone
}

// Header is one header field of the stored message, in order.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// QueueAction is an operator's command on the queue. Exactly one of ID,
// Domain or All selects the messages.
type QueueAction struct {
	Action string `json:"action"` // retry, hold, release, delete, bounce
	ID     string `json:"id,omitempty"`
	Domain string `json:"domain,omitempty"`
	All    bool   `json:"all,omitempty"`
}

// ActionResult says how many recipients an action changed.
type ActionResult struct {
	Recipients int `json:"recipients"`
	Messages   int `json:"messages"`
}

// SuppressionFilter selects suppression entries.
type SuppressionFilter struct {
	Reason string `json:"reason,omitempty"`
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// SuppressionPage is one page of ListSuppressions.
type SuppressionPage struct {
	Entries []SuppressionEntry `json:"entries"`
	Next    string             `json:"next"`
}

// SuppressionEntry is one suppressed address.
type SuppressionEntry struct {
	Address   string       `json:"address"`
	Reason    string       `json:"reason"`
	Created   time.Time    `json:"created"`
	LastSeen  time.Time    `json:"last_seen"`
	Count     int          `json:"count"`
	Expires   *time.Time   `json:"expires"` // null: never
	Active    bool         `json:"active"`  // false once expired
	Reply     *queue.Reply `json:"reply"`
	MessageID string       `json:"message_id,omitempty"`
}

// SuppressionAdd is an operator's new entry; TTL 0 means the reason's
// default (manual, complaint, unsubscribe: never).
type SuppressionAdd struct {
	Address string        `json:"address"`
	Reason  string        `json:"reason"` // default manual
	TTL     time.Duration `json:"ttl,omitempty"`
}

// ImportResult counts an import; Errors holds the first few bad lines.
type ImportResult struct {
	Added   int      `json:"added"`
	Skipped int      `json:"skipped"`
	Errors  []string `json:"errors,omitempty"` // "line 12: bad address \"x\""
}

// Stats is `mtaq stats`.
type Stats struct {
	States       map[string]int     `json:"states"` // recipients by state
	Destinations []DestinationStats `json:"destinations"`
	// Rates over finished recipients in the window (default last 24h).
	Window string `json:"window"`
	// Finished: recipients that became final in the window and were
	// meant to be sent (rejected and deleted ones are left out); the
	// rates' denominator.
	Finished       int     `json:"finished"`
	Delivered      int     `json:"delivered"`
	HardBounced    int     `json:"hard_bounced"`
	DeliveryRate   float64 `json:"delivery_rate"`
	HardBounceRate float64 `json:"hard_bounce_rate"`
	// Level is "ok", "warning" (hard-bounce rate ≥ 2%) or "critical" (≥ 5%).
	Level        string `json:"level"`
	Suppressions int    `json:"suppressions"`
	// Limits is each destination's adaptive state (concurrency limit,
	// throttling pause, circuit breaker), throttled and parked ones first.
	Limits []scheduler.DestinationStatus `json:"limits"`
	// SenderSide counts rejections that blame our side (authentication,
	// reputation, ...) per destination since the daemon started.
	SenderSide []scheduler.SenderSideStat `json:"sender_side"`
	// Unsigned counts messages queued without a DKIM signature since the
	// daemon started, per From domain, most first: no [[dkim]] key
	// covers the domain, so DMARC fails unless SPF aligns.
	Unsigned []UnsignedStat `json:"unsigned"`
	// Complaints is the complaint rate per sending domain over 24h and
	// 7d, highest level first (needs the feedback loop: [bounce]).
	Complaints []ComplaintStat `json:"complaints"`
	// Sources is, per pool and source address ([[delivery.pool]]), what
	// was sent today (UTC) against its warm-up cap; absent without pools.
	Sources []scheduler.SourceStat `json:"sources,omitempty"`
}

// UnsignedStat is one From domain's unsigned mail.
type UnsignedStat struct {
	Domain   string `json:"domain"` // "" when From has no domain
	Messages uint64 `json:"messages"`
}

// DestinationStats is one destination domain's view.
type DestinationStats struct {
	Domain   string         `json:"domain"`
	States   map[string]int `json:"states"`
	LastCode int            `json:"last_code,omitempty"`
}
