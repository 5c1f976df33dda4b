package scheduler

import (
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/policy"
)

// senderAlarm watches for bursts of sender-side rejections per destination.
// A burst means our side needs fixing (SPF/DKIM/DMARC, IP reputation,
// reverse DNS), not the recipient list, so it is a warning for operators and
// never a suppression.
type senderAlarm struct {
	threshold int
	window    time.Duration

	mu    sync.Mutex
	dests map[string]*destAlarm
}

type destAlarm struct {
	recent  []time.Time // within the window, oldest first
	total   int
	byCat   map[policy.Category]int
	lastErr string
	warned  time.Time // last warning; at most one per window
}

// SenderSideStat is one destination's count of sender-side rejections.
type SenderSideStat struct {
	Domain     string                  `json:"domain"`
	Total      int                     `json:"total"`
	InWindow   int                     `json:"in_window"`
	Categories map[policy.Category]int `json:"categories"`
	LastReply  string                  `json:"last_reply"`
}

func newSenderAlarm(threshold int, window time.Duration) *senderAlarm {
	return &senderAlarm{threshold: threshold, window: window, dests: map[string]*destAlarm{}}
}

// senderSide reports whether a verdict says the destination refused us, not
// the address. Volume limits and size are handled elsewhere.
func senderSide(v policy.Verdict) bool {
	switch v.Category {
	case policy.AuthFailure, policy.BlockedReputation, policy.ReverseDNS, policy.SpamContent,
		policy.PolicyRejected, policy.InvalidSender, policy.RelayDenied:
		return true
	}
	return false
}

// observe counts a sender-side verdict and logs a warning when the count in
// the window reaches the threshold.
func (a *senderAlarm) observe(log *zap.Logger, domain string, v policy.Verdict, res delivery.Result, now time.Time) {
	if !senderSide(v) {
		return
	}
	a.mu.Lock()
	d := a.dests[domain]
	if d == nil {
		d = &destAlarm{byCat: map[policy.Category]int{}}
		a.dests[domain] = d
	}
	d.total++
	d.byCat[v.Category]++
	d.lastErr = res.Text
	d.recent = append(trim(d.recent, now.Add(-a.window)), now)
	fire := len(d.recent) >= a.threshold && now.Sub(d.warned) >= a.window
	if fire {
		d.warned = now
	}
	n := len(d.recent)
	a.mu.Unlock()
	if fire {
		log.Warn("sender-side rejections: fix the sending side, the recipients are not suppressed",
			zap.String("domain", domain), zap.Int("count", n), zap.Duration("window", a.window),
			zap.String("category", string(v.Category)), zap.Int("code", res.Code),
			zap.String("enhanced", res.Enhanced), zap.String("reply", res.Text))
	}
}

func trim(ts []time.Time, since time.Time) []time.Time {
	i := sort.Search(len(ts), func(i int) bool { return ts[i].After(since) })
	return append(ts[:0], ts[i:]...)
}

// stats returns every destination's counts, busiest first.
func (a *senderAlarm) stats(now time.Time) []SenderSideStat {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]SenderSideStat, 0, len(a.dests))
	for dom, d := range a.dests {
		d.recent = trim(d.recent, now.Add(-a.window))
		cats := make(map[policy.Category]int, len(d.byCat))
		for c, n := range d.byCat {
			cats[c] = n
		}
		out = append(out, SenderSideStat{Domain: dom, Total: d.total, InWindow: len(d.recent), Categories: cats, LastReply: d.lastErr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// SenderSideRejections returns, per destination, how often it refused us
// for sender-side reasons (authentication, reputation, ...).
func (s *Scheduler) SenderSideRejections() []SenderSideStat {
	return s.alarm.stats(s.o.Clock.Now())
}
