package daemon

import (
	"fmt"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// newVerifier wires [verify]: the queue's suppressions and history, the
// delivery resolver (one DNS cache), the disposable list in data_dir and,
// when smtp_probe is on, probes through the Deliverer.
func newVerifier(c conf.Config, o Options, store *queue.PebbleStore, deliv *delivery.Deliverer,
	classifier *policy.Classifier, reg *metrics.Registry, sched *scheduler.Scheduler) (*verify.Verifier, error) {
	lists, err := verify.LoadLists(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("verify: disposable list: %w", err)
	}
	v := c.Verify
	opts := verify.Options{Store: store, Resolver: o.Resolver, Clock: o.Clock, Logger: o.Logger,
		HistoryWindow: v.HistoryWindow.Duration, Parallel: v.Parallel, Lists: lists,
		OnResult: func(r verify.Verdict) { reg.Verified(string(r)) }}
	if v.SMTPProbe {
		opts.Probe = &verify.ProbeOptions{Enabled: true, Prober: deliv, Classifier: classifier, Rate: v.ProbeRate,
			PositiveTTL: v.ProbePositiveTTL.Duration, NegativeTTL: v.ProbeNegativeTTL.Duration, Skip: v.ProbeSkip,
			OnProbe: reg.Probe, Held: held(sched)}
	}
	return verify.New(opts), nil
}

// held reports a destination the scheduler is holding back (throttled,
// parked or probing its breaker), so a verification probe does not add to
// it.
func held(sched *scheduler.Scheduler) func(domain string) string {
	return func(domain string) string {
		for _, d := range sched.Destinations() {
			if d.Domain == domain && d.State != "ok" {
				return d.State
			}
		}
		return ""
	}
}
