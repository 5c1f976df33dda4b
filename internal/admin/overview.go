package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// ErrNoRollup: the store keeps no rollup (only the Pebble store does).
var ErrNoRollup = errors.New("this store keeps no outcome rollup")

// Overview is the console's first page and `GET /v1/overview`: outcomes
// per hour for the last 24 hours and per UTC day for the last 7, and each
// destination domain's bounce and complaint rates over those 7 days. Read
// from the queue's stored rollup (queue/rollup.go): a few hundred point
// reads whatever the size of the queue.
type Overview struct {
	Now time.Time `json:"now"`
	// Hours has 24 entries, the current hour last; Days 7, today last.
	Hours []OutcomeBucket `json:"hours"`
	Days  []OutcomeBucket `json:"days"`
	// Domains are the destination domains with an outcome in the 7 days,
	// worst level first, then by volume.
	Domains []DomainRates `json:"domains"`
}

// OutcomeBucket is one hour or day of outcomes: delivered, deferred
// (counted attempts), bounced (hard replies and later DSNs), complained.
type OutcomeBucket struct {
	Start time.Time `json:"start"`
	queue.Counts
}

// DomainRates is one destination's outcomes and rates over 7 days.
// BounceRate is bounced / (delivered + bounced); ComplaintRate is
// complained / delivered. Levels are ok, warning or critical against
// WarningRate/CriticalRate (2%, 5%) and ComplaintWarningRate/
// ComplaintCriticalRate (0.1%, 0.3%).
type DomainRates struct {
	Domain string `json:"domain"`
	queue.Counts
	BounceRate     float64 `json:"bounce_rate"`
	BounceLevel    string  `json:"bounce_level"`
	ComplaintRate  float64 `json:"complaint_rate"`
	ComplaintLevel string  `json:"complaint_level"`
}

// Overview reads the rollup.
func (s *Service) Overview(ctx context.Context) (*Overview, error) {
	r, ok := s.store.(queue.Rollups)
	if !ok {
		return nil, ErrNoRollup
	}
	now := s.clock.Now().UTC()
	hour := now.Truncate(time.Hour)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	weekStart := today.AddDate(0, 0, -6)
	hours, err := r.HourlyOutcomes(ctx, weekStart, hour.Add(time.Hour))
	if err != nil {
		return nil, fmt.Errorf("reading the hourly rollup: %w", err)
	}
	ov := &Overview{Now: now, Hours: []OutcomeBucket{}, Days: make([]OutcomeBucket, 7), Domains: []DomainRates{}}
	for i := range ov.Days {
		ov.Days[i].Start = weekStart.AddDate(0, 0, i)
	}
	for _, h := range hours {
		if d := int(h.Hour.Sub(weekStart) / (24 * time.Hour)); d >= 0 && d < 7 {
			ov.Days[d].Counts = sum(ov.Days[d].Counts, h.Counts)
		}
		if !h.Hour.Before(hour.Add(-23 * time.Hour)) {
			ov.Hours = append(ov.Hours, OutcomeBucket{Start: h.Hour, Counts: h.Counts})
		}
	}
	doms, err := r.DomainOutcomes(ctx, weekStart, now)
	if err != nil {
		return nil, fmt.Errorf("reading the per-domain rollup: %w", err)
	}
	for _, d := range doms {
		dr := DomainRates{Domain: d.Domain, Counts: d.Counts,
			BounceRate: rate64(d.Bounced, d.Delivered+d.Bounced), ComplaintRate: rate64(d.Complained, d.Delivered)}
		dr.BounceLevel = RateLevel(dr.BounceRate)
		dr.ComplaintLevel = level(dr.ComplaintRate, ComplaintWarningRate, ComplaintCriticalRate)
		ov.Domains = append(ov.Domains, dr)
	}
	rank := map[string]int{LevelCritical: 0, LevelWarning: 1, LevelOK: 2}
	slices.SortStableFunc(ov.Domains, func(a, b DomainRates) int {
		return cmp.Or(cmp.Compare(min(rank[a.BounceLevel], rank[a.ComplaintLevel]), min(rank[b.BounceLevel], rank[b.ComplaintLevel])),
			cmp.Compare(b.Delivered+b.Bounced, a.Delivered+a.Bounced), cmp.Compare(a.Domain, b.Domain))
	})
	return ov, nil
}

func sum(a, b queue.Counts) queue.Counts {
	return queue.Counts{Delivered: a.Delivered + b.Delivered, Deferred: a.Deferred + b.Deferred,
		Bounced: a.Bounced + b.Bounced, Complained: a.Complained + b.Complained}
}

func rate64(n, of int64) float64 {
	if of <= 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func level(rate, warn, crit float64) string {
	switch {
	case rate >= crit:
		return LevelCritical
	case rate >= warn:
		return LevelWarning
	}
	return LevelOK
}

// DestinationQueue is one destination on the console's Queue page and in
// `GET /v1/destinations`: how many recipients wait for it (the queue's
// stored count) and what the scheduler knows of it (nil when it has no
// state for the domain: nothing attempted since the start).
type DestinationQueue struct {
	Domain  string                       `json:"domain"`
	Waiting int64                        `json:"waiting"`
	Live    *scheduler.DestinationStatus `json:"live,omitempty"`
}

// DestinationQueues lists every domain with waiting recipients or
// scheduler state: throttled and parked first, then by waiting count.
// O(domains): the counts are stored (queue.Rollups.Waiting).
func (s *Service) DestinationQueues(ctx context.Context) ([]DestinationQueue, error) {
	r, ok := s.store.(queue.Rollups)
	if !ok {
		return nil, ErrNoRollup
	}
	waiting, err := r.Waiting(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading waiting counts: %w", err)
	}
	by := map[string]*DestinationQueue{}
	out := make([]*DestinationQueue, 0, len(waiting))
	for _, w := range waiting {
		d := &DestinationQueue{Domain: w.Domain, Waiting: w.Waiting}
		by[w.Domain] = d
		out = append(out, d)
	}
	for _, st := range s.Destinations() {
		st := st
		d := by[st.Domain]
		if d == nil {
			d = &DestinationQueue{Domain: st.Domain}
			by[st.Domain] = d
			out = append(out, d)
		}
		// With [[delivery.pool]] a domain has one state per source
		// address: show the one that holds mail back (parked, throttled).
		if d.Live == nil || (d.Live.State == "ok" && st.State != "ok") {
			d.Live = &st
		}
	}
	busy := func(d *DestinationQueue) int {
		if d.Live != nil && d.Live.State != "ok" {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b *DestinationQueue) int {
		return cmp.Or(cmp.Compare(busy(a), busy(b)), cmp.Compare(b.Waiting, a.Waiting), cmp.Compare(a.Domain, b.Domain))
	})
	res := make([]DestinationQueue, len(out))
	for i, d := range out {
		res[i] = *d
	}
	return res, nil
}
