package daemon

import (
	"context"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/pickup"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// runPickup imports what sendmail left in the maildrop, at start and then
// every second, until ctx ends.
func runPickup(ctx context.Context, c conf.Config, o Options, store queue.Store, sched *scheduler.Scheduler) {
	pickup.New(pickup.Options{
		Dir:             c.MaildropPath(),
		Hostname:        c.Hostname,
		Store:           store,
		Clock:           o.Clock,
		Logger:          o.Logger,
		MaxMessageBytes: c.Submission.MaxMessageBytes,
		MaxRecipients:   c.Submission.MaxRecipients,
		OnQueued:        func(string) { sched.Wake() },
	}).Run(ctx)
}
