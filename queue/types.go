package queue

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such message or suppression entry.
	ErrNotFound = errors.New("not found")
	// ErrNoSpace: the disk under the queue is full; submission answers 452 4.3.1.
	ErrNoSpace = errors.New("no space left for the queue")
	// ErrLocked: another process (the daemon) holds the store open.
	ErrLocked = errors.New("the queue is open in another process (is mtaq serve running?)")
)

// State is where a recipient is in its life.
type State string

// Recipient states.
const (
	Queued    State = "queued"    // accepted, not yet attempted
	Deferred  State = "deferred"  // soft failure, waiting for NextAttempt
	Held      State = "held"      // an operator holds it; no attempts, no expiry
	Delivered State = "delivered" // 2xx
	Bounced   State = "bounced"   // hard failure
	Failed    State = "failed"    // permanent for this message, address kept
	Expired   State = "expired"   // still soft when retry.expire ran out
	Rejected  State = "rejected"  // suppressed address, nothing sent
	Deleted   State = "deleted"   // removed by an operator
)

// Final reports whether no more attempts will be made.
func (s State) Final() bool {
	switch s {
	case Queued, Deferred, Held:
		return false
	}
	return true
}

// States lists every recipient state, open ones first: the one list that
// whatever shows or accepts states walks (TestStatesListsEveryConstant).
func States() []State {
	return []State{Queued, Deferred, Held, Delivered, Bounced, Failed, Expired, Rejected, Deleted}
}

// OpenStates lists the states that are not Final, in States' order.
func OpenStates() []State { return []State{Queued, Deferred, Held} }

// Pending reports whether the recipient waits in the due index.
func (s State) Pending() bool { return s == Queued || s == Deferred }

// Reply is what a remote server said, or what mtaq synthesised for a local
// failure (Code 0, e.g. a DNS error, with an RFC 3463 Enhanced code).
type Reply struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
}

// Message is an accepted message's envelope and recipient states.
type Message struct {
	ID         string    `json:"id"`
	Sender     string    `json:"sender"` // "" is the null sender <>
	Arrived    time.Time `json:"arrived"`
	Size       int64     `json:"size"`
	ClientAddr string    `json:"client_addr,omitempty"`
	Helo       string    `json:"helo,omitempty"`
	// Headers is the message's header block (CRLF lines), capped at
	// MaxKeptHeaders octets, kept after the body is gone: for DSNs, queue
	// show and webhooks. Enqueue fills it from the body.
	Headers    string      `json:"headers,omitempty"`
	Recipients []Recipient `json:"recipients"`
	// NoDSN: the submitter asked for no bounce messages (a per-user or
	// listener switch, or NOTIFY=NEVER for every recipient).
	NoDSN bool `json:"no_dsn,omitempty"`
	// Tag and Metadata are the app's labels (X-Mtaq-Tag and
	// X-Mtaq-Metadata-* at intake), carried on every event.
	Tag      string            `json:"tag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Pool is the source-address pool intake chose by the pool rules
	// ([[delivery.pool]]); "" or a pool no longer configured: the default.
	Pool string `json:"pool,omitempty"`
	// From and Subject are the header's fields (not the envelope sender),
	// Subject decoded, each capped: Enqueue fills them from Headers once,
	// for every event.
	From    string `json:"from,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Idempotency, when set, is remembered in Enqueue's batch; Enqueue
	// returns *DuplicateError instead when its key is already taken.
	// Not stored with the message.
	Idempotency *Idempotency `json:"-"`
}

// MaxKeptHeaders caps Message.Headers.
const MaxKeptHeaders = 16 << 10

// Event kinds, one per recipient state change worth telling apps about.
const (
	EventQueued       = "queued"
	EventDelivered    = "delivered"
	EventDeferred     = "deferred"
	EventBounced      = "bounced"
	EventFailed       = "failed"
	EventExpired      = "expired"
	EventRejected     = "rejected"
	EventSuppressed   = "suppressed"
	EventUnsuppressed = "unsuppressed"
	// EventComplained: an ARF report says the recipient marked the
	// message as spam; EventDelayed: a DSN says the destination is still
	// trying. Both come from ApplyFeedback, as do bounced events with
	// Async set.
	EventComplained = "complained"
	EventDelayed    = "delayed"
)

// Event is one entry of the outbox. The queue writes it in the same batch
// as the state change it reports, so a crash neither loses nor invents one.
// Seq orders events; consumers keep a cursor (Cursor/SetCursor).
type Event struct {
	Seq        uint64    `json:"seq"`
	Kind       string    `json:"event"`
	At         time.Time `json:"time"`
	ID         string    `json:"queue_id,omitempty"`
	Rcpt       string    `json:"recipient"`
	Sender     string    `json:"sender,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	MX         string    `json:"mx,omitempty"`
	Reply      *Reply    `json:"reply,omitempty"`
	Class      string    `json:"class,omitempty"`
	Category   string    `json:"category,omitempty"`
	Suppressed bool      `json:"suppressed"`
	// Reason is the suppression reason (suppressed, unsuppressed, rejected).
	Reason string `json:"reason,omitempty"`
	// Async: the event comes from a report that arrived after delivery
	// (ApplyFeedback), not from a reply during it; MX is then the
	// reporting MTA.
	Async bool `json:"async,omitempty"`
	// FeedbackType is a complaint's ARF Feedback-Type (abuse, fraud, ...).
	FeedbackType string `json:"feedback_type,omitempty"`
	// NextAttempt is set on deferred events.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Tag and Metadata are the message's labels (Message.Tag, .Metadata);
	// From and Subject its header fields (Subject decoded), each capped.
	Tag      string            `json:"tag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	From     string            `json:"from,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	// domain is the recipient's Domain when the writer had it, for the
	// rollup (eventDomain); not stored.
	domain string
}

// Recipient is one envelope recipient of a message and its state.
type Recipient struct {
	Index       int       `json:"index"` // position in Message.Recipients, stable
	Address     string    `json:"address"`
	Domain      string    `json:"domain"` // lower case, part after the last '@'
	State       State     `json:"state"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // zero when not pending
	LastReply   *Reply    `json:"last_reply,omitempty"`
	// LastAboutAddress is true when the last soft reply was about the
	// address itself (side "recipient"), so expiry suppresses it.
	LastAboutAddress bool      `json:"last_about_address,omitempty"`
	Updated          time.Time `json:"updated"`
}

// Attempt is one entry of a recipient's timeline.
type Attempt struct {
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	MX       string        `json:"mx,omitempty"`
	IP       string        `json:"ip,omitempty"`
	// SourceIP is the local address the attempt left from, Pool its pool
	// (empty without [[delivery.pool]]).
	SourceIP string `json:"source_ip,omitempty"`
	Pool     string `json:"pool,omitempty"`
	TLS      bool   `json:"tls"`
	// TLSVersion and TLSCipher name what STARTTLS negotiated; TLSFallback
	// says the handshake failed and the message went in plain text.
	TLSVersion  string `json:"tls_version,omitempty"`
	TLSCipher   string `json:"tls_cipher,omitempty"`
	TLSFallback bool   `json:"tls_fallback,omitempty"`
	// TLSPolicy is where the attempt's TLS rules came from: dane,
	// mta-sts, mta-sts-testing, tls_policy, opportunistic or relay;
	// TLSPolicyID the MTA-STS policy's id.
	TLSPolicy   string `json:"tls_policy,omitempty"`
	TLSPolicyID string `json:"tls_policy_id,omitempty"`
	Stage       string `json:"stage,omitempty"` // resolve, dial, greeting, hello, tls, mail, rcpt, data
	Reply       Reply  `json:"reply"`
	Class       string `json:"class,omitempty"`    // soft, hard, success
	Category    string `json:"category,omitempty"` // policy category
	// Decision is what mtaq did: delivered, deferred, bounced, failed,
	// expired, rejected, suppressed.
	Decision    string    `json:"decision"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // for deferred
	Suppressed  bool      `json:"suppressed,omitempty"`  // the address was suppressed
}

// Suppression is an address mtaq will not send to.
type Suppression struct {
	Address   string    `json:"address"` // lower case
	Reason    string    `json:"reason"`  // hard_bounce, soft_bounce_expired, manual, ...
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
	Reply     *Reply    `json:"reply,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	Expires   time.Time `json:"expires,omitzero"` // zero: never
}

// Active reports whether the entry suppresses at time now.
func (s *Suppression) Active(now time.Time) bool {
	return s != nil && (s.Expires.IsZero() || now.Before(s.Expires))
}

// Due is one recipient whose next attempt time has come.
type Due struct {
	At    time.Time
	ID    string
	Rcpt  int
	Order uint64 // position in the due index, for stable iteration
}

// Lease records, before an attempt starts, when the recipient is to be tried
// again if the attempt never reports back (crash).
type Lease struct {
	ID    string
	Rcpt  int
	Until time.Time
}

// Update is one recipient's state change, applied with others in one batch.
type Update struct {
	ID   string
	Rcpt int
	// Address is the recipient's address when the caller knows it (the
	// scheduler does): Apply locks its stripe without reading the
	// recipient first, and refuses the update if it is not the
	// recipient's. Empty: Apply reads it.
	Address     string
	State       State
	NextAttempt time.Time // required when State is Queued or Deferred
	Reply       *Reply    // becomes LastReply when set
	// AboutAddress sets Recipient.LastAboutAddress.
	AboutAddress bool
	// CountAttempt increments Recipient.Attempts.
	CountAttempt bool
	Attempt      *Attempt     // appended to the timeline when set
	Suppress     *Suppression // written (merged with an existing entry) when set
	// StreakAdd counts this message in the address's soft-bounce streak
	// (each message once); StreakReset clears the streak. Both are merged
	// under the address's lock, so concurrent jobs cannot lose a count.
	StreakAdd   bool
	StreakReset bool
}

// Filter selects messages for List.
type Filter struct {
	State  State  // only messages with a recipient in this state
	Domain string // only messages with a recipient at this domain
	Rcpt   string // only messages with this recipient (case-insensitive)
	Tag    string // only messages with this tag (exact)
	Sender string // only messages from this envelope sender (case-insensitive)
	// Since and Until bound the arrival time (Since inclusive, Until
	// exclusive); zero: unbounded. IDs sort by arrival, so the scan
	// starts at Since and stops at Until.
	Since, Until time.Time
	After        string // resume after this ID (in the scan's direction)
	Limit        int    // 0: no limit
	// Newest lists newest first (After then means "older than").
	Newest bool
	// Scan bounds the messages examined (0: no bound), so a search on
	// a large queue answers in bounded time; Page.Resume continues it.
	Scan int
}

// Page is one bounded listing. Resume is the last message examined when
// the listing stopped at Limit or Scan (pass it as After to continue), ""
// when it reached the end of the range.
type Page struct {
	Messages []*Message
	Resume   string
}

// Store is the queue's persistence. All methods are safe for concurrent use.
type Store interface {
	// Enqueue assigns m.ID if empty, then commits the message, its body and
	// its recipients' due keys in one synced batch. Recipients already in a
	// final state (Rejected) get no due key. Returns ErrNoSpace when the disk
	// is full.
	Enqueue(ctx context.Context, m *Message, body []byte) error
	// Message returns the envelope and recipient states, or ErrNotFound.
	Message(ctx context.Context, id string) (*Message, error)
	// Body returns the message body (CRLF lines), or ErrNotFound.
	Body(ctx context.Context, id string) ([]byte, error)
	// Timeline returns recipient rcpt's attempts, oldest first.
	Timeline(ctx context.Context, id string, rcpt int) ([]Attempt, error)
	// Due returns up to limit recipients due at or before now, earliest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Due, error)
	// NextDue returns the earliest due time before before (any, when it is
	// zero), false when nothing is due before it. A caller that only
	// wants to know when to wake up passes its longest sleep: the due
	// index past it may hold the tombstones of every lease since the last
	// compaction (leases write their keys ahead, deliveries delete them).
	NextDue(ctx context.Context, before time.Time) (time.Time, bool, error)
	// Lease moves each recipient's due key to Until (Q2), synced.
	Lease(ctx context.Context, leases []Lease) error
	// Apply commits every update in one synced batch (Q3, Q4).
	Apply(ctx context.Context, updates []Update) error
	// List returns messages matching f, ordered by ID (arrival order).
	List(ctx context.Context, f Filter) ([]*Message, error)
	// ListPage is List with where it stopped, for paging and Scan.
	ListPage(ctx context.Context, f Filter) (*Page, error)
	// Suppression returns the entry for addr (any case) if it is active at
	// now, else nil.
	Suppression(ctx context.Context, addr string, now time.Time) (*Suppression, error)
	// Suppress adds or merges an entry, synced.
	Suppress(ctx context.Context, s Suppression) error
	// Unsuppress removes addr's entry; ErrNotFound when there is none.
	Unsuppress(ctx context.Context, addr string) error
	// Streak returns the IDs of the messages whose recipient-side soft
	// failures make up addr's current streak, oldest first.
	Streak(ctx context.Context, addr string) ([]string, error)
	// Suppressions lists entries (expired ones included), ordered by address.
	Suppressions(ctx context.Context, after string, limit int) ([]Suppression, error)
	// SuppressMany adds or merges entries as Suppress does, in one synced
	// batch.
	SuppressMany(ctx context.Context, sups []Suppression) error
	// SuppressionCount counts entries, expired ones included.
	SuppressionCount(ctx context.Context) (int, error)
	// EachRecipient calls fn for every recipient record, pending and
	// retained, from one snapshot; r is only valid during the call.
	EachRecipient(ctx context.Context, fn func(id string, r *Recipient) error) error

	// Operator actions (see Action): each changes one message in one
	// synced batch and returns how many recipients changed; ErrNotFound
	// (wrapped) for an unknown message.
	Hold(ctx context.Context, id string, now time.Time) (int, error)
	Release(ctx context.Context, id string, now time.Time) (int, error)
	Retry(ctx context.Context, id string, now time.Time) (int, error)
	Delete(ctx context.Context, id string, now time.Time) (int, error)
	Bounce(ctx context.Context, id string, now time.Time) (int, error)
	// Operate is the general form, optionally limited to one domain.
	Operate(ctx context.Context, op Operation) (int, error)

	// Check verifies the invariants in the package doc.
	Check(ctx context.Context) error
	Close() error
}

// Outbox is the queue's event log, read by the events package.
type Outbox interface {
	// Events returns up to limit outbox events with Seq > after, in order.
	Events(ctx context.Context, after uint64, limit int) ([]Event, error)
	// Cursor returns consumer name's last handled Seq (0 when new);
	// SetCursor records it (synced). Events every cursor has passed, and
	// older than the retention, may be trimmed by the queue.
	Cursor(ctx context.Context, name string) (uint64, error)
	SetCursor(ctx context.Context, name string, seq uint64) error
}
