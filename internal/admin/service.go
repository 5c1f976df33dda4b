package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// Waker is the part of the scheduler the Service needs: look at the queue
// now, after recipients were made due.
type Waker interface{ Wake() }

// Live is the scheduler's in-memory view that stats shows and operators
// steer: per-destination adaptive limits and sender-side rejection counts.
type Live interface {
	Destinations() []scheduler.DestinationStatus
	ResetDestination(domain string) bool
	SenderSideRejections() []scheduler.SenderSideStat
	// Sources is each pool's source addresses and what they sent today
	// against their warm-up caps; nil without pools.
	Sources(ctx context.Context) []scheduler.SourceStat
}

// Options configure a Service.
type Options struct {
	Store queue.Store
	// Scheduler is woken after retry, release and flush; nil is allowed.
	Scheduler Waker
	// Live, when set, adds destination limits and sender-side counts to
	// stats and lets operators reset a destination.
	Live  Live
	Clock clock.Clock // nil: the wall clock
	// TTLs give hard_bounce and soft-derived entries added by hand their
	// configured lifetime; manual, complaint and unsubscribe never expire.
	TTLs   policy.TTLs
	Logger *zap.Logger
	// Unsigned, when set, reports the messages queued unsigned per From
	// domain since start, for stats.
	Unsigned func() map[string]uint64
	// Reports, when set, takes reports and lists kept ones.
	Reports Reports
	// Snapshot, when set, makes Backup possible.
	Snapshot Snapshotter
	// Webhooks, when set, lists, retries and tests the webhooks.
	Webhooks Webhooks
	// Verifier answers Verify and keeps the disposable list; nil: both
	// fail.
	Verifier *verify.Verifier
	// Cluster, set in fleet mode, reports the fleet.
	Cluster func(context.Context) (*ClusterStatus, error)
	// Intake takes messages another node transfers (Transfer); nil: none.
	Intake *intake.Intake
}

// Service carries out API requests inside the daemon.
type Service struct {
	store  queue.Store
	wake   Waker
	live   Live
	clock  clock.Clock
	ttls   atomic.Pointer[policy.TTLs] // SetTTLs on reload
	reload atomic.Pointer[reloader]    // SetReloader
	log    *zap.Logger

	unsigned func() map[string]uint64
	reports  Reports
	snapshot Snapshotter
	webhooks Webhooks
	verifier *verify.Verifier
	cluster  func(context.Context) (*ClusterStatus, error)
	tls      tlsHolder
	intake   *intake.Intake
	drainer  atomic.Pointer[Drainer] // SetDrainer
}

var _ API = (*Service)(nil)

// Page sizes: the default and the most one request may ask for, and the
// page size bulk actions walk the queue with (bounded memory).
const (
	defaultLimit = 1000
	maxLimit     = 10000
	bulkPage     = 500
)

// NewService returns a Service over o.Store.
func NewService(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Service{store: o.Store, wake: o.Scheduler, live: o.Live, clock: o.Clock, log: o.Logger.Named("admin"),
		unsigned: o.Unsigned, reports: o.Reports, snapshot: o.Snapshot, webhooks: o.Webhooks, verifier: o.Verifier,
		cluster: o.Cluster, intake: o.Intake}
	s.SetTTLs(o.TTLs)
	return s
}

// SetTTLs replaces the lifetimes given to suppressions added by hand
// (configuration reload).
func (s *Service) SetTTLs(t policy.TTLs) { s.ttls.Store(&t) }

func limit(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return min(n, maxLimit)
}

// ListQueue implements API. Next is the last ID of a full page.
func (s *Service) ListQueue(ctx context.Context, f QueueFilter) (*QueuePage, error) {
	if f.State != "" && !knownState(queue.State(f.State)) {
		return nil, invalid("unknown state %q (want one of %s)", f.State, stateNames())
	}
	n := limit(f.Limit)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return nil, invalid("until (%s) must be after since (%s)", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	lp, err := s.store.ListPage(ctx, queue.Filter{State: queue.State(f.State), Domain: f.Domain,
		Rcpt: f.Rcpt, Tag: f.Tag, Sender: f.Sender, Since: f.Since, Until: f.Until, After: f.After, Limit: n,
		Newest: f.Newest, Scan: max(f.Scan, 0)})
	if err != nil {
		return nil, fmt.Errorf("listing the queue: %w", err)
	}
	page := &QueuePage{Messages: make([]QueueEntry, 0, len(lp.Messages)), Next: lp.Resume}
	for _, m := range lp.Messages {
		page.Messages = append(page.Messages, entry(m))
	}
	return page, nil
}

// ShowMessage implements API: the entry, every recipient's timeline and
// the header block of the body while the body exists.
func (s *Service) ShowMessage(ctx context.Context, id string) (*MessageDetail, error) {
	m, err := s.store.Message(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, noMessage(id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", id, err)
	}
	d := &MessageDetail{QueueEntry: entry(m), Pool: m.Pool, ClientAddr: m.ClientAddr, Helo: m.Helo, Headers: []Header{}}
	for i := range d.Recipients {
		tl, err := s.store.Timeline(ctx, id, i)
		if err != nil {
			return nil, fmt.Errorf("reading the timeline of %s/%d: %w", id, i, err)
		}
		d.Recipients[i].Timeline = tl
	}
	body, err := s.store.Body(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound): // final: the body is gone (Q4)
	case err != nil:
		return nil, fmt.Errorf("reading the body of %s: %w", id, err)
	default:
		d.Headers = parseHeaders(body)
	}
	return d, nil
}

// Destinations is the scheduler's live view of each destination it knows
// (throttled and parked first), without Stats' pass over the queue; nil
// without a scheduler.
func (s *Service) Destinations() []scheduler.DestinationStatus {
	if s.live == nil {
		return nil
	}
	return s.live.Destinations()
}

// MessageBody implements API.
func (s *Service) MessageBody(ctx context.Context, id string) ([]byte, error) {
	body, err := s.store.Body(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		if _, merr := s.store.Message(ctx, id); merr == nil {
			return nil, &kindError{fmt.Sprintf("message %s has no body any more: every recipient is final", id), ErrNoMessage}
		}
		return nil, noMessage(id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body of %s: %w", id, err)
	}
	return body, nil
}

// QueueAction implements API. One message is one synced batch; --all and
// --domain walk the queue a page at a time.
func (s *Service) QueueAction(ctx context.Context, a QueueAction) (*ActionResult, error) {
	act := queue.Action(a.Action)
	if !queue.ValidAction(act) {
		return nil, invalid("unknown action %q (want retry, hold, release, delete or bounce)", a.Action)
	}
	selectors := 0
	for _, set := range []bool{a.ID != "", a.Domain != "", a.All} {
		if set {
			selectors++
		}
	}
	if selectors != 1 {
		return nil, invalid("%s needs exactly one of a message ID, a domain or all", a.Action)
	}
	var res *ActionResult
	var err error
	if a.ID != "" {
		res, err = s.actOne(ctx, act, a.ID)
	} else {
		res, err = s.actMany(ctx, act, queue.Filter{Domain: a.Domain})
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("queue action", zap.String("action", a.Action), zap.String("queue_id", a.ID),
		zap.String("domain", a.Domain), zap.Bool("all", a.All),
		zap.Int("messages", res.Messages), zap.Int("recipients", res.Recipients))
	if act == queue.ActRetry || act == queue.ActRelease {
		s.wakeScheduler()
	}
	return res, nil
}

func (s *Service) actOne(ctx context.Context, act queue.Action, id string) (*ActionResult, error) {
	n, err := s.store.Operate(ctx, queue.Operation{Action: act, ID: id, Now: s.clock.Now()})
	if errors.Is(err, queue.ErrNotFound) {
		return nil, noMessage(id)
	}
	if err != nil {
		return nil, err
	}
	return &ActionResult{Recipients: n, Messages: min(n, 1)}, nil
}

// actMany applies act to every message f selects (limited to f.Domain's
// recipients), bulkPage messages in memory at a time. A message purged
// between the listing and the action is skipped.
func (s *Service) actMany(ctx context.Context, act queue.Action, f queue.Filter) (*ActionResult, error) {
	res := &ActionResult{}
	f.Limit = bulkPage
	for {
		msgs, err := s.store.List(ctx, f)
		if err != nil {
			return res, fmt.Errorf("listing the queue: %w", err)
		}
		for _, m := range msgs {
			n, err := s.store.Operate(ctx, queue.Operation{Action: act, ID: m.ID, Domain: f.Domain, Now: s.clock.Now()})
			if err != nil && !errors.Is(err, queue.ErrNotFound) {
				return res, err
			}
			res.Recipients += n
			res.Messages += min(n, 1)
		}
		if len(msgs) < f.Limit {
			return res, nil
		}
		f.After = msgs[len(msgs)-1].ID
	}
}

// Flush implements API: every deferred recipient is due now (their
// attempts and backoff are unchanged), then the scheduler looks.
func (s *Service) Flush(ctx context.Context) (*ActionResult, error) {
	res, err := s.actMany(ctx, queue.ActRetry, queue.Filter{State: queue.Deferred})
	if err != nil {
		return nil, err
	}
	s.log.Info("flush", zap.Int("messages", res.Messages), zap.Int("recipients", res.Recipients))
	s.wakeScheduler()
	return res, nil
}

func (s *Service) wakeScheduler() {
	if s.wake != nil {
		s.wake.Wake()
	}
}

// entry converts a stored message into its listing shape.
func entry(m *queue.Message) QueueEntry {
	e := QueueEntry{ID: m.ID, Sender: m.Sender, Arrived: m.Arrived.UTC(), Size: m.Size, Tag: m.Tag, Metadata: m.Metadata,
		Recipients: make([]RecipientEntry, len(m.Recipients))}
	for i, r := range m.Recipients {
		re := RecipientEntry{Address: r.Address, State: string(r.State), Attempts: r.Attempts, LastReply: r.LastReply}
		if r.State.Pending() && !r.NextAttempt.IsZero() {
			t := r.NextAttempt.UTC()
			re.NextAttempt = &t
		}
		e.Recipients[i] = re
	}
	return e
}

func knownState(st queue.State) bool { return slices.Contains(queue.States(), st) }

func stateNames() string {
	states := queue.States()
	names := make([]string, len(states))
	for i, st := range states {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
