package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dsn"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/queue"
)

// newWebhooks builds one webhook per [[webhook]], reporting to reg.
func newWebhooks(c conf.Config, clk clock.Clock, store *queue.PebbleStore, reg *metrics.Registry, log *zap.Logger) []*events.Webhook {
	hooks := make([]*events.Webhook, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		name := w.NameOrDefault()
		hooks = append(hooks, events.NewWebhook(events.WebhookOptions{
			Name: name, URL: w.URL, Events: w.Events, Secret: w.Secret, MaxAge: w.MaxAgeOrDefault(),
			Concurrency: w.ConcurrencyOrDefault(), Store: store, Clock: clk, Logger: log.Named("webhook"),
			OnRequest: func(status int, took time.Duration) { reg.WebhookRequest(name, status, took) },
		}))
		if w.Secret == "" {
			log.Warn("webhook has no secret: its requests are unsigned", zap.String("webhook", name), zap.String("url", w.URL))
		}
	}
	reg.WatchWebhooks(func() []metrics.WebhookState {
		out := make([]metrics.WebhookState, len(hooks))
		for i, h := range hooks {
			st := h.Status()
			out[i] = metrics.WebhookState{Name: st.Name, Backlog: int(st.Backlog), DeadLetters: st.DeadLetters,
				Disabled: st.Disabled}
		}
		return out
	})
	return hooks
}

// runEvents runs every webhook, and feeds the outbox to the DSN sender
// when [dsn] enabled, until ctx ends. With neither it returns at once: the
// outbox still fills (mtaq events tail reads it) and the purge loop trims
// it. Cursors of webhooks removed from the config are deleted first. No
// wake-ups from the scheduler are needed: consumers watch the queue's
// commits.
func runEvents(ctx context.Context, c conf.Config, clk clock.Clock, store *queue.PebbleStore, in *intake.Intake,
	hooks []*events.Webhook, log *zap.Logger) {
	names := make([]string, len(hooks))
	for i, h := range hooks {
		names[i] = h.Name()
	}
	forgetWebhooks(ctx, store, names, log)
	var wg sync.WaitGroup
	for _, h := range hooks {
		wg.Go(func() { h.Run(ctx) })
	}
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
