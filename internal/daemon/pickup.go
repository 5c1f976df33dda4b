package daemon

import (
	"path/filepath"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/pickup"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// QuarantineDir is where pickup keeps refused maildrop files: inside
// data_dir, where no other user can reach.
func QuarantineDir(c conf.Config) string { return filepath.Join(c.DataDir, "quarantine") }

// openPickup prepares the maildrop and the quarantine; an unsafe maildrop
// (another user's, or under a directory every user can write) stops the
// start.
func openPickup(c conf.Config, o Options, store queue.Store, sched *scheduler.Scheduler) (*pickup.Pickup, error) {
	return pickup.Open(pickup.Options{
		Dir:                 c.MaildropPath(),
		QuarantineDir:       QuarantineDir(c),
		QuarantineRetention: c.Sendmail.QuarantineRetention.Duration,
		Hostname:            c.Hostname,
		Store:               store,
		Clock:               o.Clock,
		Logger:              o.Logger,
		MaxMessageBytes:     c.Submission.MaxMessageBytes,
		MaxRecipients:       c.Submission.MaxRecipients,
		OnQueued:            func(string) { sched.Wake() },
	})
}
