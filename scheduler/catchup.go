package scheduler

import (
	"context"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// catchUpCount caps how many overdue recipients are counted at start
// (bounded memory); a larger backlog is paced as if it held this many per
// retry.first, and keeps draining at that rate until it is gone.
const catchUpCount = 100_000

// catchUp paces the retries that were already overdue when Run began
// (the daemon was down longer than their retry wait; new mail is not
// paced, see fresh): instead of all at
// once, they are taken in due order at a steady rate, so N overdue
// recipients start over min(retry.first, N/CatchUpRate). Nothing is
// rewritten for this: a recipient stays on its due key until its turn,
// when it is leased like any other. The window, worker and per-domain
// limits still apply on top.
type catchUp struct {
	before  time.Time // overdue means due strictly before this
	start   time.Time
	rate    float64 // recipients per second
	counted int     // overdue recipients counted at start (≤ catchUpCount)
	taken   int
}

// left is how many counted overdue recipients are not yet taken.
func (c *catchUp) left() int { return max(c.counted-c.taken, 0) }

// beginCatchUp counts what is overdue now and, when there is any, arms
// the pacing. Run calls it once before its first scan.
func (s *Scheduler) beginCatchUp(ctx context.Context) error {
	now := s.o.Clock.Now()
	due, err := s.o.Store.Due(ctx, now.Add(-time.Nanosecond), catchUpCount)
	if err != nil || len(due) == 0 {
		return err
	}
	n := 0
	for _, d := range due {
		if !fresh(d) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	rate := s.o.CatchUpRate
	if first := s.o.Schedule.First.Seconds(); first > 0 {
		rate = max(rate, float64(n)/first)
	}
	window := time.Duration(float64(n) / rate * float64(time.Second))
	s.mu.Lock()
	s.catch = &catchUp{before: now, start: now, rate: rate, counted: n}
	s.mu.Unlock()
	s.o.Logger.Info("spreading overdue recipients", zap.Int("overdue", n),
		zap.Bool("more", n == catchUpCount), zap.Duration("window", window), zap.Float64("per_second", rate))
	return nil
}

// paceDue filters a due scan during catch-up: overdue recipients pass only
// up to the budget earned so far, later ones all pass. It ends the
// catch-up once a scan finds nothing overdue.
func (s *Scheduler) paceDue(due []queue.Due, now time.Time, room int) []queue.Due {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.catch
	if c == nil {
		return due
	}
	if len(due) == 0 || !due[0].At.Before(c.before) {
		s.catch = nil
		s.o.Logger.Info("overdue recipients all started", zap.Int("started", c.taken),
			zap.Duration("took", now.Sub(c.start)))
		return due
	}
	// Overdue keys sort first, so with budget ≤ room each one passed is
	// taken (leased) by group.
	budget := min(int(c.rate*now.Sub(c.start).Seconds())+1-c.taken, room)
	out := due[:0:0]
	for _, d := range due {
		if d.At.Before(c.before) && !fresh(d) {
			if _, busy := s.inflight[rkey{d.ID, d.Rcpt}]; !busy {
				if budget <= 0 {
					continue
				}
				budget--
				c.taken++
			}
		}
		out = append(out, d)
	}
	return out
}

// catchUpScan returns how many more due keys a scan must read to see past
// the overdue ones still waiting, and whether a catch-up is on.
func (s *Scheduler) catchUpScan() (extra int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catch == nil {
		return 0, false
	}
	return s.catch.left(), true
}

// catchUpWait returns how long the loop may sleep before the pacing lets
// the next overdue recipient go; ok is false when no catch-up is on.
// Ticks are at least catchUpTick apart so a fast rate takes small batches
// rather than one scan per recipient.
func (s *Scheduler) catchUpWait(now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.catch
	if c == nil {
		return 0, false
	}
	next := c.start.Add(time.Duration(math.Ceil(float64(c.taken) / c.rate * float64(time.Second))))
	return max(next.Sub(now), catchUpTick), true
}

const catchUpTick = 250 * time.Millisecond

// fresh reports a recipient never attempted nor leased: it is due at its
// message's arrival, which the queue ID carries to the millisecond. New
// mail queued before a restart is not retry traffic and is not paced: it
// goes as fast as the destination limits allow, as it would have.
func fresh(d queue.Due) bool {
	t, ok := queue.IDTime(d.ID)
	return ok && !d.At.Before(t) && d.At.Sub(t) < time.Millisecond
}
