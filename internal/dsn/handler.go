package dsn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// Store is what the handler needs of the queue.
type Store interface {
	Message(ctx context.Context, id string) (*queue.Message, error)
	Body(ctx context.Context, id string) ([]byte, error)
	Timeline(ctx context.Context, id string, rcpt int) ([]queue.Attempt, error)
}

// Options configure the handler.
type Options struct {
	Store Store
	// Intake queues the reports, as every message mtaq accepts.
	Intake   *intake.Intake
	Hostname string
	Clock    clock.Clock
	// DelayWarning: warn the sender once about a recipient still deferred
	// this long after arrival; 0 turns warnings off.
	DelayWarning time.Duration
	// Expire is retry.expire, for Will-Retry-Until; 0 leaves it out.
	Expire     time.Duration
	MaxHeaders int                    // 0: DefaultMaxHeaders
	NewID      func(time.Time) string // nil: queue.NewID
	Logger     *zap.Logger
}

// Handler is the events consumer that sends DSNs. The integrator registers
// it with the dispatcher next to the webhooks.
type Handler struct {
	o   Options
	log *zap.Logger
	// sent holds the Seq of events whose DSN was enqueued in a batch that
	// then failed part-way, so the retry does not send them again.
	mu   sync.Mutex
	sent map[uint64]bool
}

// NewHandler returns a handler; Store, Intake, Hostname and Clock are
// required.
func NewHandler(o Options) *Handler {
	if o.NewID == nil {
		o.NewID = queue.NewID
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Handler{o: o, log: o.Logger.Named("dsn"), sent: map[uint64]bool{}}
}

// Name is the handler's cursor name.
func (h *Handler) Name() string { return "dsn" }

// group is the events of one DSN: one message, one action.
type group struct {
	id     string
	action Action
	first  int // index of its first event in the batch
	evs    []queue.Event
}

// Handle sends one DSN per message and action for evs. On an error it
// returns how many leading events are finished: everything before the
// first group not yet sent.
func (h *Handler) Handle(ctx context.Context, evs []queue.Event) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	groups := h.groups(evs)
	for i, g := range groups {
		if err := h.send(ctx, g); err != nil {
			h.remember(groups[:i])
			return g.first, fmt.Errorf("dsn for %s: %w", g.id, err)
		}
	}
	return len(evs), nil
}

// remember marks the events of sent groups that lie after the first
// unsent one: the dispatcher offers them again.
func (h *Handler) remember(sent []group) {
	for _, g := range sent {
		for _, e := range g.evs {
			h.sent[e.Seq] = true
		}
	}
}

// groups collects the events that call for a DSN, in order of first
// appearance.
func (h *Handler) groups(evs []queue.Event) []group {
	var out []group
	at := map[string]int{}
	for i, e := range evs {
		action, ok := actionFor(e.Kind, h.o.DelayWarning)
		if h.sent[e.Seq] {
			delete(h.sent, e.Seq)
			continue
		}
		if !ok {
			continue
		}
		key := e.ID + "\x00" + string(action)
		j, seen := at[key]
		if !seen {
			j = len(out)
			at[key] = j
			out = append(out, group{id: e.ID, action: action, first: i})
		}
		out[j].evs = append(out[j].evs, e)
	}
	return out
}

func actionFor(kind string, delayWarning time.Duration) (Action, bool) {
	switch kind {
	case queue.EventBounced, queue.EventFailed, queue.EventExpired:
		return Failed, true
	case queue.EventDeferred:
		return Delayed, delayWarning > 0
	}
	return "", false
}

// send builds and enqueues one group's DSN, or decides none is due.
func (h *Handler) send(ctx context.Context, g group) error {
	m, err := h.o.Store.Message(ctx, g.id)
	if errors.Is(err, queue.ErrNotFound) {
		h.log.Warn("no dsn: message gone", zap.String("queue_id", g.id))
		return nil
	}
	if err != nil {
		return err
	}
	if skip := skipReason(m); skip != "" {
		h.log.Debug("no dsn", zap.String("queue_id", g.id), zap.String("reason", skip))
		return nil
	}
	rcpts, err := h.recipients(ctx, m, g)
	if err != nil || len(rcpts) == 0 {
		return err
	}
	err = h.enqueue(ctx, m, rcpts)
	var ie *intake.Error
	if errors.As(err, &ie) && !ie.Temporary() {
		// Intake will refuse this report every time: holding the outbox
		// for it would stop every later DSN.
		h.log.Error("no dsn: intake refused it", zap.String("queue_id", g.id), zap.String("rcpt", m.Sender),
			zap.String("reply", ie.Error()))
		return nil
	}
	return err
}

// skipReason says why m gets no DSN at all, "" when it may get one.
func skipReason(m *queue.Message) string {
	switch {
	case m.Sender == "":
		return "null sender"
	case m.NoDSN:
		return "dsn turned off for this message"
	case !strings.Contains(m.Sender, "@"):
		return "sender has no domain"
	}
	return ""
}

func (h *Handler) enqueue(ctx context.Context, m *queue.Message, rcpts []Recipient) error {
	now := h.o.Clock.Now()
	headers, err := h.headers(ctx, m)
	if err != nil {
		return err
	}
	id := h.o.NewID(now)
	body, err := Build(Input{Hostname: h.o.Hostname, ID: id, Now: now, To: m.Sender, QueueID: m.ID,
		Arrived: m.Arrived, Headers: headers, MaxHeader: h.o.MaxHeaders, Rcpts: rcpts})
	if err != nil {
		return err
	}
	// A report is never reported on (null sender) and goes to the
	// original sender even if its address has non-ASCII parts. It is
	// built complete, so the fix-up finds nothing to add.
	origin := intake.Origin{Kind: intake.DSN, ClientAddr: "local (dsn)", UTF8: true, NoDSN: true, Fixup: true}
	to, err := h.o.Intake.Recipients(ctx, origin, []string{m.Sender})
	if err != nil {
		return err
	}
	acc, err := h.o.Intake.Submit(ctx, intake.Message{ID: id, Origin: origin, Rcpts: to, Data: body})
	if err != nil {
		return err
	}
	h.log.Info("dsn queued", zap.String("queue_id", acc.ID), zap.String("original", m.ID),
		zap.String("rcpt", m.Sender), zap.String("action", string(rcpts[0].Action)), zap.Int("rcpts", len(rcpts)))
	return nil
}

// headers returns the original header block: Message.Headers, or the
// body's header section while the body is still stored.
func (h *Handler) headers(ctx context.Context, m *queue.Message) ([]byte, error) {
	if m.Headers != "" {
		return []byte(m.Headers), nil
	}
	body, err := h.o.Store.Body(ctx, m.ID)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		body = body[:i+2]
	}
	return body, nil
}
