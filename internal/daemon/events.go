package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dsn"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

// runEvents runs every webhook, and feeds the outbox to the DSN sender
// when [dsn] enabled, until ctx ends. With neither it returns at once: the
// outbox still fills (mtaq events tail reads it) and the purge loop trims
// it. Cursors of webhooks removed from the config are deleted first. No
// wake-ups from the scheduler are needed: consumers watch the queue's
// commits.
func runEvents(ctx context.Context, c conf.Config, clk clock.Clock, store *queue.PebbleStore, in *intake.Intake,
	hooks *webhookRunner, log *zap.Logger) {
	forgetWebhooks(ctx, store, hooks.cursors(), log)
	var wg sync.WaitGroup
	wg.Go(func() { hooks.run(ctx) })
	if c.DSN.Enabled {
		events.New(events.Options{Outbox: store, Clock: clk, Logger: log}).Run(ctx, dsn.NewHandler(dsn.Options{
			Store: store, Intake: in, Hostname: c.Hostname, Clock: clk,
			DelayWarning: c.DSN.DelayWarning.Duration, Expire: c.Retry.Expire.Duration,
			MaxHeaders: c.DSN.MaxHeaders, Logger: log,
		}))
	}
	wg.Wait()
}

// forgetWebhooks deletes the cursors of webhooks no longer configured, so
// they do not hold back trimming for ever.
func forgetWebhooks(ctx context.Context, store *queue.PebbleStore, keep []string, log *zap.Logger) {
	cursors, err := store.Cursors(ctx)
	if err != nil {
		log.Error("reading event cursors", zap.Error(err))
		return
	}
	for name := range cursors {
		if !strings.HasPrefix(name, events.WebhookCursorPrefix) || slices.Contains(keep, name) {
			continue
		}
		if err := store.DeleteCursor(ctx, name); err != nil {
			log.Error("forgetting a removed webhook's cursor", zap.String("cursor", name), zap.Error(err))
		} else {
			log.Info("forgot the cursor of a webhook no longer configured", zap.String("cursor", name))
		}
	}
}
