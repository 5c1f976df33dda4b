package daemon

import (
	"context"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/queue"
)

// runEvents feeds the queue's outbox to one handler per [[webhook]] until
// ctx ends. With no webhooks it returns at once: the outbox still fills
// (mtaq events tail reads it) and the purge loop trims it. The dispatcher
// needs no wake-ups from the scheduler: it watches the queue's commits.
func runEvents(ctx context.Context, c conf.Config, clk clock.Clock, store *queue.PebbleStore, log *zap.Logger) {
	if len(c.Webhooks) == 0 {
		return
	}
	hooks := make([]events.Handler, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		hooks = append(hooks, events.NewWebhook(events.WebhookOptions{
			URL: w.URL, Events: w.Events, Secret: w.Secret, MaxAge: w.MaxAgeOrDefault(),
			Clock: clk, Logger: log.Named("webhook"),
		}))
		if w.Secret == "" {
			log.Warn("webhook has no secret: its requests are unsigned", zap.String("url", w.URL))
		}
	}
	events.New(events.Options{Outbox: store, Clock: clk, Logger: log}).Run(ctx, hooks...)
}
