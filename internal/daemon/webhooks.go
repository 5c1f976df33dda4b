package daemon

import (
	"context"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/events"
	"github.com/mtaq/mtaq/queue"
)

// webhookSet is the daemon's webhooks as the admin API sees them: the
// current set, which a reload may replace.
type webhookSet struct{ current func() []*events.Webhook }

var _ admin.Webhooks = webhookSet{}

func (s webhookSet) find(name string) (*events.Webhook, error) {
	for _, w := range s.current() {
		if w.Status().Name == name {
			return w, nil
		}
	}
	return nil, admin.NoWebhook(name)
}

// List implements admin.Webhooks.
func (s webhookSet) List() []admin.WebhookEntry {
	hooks := s.current()
	out := make([]admin.WebhookEntry, len(hooks))
	for i, w := range hooks {
		st := w.Status()
		out[i] = admin.WebhookEntry{Name: st.Name, URL: st.URL, Backlog: st.Backlog, InFlight: st.InFlight,
			DeadLetters: st.DeadLetters, Disabled: st.Disabled, DisabledReason: st.DisabledReason,
			DisabledAt: when(st.DisabledAt), LastStatus: st.LastStatus, LastError: st.LastError,
			LastErrorAt: when(st.LastErrorAt), Failures: st.Failures, NextRetry: when(st.NextRetry),
			Delivered: st.Delivered, Cursor: st.Cursor, Consumer: events.CursorName(st.URL)}
	}
	return out
}

func when(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Retry implements admin.Webhooks.
func (s webhookSet) Retry(ctx context.Context, name string, dead bool) (*admin.WebhookRetry, error) {
	w, err := s.find(name)
	if err != nil {
		return nil, err
	}
	res, err := w.Retry(ctx, dead)
	if err != nil {
		return nil, err
	}
	return &admin.WebhookRetry{Name: name, Enabled: res.Enabled, Resent: res.Resent, Delivered: res.Delivered,
		Failed: res.Failed}, nil
}

// Test implements admin.Webhooks.
func (s webhookSet) Test(ctx context.Context, name string) (*admin.WebhookTest, error) {
	w, err := s.find(name)
	if err != nil {
		return nil, err
	}
	res, err := w.Test(ctx)
	if err != nil {
		return nil, err
	}
	return &admin.WebhookTest{Name: name, URL: w.Status().URL, Status: res.Status, Error: res.Error,
		DurationMS: float64(res.Took) / float64(time.Millisecond)}, nil
}

// DeadLetters implements admin.Webhooks.
func (s webhookSet) DeadLetters(ctx context.Context, name string, after uint64, limit int) ([]queue.DeadLetter, error) {
	w, err := s.find(name)
	if err != nil {
		return nil, err
	}
	return w.DeadLetters(ctx, after, limit)
}
