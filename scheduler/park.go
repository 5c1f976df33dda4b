package scheduler

import (
	"context"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// parkDue keeps jobs for parked destinations out of memory: their leases
// move to the probe time instead. That is a local deferral: no attempt is
// counted, the backoff does not advance, nothing counts toward
// suppression. A recipient whose expiry has passed meanwhile expires here,
// so a destination that stays dead cannot keep mail forever.
func (s *Scheduler) parkDue(ctx context.Context, jobs []*job, leases []queue.Lease) ([]*job, []queue.Lease) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	var keep, parked []*job
	until := map[*job]time.Time{}
	for _, j := range jobs {
		if d := s.destFor(j.dest); d.parked(now) {
			s.untake(j)
			parked = append(parked, j)
			until[j] = d.parkedTo
			for _, r := range j.rcpts {
				delete(s.inflight, rkey{j.msg.ID, r.Index})
			}
			continue
		}
		keep = append(keep, j)
	}
	s.mu.Unlock()
	if len(parked) == 0 {
		return jobs, leases
	}
	isParked := map[rkey]time.Time{}
	for _, j := range parked {
		for _, r := range j.rcpts {
			isParked[rkey{j.msg.ID, r.Index}] = until[j]
		}
	}
	kept := leases[:0]
	for _, l := range leases {
		if at, ok := isParked[rkey{l.ID, l.Rcpt}]; ok {
			l.Until = at
		}
		kept = append(kept, l)
	}
	s.expireParked(ctx, parked, now)
	return keep, kept
}

// expireParked ends recipients of parked jobs whose time is up, as the
// last attempt would have: expired, suppressed only if their last reply was
// about the address.
func (s *Scheduler) expireParked(ctx context.Context, parked []*job, now time.Time) {
	var ups []queue.Update
	for _, j := range parked {
		if !s.o.Schedule.Expired(now, j.msg.Arrived) {
			continue
		}
		res := delivery.Result{Enhanced: "4.4.1", Stage: delivery.StageDial,
			Text: "destination parked: its exchangers did not answer (circuit breaker open)"}
		ups = append(ups, s.expireLocal(j.msg, j.rcpts, res, now)...)
	}
	if len(ups) == 0 {
		return
	}
	if err := s.o.Store.Apply(ctx, ups); err != nil {
		s.o.Logger.Error("expiring parked recipients", zap.Error(err))
	}
}

// expireLocal is the expiry of recipients that waited in a local deferral:
// decided from res (a local reason), no attempt counted.
func (s *Scheduler) expireLocal(m *queue.Message, rcpts []queue.Recipient, res delivery.Result, now time.Time) []queue.Update {
	var ups []queue.Update
	for _, r := range rcpts {
		res.Rcpt = r.Address
		v := s.tun.Load().verdicts.classify(policy.Reply{Enhanced: res.Enhanced, Text: res.Text}, r.Domain)
		o := policy.Decide(s.o.Schedule, v, policy.Attempt{Attempts: r.Attempts, Arrived: m.Arrived, Now: now}, r.LastAboutAddress)
		u := s.update(m, r, res, o, now)
		u.CountAttempt = false
		ups = append(ups, u)
		s.logAttempt(m, r, res, o, now, via{})
	}
	return ups
}

// busy reports whether delivery made no attempt because every exchanger
// address was at its connection cap (delivery marks all results or none).
func busy(results []delivery.Result) bool {
	return len(results) > 0 && results[0].Busy
}

// onBusy handles a job delivery did not attempt (Busy): a local deferral.
// The job goes back to the front of its lane, in memory with its lease, and
// the lane waits until one of its jobs ends or BusyWait passes (the slot
// may be freed by another domain's job on the same address). Nothing is
// applied: no attempt counted, backoff and streaks untouched, no signal to
// the breaker. Recipients past their expiry are expired instead; again is
// nil when none is left to wait.
func (s *Scheduler) onBusy(ctx context.Context, j *job, send []queue.Recipient, why delivery.Result,
	updates []queue.Update) (again []queue.Recipient, ups []queue.Update) {
	now := s.o.Clock.Now()
	if s.o.Schedule.Expired(now, j.msg.Arrived) {
		return nil, append(updates, s.expireLocal(j.msg, send, why, now)...)
	}
	s.o.Logger.Debug("local deferral", zap.String("queue_id", j.msg.ID), zap.String("domain", j.domain),
		zap.Int("rcpts", len(send)), zap.String("reason", why.Text))
	return send, updates
}

// noteAnswer keeps the destination's newest reply for its status; it is
// worded only when a status is read (answerText), not once per job.
func (s *Scheduler) noteAnswer(domain string, r delivery.Result) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.destFor(domain)
	d.answer, d.answered = answer{code: r.Code, enhanced: r.Enhanced, text: r.Text}, now
}

// answer is a destination's newest reply, as the job's result gave it.
type answer struct {
	code           int
	enhanced, text string
}

// String words it "421 4.7.0 text", leaving out what is missing.
func (a answer) String() string {
	var parts []string
	if a.code != 0 {
		parts = append(parts, strconv.Itoa(a.code))
	}
	for _, p := range []string{a.enhanced, a.text} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// observe feeds a job's signal to its destination; when the breaker opens,
// the jobs waiting in its lane are parked at once rather than each trying.
func (s *Scheduler) observe(ctx context.Context, domain string, sig signal, reply string, probe bool) {
	if sig == sigNone && !probe {
		return
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	d := s.destFor(domain)
	before, was := d.state(now), *d
	tripped := d.observe(now, sig, reply, probe)
	after := d.state(now)
	s.publish(domain, was, d)
	var leases []queue.Lease
	if tripped {
		leases = s.parkLane(domain, d)
	}
	limit, parkedTo := d.limit, d.parkedTo
	s.mu.Unlock()
	if before != after {
		fields := []zap.Field{zap.String("domain", domain), zap.String("from", before),
			zap.String("to", after), zap.Int("limit", limit), zap.String("reply", reply)}
		if !parkedTo.IsZero() { // a zero time logs as a large negative number
			fields = append(fields, zap.Time("parked_until", parkedTo))
		}
		s.o.Logger.Info("destination state", fields...)
	}
	if len(leases) > 0 {
		if err := s.o.Store.Lease(ctx, leases); err != nil {
			s.o.Logger.Error("parking a destination's queued jobs", zap.String("domain", domain), zap.Error(err))
		}
	}
}

// jobSignal reads a job's results: did the destination take the
// transaction, tell us to slow down, or not answer at all? No host getting
// past its greeting (refused, timed out, 421 at every greeting) is
// "unreachable", which throttles too; DNS trouble says nothing about the
// exchangers.
func jobSignal(results []delivery.Result, verdicts []policy.Verdict) (signal, string) {
	if len(results) == 0 {
		return sigNone, ""
	}
	reached, unreachable, throttled, reply := false, true, false, ""
	for i, r := range results {
		if r.Code == 421 || (i < len(verdicts) && verdicts[i].Category == policy.RateLimited) {
			throttled, reply = true, r.Text
		}
		switch r.Stage {
		case delivery.StageMail, delivery.StageRcpt, delivery.StageData:
			reached, unreachable = true, false
		case delivery.StageResolve:
			unreachable = false
		}
	}
	switch {
	case unreachable:
		return sigUnreachable, results[0].Text
	case throttled:
		return sigThrottled, reply
	case reached:
		return sigOK, ""
	}
	return sigNone, ""
}
