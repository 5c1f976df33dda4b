package policy

import (
	"math"
	"time"
)

// Schedule is the soft-bounce retry schedule.
type Schedule struct {
	First  time.Duration // wait after the first failed attempt
	Max    time.Duration // cap on one wait
	Expire time.Duration // no attempt after Arrived+Expire
	Jitter float64       // each wait is spread by ±Jitter (0.1 = ±10%)
}

// DefaultSchedule is 5m doubling to 24h, ±10%, expiring 72h after arrival.
var DefaultSchedule = Schedule{First: 5 * time.Minute, Max: 24 * time.Hour, Expire: 72 * time.Hour, Jitter: 0.1}

// Delay returns the wait after n failed attempts (n ≥ 1): First doubled n-1
// times, capped at Max, spread by ±Jitter using r in [0,1). Float maths on
// purpose: integer truncation is how maddy got four 15m retries in a row.
func (s Schedule) Delay(n int, r float64) time.Duration {
	d := float64(s.First) * math.Pow(2, float64(max(n, 1)-1))
	d = min(d, float64(s.Max))
	return time.Duration(d * (1 + s.Jitter*(2*r-1)))
}

// Next returns when to try again after n failed attempts at now, for a
// message that arrived at arrived. The last attempt is placed at the expiry
// time itself, so a recipient gets the whole retry.expire window.
func (s Schedule) Next(n int, now, arrived time.Time, r float64) time.Time {
	next := now.Add(s.Delay(n, r))
	if deadline := arrived.Add(s.Expire); next.After(deadline) {
		next = deadline
	}
	if !next.After(now) {
		next = now
	}
	return next
}

// Expired reports whether no further attempt is allowed at now.
func (s Schedule) Expired(now, arrived time.Time) bool {
	return !now.Before(arrived.Add(s.Expire))
}
