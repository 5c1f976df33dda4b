package metrics

import (
	"context"
	"time"

	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// IntakeStore is the part of queue.Store that the ways mail comes in
// (submission, pickup) use.
type IntakeStore interface {
	Enqueue(ctx context.Context, m *queue.Message, body []byte) error
	Suppression(ctx context.Context, addr string, now time.Time) (*queue.Suppression, error)
}

// CountRejected wraps an intake's store so that each recipient a committed
// Enqueue records rejected (suppressed when the mail came in, nothing to
// send) counts in mtaq_deliveries_total{outcome="rejected"}, like those
// the scheduler rejects later: the scheduler never sees them.
func (r *Registry) CountRejected(s IntakeStore) IntakeStore { return rejectCounter{s, r} }

type rejectCounter struct {
	IntakeStore
	r *Registry
}

func (c rejectCounter) Enqueue(ctx context.Context, m *queue.Message, body []byte) error {
	if err := c.IntakeStore.Enqueue(ctx, m, body); err != nil {
		return err
	}
	for _, rc := range m.Recipients {
		if rc.State == queue.Rejected {
			c.r.Outcome(scheduler.Outcome{Domain: rc.Domain, Decision: string(queue.Rejected), Category: "suppressed"})
		}
	}
	return nil
}
