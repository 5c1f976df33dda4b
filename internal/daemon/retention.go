package daemon

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// purgeEvery is how often finished messages past retention are removed.
const purgeEvery = 10 * time.Minute

// purger is the part of the queue the retention loop needs.
type purger interface {
	Purge(ctx context.Context, before time.Time) (int, error)
	// TrimEvents drops outbox events past retention that every consumer
	// has handled.
	TrimEvents(ctx context.Context, before time.Time) (int, error)
	// TrimFeedback drops kept reports past retention.
	TrimFeedback(ctx context.Context, before time.Time) (int, error)
	// TrimIdempotency drops the HTTP API's remembered responses that
	// expired before now.
	TrimIdempotency(ctx context.Context, now time.Time) (int, error)
	// TrimDeadLetters drops webhooks' dead letters past retention.
	TrimDeadLetters(ctx context.Context, before time.Time) (int, error)
	// TrimHistory drops per-address delivery history past its horizon.
	TrimHistory(ctx context.Context, before time.Time) (int, error)
	// TrimRollup drops the Overview's outcome counters past 35 days.
	TrimRollup(ctx context.Context, now time.Time) error
}

var _ purger = (*queue.PebbleStore)(nil)

// purgeLoop removes the records of messages that became final more than
// retention ago, so the timeline answers "why did this not arrive" for that
// long and the database does not grow without bound.
// Delivery history is kept for history (the longer of retention and
// verify.history_window), so verification sees a month of deliveries
// even with a week of retention. trimmedDead, when set, is called after
// dead letters were trimmed.
func purgeLoop(ctx context.Context, p purger, clk clock.Clock, retention, history time.Duration, log *zap.Logger, trimmedDead func(context.Context)) {
	for {
		n, err := p.Purge(ctx, clk.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purging finished messages", zap.Error(err))
		case n > 0:
			log.Info("purged finished messages past retention", zap.Int("messages", n), zap.Duration("retention", retention))
		}
		if n, err := p.TrimEvents(ctx, clk.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Error("trimming the event outbox", zap.Error(err))
		} else if n > 0 {
			log.Info("trimmed events past retention", zap.Int("events", n))
		}
		if n, err := p.TrimFeedback(ctx, clk.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Error("trimming kept reports", zap.Error(err))
		} else if n > 0 {
			log.Info("trimmed reports past retention", zap.Int("reports", n))
		}
		if n, err := p.TrimIdempotency(ctx, clk.Now()); err != nil && ctx.Err() == nil {
			log.Error("trimming idempotency keys", zap.Error(err))
		} else if n > 0 {
			log.Debug("trimmed expired idempotency keys", zap.Int("keys", n))
		}
		if n, err := p.TrimDeadLetters(ctx, clk.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Error("trimming webhook dead letters", zap.Error(err))
		} else if n > 0 {
			log.Warn("dropped webhook dead letters past retention", zap.Int("dead_letters", n))
			if trimmedDead != nil {
				trimmedDead(ctx)
			}
		}
		if n, err := p.TrimHistory(ctx, clk.Now().Add(-history)); err != nil && ctx.Err() == nil {
			log.Error("trimming delivery history", zap.Error(err))
		} else if n > 0 {
			log.Info("trimmed delivery history", zap.Int("addresses", n))
		}
		if err := p.TrimRollup(ctx, clk.Now()); err != nil && ctx.Err() == nil {
			log.Error("trimming the outcome rollup", zap.Error(err))
		}
		if !clock.Sleep(ctx, clk, purgeEvery) {
			return
		}
	}
}
