package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// Store is the part of queue.Store the gauges read.
type Store interface {
	EachRecipient(ctx context.Context, fn func(id string, r *queue.Recipient) error) error
	SuppressionCount(ctx context.Context) (int, error)
}

// Scheduler is the part of *scheduler.Scheduler the gauges read.
type Scheduler interface {
	Destinations() []scheduler.DestinationStatus
	SenderSideRejections() []scheduler.SenderSideStat
}

var (
	queueDesc = prometheus.NewDesc("mtaq_queue_recipients",
		"Recipients waiting in the queue, by state ("+stateNames(queue.OpenStates())+"); refreshed at most every 10s by default.",
		[]string{"state"}, nil)
	suppressionsDesc = prometheus.NewDesc("mtaq_suppressions",
		"Entries in the suppression list, expired ones not yet purged included.", nil, nil)
)

func stateNames(states []queue.State) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// queueCollector serves the queue and suppression gauges from a scan
// cached for cacheFor (M2). The lock is held during a scan, so concurrent
// scrapes wait for it instead of scanning too.
type queueCollector struct {
	store    Store
	clock    clock.Clock
	cacheFor time.Duration
	timeout  time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	at      time.Time // of the cached scan; zero: none
	counts  map[queue.State]int
	supps   int
	scanErr error
}

func newQueueCollector(o Options) *queueCollector {
	return &queueCollector{store: o.Store, clock: o.Clock, cacheFor: o.CacheFor, timeout: o.ScanTimeout, log: o.Logger}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- suppressionsDesc
}

// Collect reports the cached counts; after a failed scan it reports
// nothing (absent, not a wrong zero) and tries again on the next scrape.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.clock.Now(); c.scanErr != nil || c.at.IsZero() || now.Sub(c.at) >= c.cacheFor {
		c.refresh(now)
	}
	if c.scanErr != nil {
		return
	}
	// Open states are reported even when zero; final ones are counted by
	// mtaq_deliveries_total instead.
	for _, s := range queue.OpenStates() {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(c.counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(suppressionsDesc, prometheus.GaugeValue, float64(c.supps))
}

// refresh scans the queue and the suppression list; the caller holds mu.
func (c *queueCollector) refresh(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts := make(map[queue.State]int, len(queue.OpenStates()))
	err := c.store.EachRecipient(ctx, func(_ string, r *queue.Recipient) error {
		if !r.State.Final() {
			counts[r.State]++
		}
		return nil
	})
	supps := 0
	if err == nil {
		supps, err = c.store.SuppressionCount(ctx)
	}
	c.at, c.scanErr = now, err
	if err != nil {
		c.log.Warn("counting the queue for metrics", zap.Error(err))
		return
	}
	c.counts, c.supps = counts, supps
}

var (
	limitDesc = prometheus.NewDesc("mtaq_destination_limit",
		"Current concurrency limit of destinations not in the ok state (at most 50 shown).",
		[]string{"destination"}, nil)
	parkedDesc = prometheus.NewDesc("mtaq_destination_parked",
		"Destinations whose circuit breaker is open (parked).", nil, nil)
	senderSideDesc = prometheus.NewDesc("mtaq_sender_side_rejections_total",
		"Rejections for sender-side reasons (authentication, reputation, ...) by destination and category.",
		[]string{"destination", "category"}, nil)
)

// destCollector reads the scheduler's in-memory destination state at
// scrape time: cheap, no cache.
type destCollector struct {
	sched  Scheduler
	labels *labeler
	top    int
}

func (c *destCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- limitDesc
	ch <- parkedDesc
	ch <- senderSideDesc
}

func (c *destCollector) Collect(ch chan<- prometheus.Metric) {
	parked := 0
	// With source pools a domain is one destination per source address:
	// its series shows the lowest limit among them (one series per label).
	var shown []string
	limits := map[string]int{}
	for _, d := range c.sched.Destinations() { // non-ok ones first
		if d.State == "parked" {
			parked++
		}
		if l, ok := limits[d.Domain]; ok {
			limits[d.Domain] = min(l, d.Limit)
		} else if d.State != "ok" && len(shown) < c.top {
			shown = append(shown, d.Domain)
			limits[d.Domain] = d.Limit
		}
	}
	for _, dom := range shown {
		ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(limits[dom]), dom)
	}
	ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(parked))
	for k, n := range c.senderSide() {
		ch <- prometheus.MustNewConstMetric(senderSideDesc, prometheus.CounterValue, float64(n), k.dest, k.cat)
	}
}

type destCat struct{ dest, cat string }

// senderSide folds the per-domain counts onto the bounded destination
// labels (M1). A domain's series is stable once named; "other" drops by a
// domain's past count when that domain gets its name (rare, and at most
// TopDestinations times), which rate() reads as a counter reset.
func (c *destCollector) senderSide() map[destCat]int {
	out := map[destCat]int{}
	for _, s := range c.sched.SenderSideRejections() {
		dest := c.labels.peek(s.Domain)
		for cat, n := range s.Categories {
			out[destCat{dest, string(cat)}] += n
		}
	}
	return out
}
