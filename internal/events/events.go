// Package events tells apps and operators what happened to their mail. It
// reads the queue's outbox (events written in the same batch as the state
// change they report) after a persisted cursor per consumer and hands them
// to consumers: webhooks (Webhook: concurrent, in order per recipient,
// with dead letters and a hold after 410 Gone) and DSNs (through the
// Dispatcher). Delivery is at least once: a consumer's cursor advances
// only past events it has settled, and a slow or dead consumer never slows
// mail delivery, it only falls behind. Its state (cursors, dead letters,
// holds) lives in the queue; signing is package webhook's.
package events

import (
	"context"

	"github.com/mtaq/mtaq/queue"
)

// Handler consumes events in order. Handle returns the number of events it
// has finished with (a prefix of evs); the rest are offered again later.
// An error is logged and the same events are retried after a backoff.
type Handler interface {
	Name() string // cursor name, stable across restarts
	Handle(ctx context.Context, evs []queue.Event) (done int, err error)
}
