package daemon

import (
	"context"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dsn"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// runEvents feeds the queue's outbox to one handler per [[webhook]], and to
// the DSN sender when [dsn] enabled, until ctx ends. With neither it
// returns at once: the outbox still fills (mtaq events tail reads it) and
// the purge loop trims it. Cursors of
// webhooks removed from the config are deleted first. The dispatcher
// needs no wake-ups from the scheduler: it watches the queue's commits.
func runEvents(ctx context.Context, c conf.Config, clk clock.Clock, store *queue.PebbleStore, in *intake.Intake, log *zap.Logger) {
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
	forgetWebhooks(ctx, store, hooks, log)
	handlers := hooks
	if c.DSN.Enabled {
		handlers = append(handlers, dsn.NewHandler(dsn.Options{
			Store: store, Intake: in, Hostname: c.Hostname, Clock: clk,
			DelayWarning: c.DSN.DelayWarning.Duration, Expire: c.Retry.Expire.Duration,
			MaxHeaders: c.DSN.MaxHeaders, Logger: log,
		}))
	}
	if len(handlers) == 0 {
		return
	}
	events.New(events.Options{Outbox: store, Clock: clk, Logger: log}).Run(ctx, handlers...)
}

// webhookBacklog is how many events the slowest webhook has yet to
// deliver, for the mtaq_webhook_backlog gauge.
func webhookBacklog(store *queue.PebbleStore) func() int {
	return func() int {
		cursors, err := store.Cursors(context.Background())
		if err != nil {
			return 0
		}
		last, behind := store.LastEvent(), uint64(0)
		for name, seq := range cursors {
			if strings.HasPrefix(name, events.WebhookCursorPrefix) && last > seq {
				behind = max(behind, last-seq)
			}
		}
		return int(behind)
	}
}

// forgetWebhooks deletes the cursors of webhooks no longer configured, so
// they do not hold back trimming for ever.
func forgetWebhooks(ctx context.Context, store *queue.PebbleStore, hooks []events.Handler, log *zap.Logger) {
	cursors, err := store.Cursors(ctx)
	if err != nil {
		log.Error("reading event cursors", zap.Error(err))
		return
	}
	for name := range cursors {
		if !strings.HasPrefix(name, events.WebhookCursorPrefix) ||
			slices.ContainsFunc(hooks, func(h events.Handler) bool { return h.Name() == name }) {
			continue
		}
		if err := store.DeleteCursor(ctx, name); err != nil {
			log.Error("forgetting a removed webhook's cursor", zap.String("cursor", name), zap.Error(err))
		} else {
			log.Info("forgot the cursor of a webhook no longer configured", zap.String("cursor", name))
		}
	}
}
