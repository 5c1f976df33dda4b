// Package events tells apps and operators what happened to their mail. It
// reads the queue's outbox (events written in the same batch as the state
// change they report) after a persisted cursor per consumer and hands them
// to consumers: webhooks, DSNs, `mtaq events tail`. Delivery is at least
// once: a consumer's cursor advances only after it has handled an event,
// and a slow or dead consumer never slows mail delivery, it only falls
// behind. It owns no state but its cursors, which live in the queue.
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
