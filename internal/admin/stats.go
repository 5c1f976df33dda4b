package admin

import (
	"cmp"
	"context"
	"fmt"
	"go.uber.org/zap"
	"slices"
	"strings"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// Hard-bounce rate thresholds: mailbox providers start throttling and
// blocking senders around these rates.
const (
	WarningRate  = 0.02
	CriticalRate = 0.05
)

// Rate levels in Stats.Level.
const (
	LevelOK       = "ok"
	LevelWarning  = "warning"
	LevelCritical = "critical"
)

// statsWindow is the span the delivery and bounce rates cover.
const statsWindow = 24 * time.Hour

// Stats implements API. Cost: one pass over every recipient record in the
// store (pending and retained history) from one snapshot, holding one
// record and a counter per destination domain with open recipients; plus a
// key-only count of the suppression list. Seconds for millions of records:
// an operator's command, not something to poll every second.
func (s *Service) Stats(ctx context.Context) (*Stats, error) {
	now := s.clock.Now()
	acc := statsAcc{since: now.Add(-statsWindow), dests: map[string]*destAcc{},
		st: &Stats{States: map[string]int{}, Window: statsWindow.String()}}
	if err := s.store.EachRecipient(ctx, acc.add); err != nil {
		return nil, fmt.Errorf("counting recipients: %w", err)
	}
	n, err := s.store.SuppressionCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("counting suppressions: %w", err)
	}
	st := acc.finish()
	st.Suppressions = n
	if s.live != nil {
		st.Limits, st.SenderSide = s.live.Destinations(), s.live.SenderSideRejections()
		st.Sources = s.live.Sources(ctx)
	}
	if st.Complaints, err = s.complaintStats(ctx, now); err != nil {
		return nil, fmt.Errorf("counting complaints: %w", err)
	}
	if s.unsigned != nil {
		for d, n := range s.unsigned() {
			st.Unsigned = append(st.Unsigned, UnsignedStat{Domain: d, Messages: n})
		}
		slices.SortFunc(st.Unsigned, func(a, b UnsignedStat) int {
			if a.Messages != b.Messages {
				return cmp.Compare(b.Messages, a.Messages)
			}
			return strings.Compare(a.Domain, b.Domain)
		})
	}
	return st, nil
}

// ResetDestination implements API.
func (s *Service) ResetDestination(_ context.Context, domain string) error {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if s.live == nil || !s.live.ResetDestination(domain) {
		return fmt.Errorf("%w: no limits or breaker state for destination %q", ErrInvalid, domain)
	}
	s.log.Info("destination reset by operator", zap.String("domain", domain))
	return nil
}

type destAcc struct {
	ds      DestinationStats
	open    int
	updated time.Time // of the recipient LastCode came from
}

type statsAcc struct {
	since    time.Time
	st       *Stats
	dests    map[string]*destAcc
	finished int // final in the window, excluding rejected and deleted
}

// add counts one recipient. Destinations list domains with open
// recipients (the queue, not the history); LastCode is the newest reply
// among them.
func (a *statsAcc) add(_ string, r *queue.Recipient) error {
	a.st.States[string(r.State)]++
	if r.State.Final() {
		a.addFinished(r)
		return nil
	}
	d := a.dests[r.Domain]
	if d == nil {
		d = &destAcc{ds: DestinationStats{Domain: r.Domain, States: map[string]int{}}}
		a.dests[r.Domain] = d
	}
	d.ds.States[string(r.State)]++
	d.open++
	if r.LastReply != nil && !r.Updated.Before(d.updated) {
		d.ds.LastCode, d.updated = r.LastReply.Code, r.Updated
	}
	return nil
}

// addFinished counts recipients that became final in the window and that
// mail was (or would have been) sent to: rejected and deleted ones never
// reached a destination, so they do not dilute or inflate the rates.
func (a *statsAcc) addFinished(r *queue.Recipient) {
	if r.Updated.Before(a.since) {
		return
	}
	switch r.State {
	case queue.Rejected, queue.Deleted:
		return
	case queue.Delivered:
		a.st.Delivered++
	case queue.Bounced:
		a.st.HardBounced++
	}
	a.finished++
}

func (a *statsAcc) finish() *Stats {
	st := a.st
	st.Finished = a.finished
	if a.finished > 0 {
		st.DeliveryRate = float64(st.Delivered) / float64(a.finished)
		st.HardBounceRate = float64(st.HardBounced) / float64(a.finished)
	}
	st.Level = RateLevel(st.HardBounceRate)
	list := make([]*destAcc, 0, len(a.dests))
	for _, d := range a.dests {
		list = append(list, d)
	}
	slices.SortFunc(list, func(x, y *destAcc) int {
		return cmp.Or(cmp.Compare(y.open, x.open), cmp.Compare(x.ds.Domain, y.ds.Domain))
	})
	st.Destinations = make([]DestinationStats, len(list))
	for i, d := range list {
		st.Destinations[i] = d.ds
	}
	return st
}

// RateLevel classifies a hard-bounce rate against the thresholds.
func RateLevel(rate float64) string {
	switch {
	case rate >= CriticalRate:
		return LevelCritical
	case rate >= WarningRate:
		return LevelWarning
	}
	return LevelOK
}
