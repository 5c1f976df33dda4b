package daemon

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/queue"
)

// webhookRunner runs one consumer per [[webhook]] and replaces them on a
// reload: an endpoint whose table changed is stopped (its saved place in
// the outbox stays) and started again with the new settings, a new one
// starts from the oldest kept event, a removed one stops and its place is
// forgotten. Events it had in flight are sent again by its successor:
// delivery stays at least once.
type webhookRunner struct {
	clk   clock.Clock
	store *queue.PebbleStore
	reg   *metrics.Registry
	log   *zap.Logger

	mu   sync.Mutex
	ctx  context.Context // the daemon's, once run; nil before
	runs []*hookRun      // in configuration order
	wg   sync.WaitGroup
}

type hookRun struct {
	conf   conf.Webhook
	hook   *events.Webhook
	cancel context.CancelFunc
	done   chan struct{}
}

func newWebhookRunner(c conf.Config, clk clock.Clock, store *queue.PebbleStore, reg *metrics.Registry, log *zap.Logger) *webhookRunner {
	r := &webhookRunner{clk: clk, store: store, reg: reg, log: log}
	for _, w := range c.Webhooks {
		r.runs = append(r.runs, r.build(w))
	}
	reg.WatchWebhooks(func() []metrics.WebhookState {
		hooks := r.hooks()
		out := make([]metrics.WebhookState, len(hooks))
		for i, h := range hooks {
			st := h.Status()
			out[i] = metrics.WebhookState{Name: st.Name, Backlog: int(st.Backlog), DeadLetters: st.DeadLetters,
				Disabled: st.Disabled}
		}
		return out
	})
	return r
}

func (r *webhookRunner) build(w conf.Webhook) *hookRun {
	name := w.NameOrDefault()
	if w.Secret == "" {
		r.log.Warn("webhook has no secret: its requests are unsigned", zap.String("webhook", name), zap.String("url", w.URL))
	}
	reg := r.reg
	return &hookRun{conf: w, hook: events.NewWebhook(events.WebhookOptions{
		Name: name, URL: w.URL, Events: w.Events, Secret: w.Secret, MaxAge: w.MaxAgeOrDefault(),
		Concurrency: w.ConcurrencyOrDefault(), Store: r.store, Clock: r.clk, Logger: r.log.Named("webhook"),
		OnRequest: func(status int, took time.Duration) { reg.WebhookRequest(name, status, took) },
	})}
}

// hooks is the current set, for the admin API and metrics.
func (r *webhookRunner) hooks() []*events.Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*events.Webhook, len(r.runs))
	for i, h := range r.runs {
		out[i] = h.hook
	}
	return out
}

// cursors are the current webhooks' outbox cursor names.
func (r *webhookRunner) cursors() []string {
	hooks := r.hooks()
	names := make([]string, len(hooks))
	for i, h := range hooks {
		names[i] = h.Name()
	}
	return names
}

// run starts every webhook under ctx and returns when ctx ends and all
// have stopped.
func (r *webhookRunner) run(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	for _, h := range r.runs {
		r.start(h)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.wg.Wait()
}

// start runs h; the caller holds r.mu and r.ctx is set.
func (r *webhookRunner) start(h *hookRun) {
	ctx, cancel := context.WithCancel(r.ctx)
	h.cancel, h.done = cancel, make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(h.done)
		h.hook.Run(ctx)
	}()
}

// stop ends h and waits for it; the caller holds r.mu.
func (r *webhookRunner) stop(h *hookRun) {
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
}

// reload makes the running set match ws (matched by name) and names what
// changed. A webhook's place in the outbox is keyed by its URL: a new
// secret or concurrency resumes where it was; a new URL starts afresh.
func (r *webhookRunner) reload(ws []conf.Webhook) (changed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[string]*hookRun{}
	for _, h := range r.runs {
		old[h.conf.NameOrDefault()] = h
	}
	var next []*hookRun
	for _, w := range ws {
		name := w.NameOrDefault()
		if h := old[name]; h != nil && reflect.DeepEqual(h.conf, w) {
			next = append(next, h)
			delete(old, name)
			continue
		}
		if h := old[name]; h != nil {
			r.stop(h)
			delete(old, name)
		}
		h := r.build(w)
		if r.ctx != nil {
			r.start(h)
		}
		next = append(next, h)
		changed = append(changed, name)
	}
	for name, h := range old {
		r.stop(h)
		changed = append(changed, name)
	}
	r.runs = next
	if r.ctx != nil && len(old) > 0 {
		keep := make([]string, len(next))
		for i, h := range next {
			keep[i] = h.hook.Name()
		}
		forgetWebhooks(r.ctx, r.store, keep, r.log)
	}
	slices.Sort(changed)
	return changed
}
