package events

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// Backoffer is implemented by a Handler that wants its own retry schedule.
// failures counts consecutive failed rounds without progress, from 1.
type Backoffer interface {
	Backoff(failures int) time.Duration
}

// Defaults for Options.
const (
	DefaultBatch       = 100
	DefaultPoll        = time.Second
	defaultBackoffMin  = time.Second
	defaultBackoffMax  = time.Minute
	cursorRetryBackoff = 5 * time.Second
)

// Options configure a Dispatcher.
type Options struct {
	Outbox queue.Outbox
	Clock  clock.Clock // nil: the wall clock
	Logger *zap.Logger // nil: no logs
	// Batch is how many events one Handle call gets; 0 means DefaultBatch.
	Batch int
	// Poll is how long a caught-up handler waits before looking again when
	// nobody woke it; 0 means DefaultPoll.
	Poll time.Duration
}

// Dispatcher feeds the outbox to handlers, each in its own goroutine with
// its own cursor: one handler failing or slow never holds back another,
// nor the queue (the queue only appends).
type Dispatcher struct {
	o     Options
	mu    sync.Mutex
	wakes []chan struct{}
}

// changer is implemented by outboxes that can say when new events are
// readable (queue.PebbleStore), so a caught-up handler reacts at once.
type changer interface{ EventsChanged() <-chan struct{} }

// New returns a Dispatcher; Run starts it.
func New(o Options) *Dispatcher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	o.Logger = o.Logger.Named("events")
	return &Dispatcher{o: o}
}

// Wake makes caught-up handlers look for new events now. Handlers backing
// off after a failure are not woken: a dead endpoint is not hammered.
func (d *Dispatcher) Wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run runs every handler until ctx ends.
func (d *Dispatcher) Run(ctx context.Context, handlers ...Handler) {
	var wg sync.WaitGroup
	for _, h := range handlers {
		w := make(chan struct{}, 1)
		d.mu.Lock()
		d.wakes = append(d.wakes, w)
		d.mu.Unlock()
		wg.Go(func() { d.loop(ctx, h, w) })
	}
	wg.Wait()
}

// consumer is one handler's loop state.
type consumer struct {
	d        *Dispatcher
	h        Handler
	wake     chan struct{}
	cursor   uint64
	failures int
	log      *zap.Logger
}

func (d *Dispatcher) loop(ctx context.Context, h Handler, wake chan struct{}) {
	c := &consumer{d: d, h: h, wake: wake, log: d.o.Logger.With(zap.String("consumer", h.Name()))}
	for {
		cur, err := d.o.Outbox.Cursor(ctx, h.Name())
		if err == nil {
			// Persist it at once: a new consumer is registered, so the
			// queue does not trim events it has not had yet.
			err = d.o.Outbox.SetCursor(ctx, h.Name(), cur)
		}
		if err == nil {
			c.cursor = cur
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Error("reading the event cursor", zap.Error(err))
		if !d.sleep(ctx, cursorRetryBackoff, nil, nil) {
			return
		}
	}
	for ctx.Err() == nil {
		c.round(ctx)
	}
}

// round reads one batch and hands it over, then sleeps as needed.
func (c *consumer) round(ctx context.Context) {
	d := c.d
	var changed <-chan struct{}
	if ch, ok := d.o.Outbox.(changer); ok {
		changed = ch.EventsChanged() // before reading: no missed signal
	}
	evs, err := d.o.Outbox.Events(ctx, c.cursor, d.o.Batch)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("reading events", zap.Uint64("after", c.cursor), zap.Error(err))
			c.fail(ctx)
		}
		return
	}
	if len(evs) == 0 {
		d.sleep(ctx, d.o.Poll, c.wake, changed)
		return
	}
	done, err := c.h.Handle(ctx, evs)
	done = max(0, min(done, len(evs)))
	if done > 0 {
		c.advance(ctx, evs[done-1].Seq)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("handling events", zap.Uint64("seq", evs[done].Seq), zap.Error(err))
		c.fail(ctx)
	case err == nil && done < len(evs):
		c.fail(ctx) // the handler asked for the rest later
	case err == nil:
		c.failures = 0
	}
}

// advance moves the cursor. If persisting it fails the handler goes on
// from memory: a restart then re-delivers (at least once), nothing is lost.
func (c *consumer) advance(ctx context.Context, seq uint64) {
	c.cursor, c.failures = seq, 0
	if err := c.d.o.Outbox.SetCursor(ctx, c.h.Name(), seq); err != nil && ctx.Err() == nil {
		c.log.Error("saving the event cursor", zap.Uint64("seq", seq), zap.Error(err))
	}
}

func (c *consumer) fail(ctx context.Context) {
	c.failures++
	delay := defaultBackoff(c.failures)
	if b, ok := c.h.(Backoffer); ok {
		delay = b.Backoff(c.failures)
	}
	c.d.sleep(ctx, delay, nil, nil)
}

// defaultBackoff is 1s doubling to 1m.
func defaultBackoff(n int) time.Duration {
	return Doubling(defaultBackoffMin, defaultBackoffMax, n)
}

// Doubling returns first doubled n-1 times, capped at most.
func Doubling(first, most time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// sleep waits for d on the clock, a wake-up or a change; false when ctx
// ended.
func (d *Dispatcher) sleep(ctx context.Context, wait time.Duration, wake chan struct{}, changed <-chan struct{}) bool {
	t := d.o.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
	case <-wake:
	case <-changed:
	}
	return true
}
