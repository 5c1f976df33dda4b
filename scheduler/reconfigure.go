package scheduler

import (
	"time"

	"github.com/mtaq/mtaq/policy"
)

// Tunables are the options a configuration reload (SIGHUP) may change
// while the scheduler runs: how replies are read (operator rules), what a
// suppression lasts, and the delivery limits. Zero values take the same
// defaults as Options.
type Tunables struct {
	Classifier    *policy.Classifier
	TTLs          policy.TTLs
	SoftStreak    int
	Workers       int
	PerDomain     int
	PerDomainRate float64
}

// tuned is what workers read without the scheduler's lock, swapped whole
// by Reconfigure.
type tuned struct {
	verdicts   *verdictCache
	ttls       policy.TTLs
	softStreak int
}

// Reconfigure puts t in place for the next reply read and the next job
// started. A destination keeps its adaptive state: a throttled one stays
// throttled, under the new ceiling.
func (s *Scheduler) Reconfigure(t Tunables) {
	o := Options{Classifier: t.Classifier, SoftStreak: t.SoftStreak, Workers: t.Workers, PerDomain: t.PerDomain}
	o.fill()
	s.tun.Store(&tuned{verdicts: newVerdictCache(o.Classifier), ttls: t.TTLs, softStreak: o.SoftStreak})
	s.mu.Lock()
	s.o.Workers, s.o.PerDomain, s.o.PerDomainRate = o.Workers, o.PerDomain, t.PerDomainRate
	every := rateInterval(t.PerDomainRate)
	for _, d := range s.dests {
		d.reconfigure(o.PerDomain, every)
	}
	s.mu.Unlock()
	s.Wake() // more workers or a higher limit may start jobs now
}

// rateInterval is the spacing between job starts at rate per second.
func rateInterval(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// reconfigure gives d a new ceiling and spacing. An unthrottled
// destination runs at the new ceiling; a throttled one keeps its lower
// limit unless the ceiling falls below it.
func (d *dest) reconfigure(ceiling int, every time.Duration) {
	if d.limit >= d.max {
		d.limit = ceiling
	}
	d.max = ceiling
	d.limit = min(d.limit, ceiling)
	d.every = every
}
