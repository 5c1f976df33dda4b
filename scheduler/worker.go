package scheduler

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// run attempts one job and applies every recipient's outcome in one batch.
func (s *Scheduler) run(ctx context.Context, j *job) {
	defer s.wg.Done()
	var again []queue.Recipient // set when the job waits again in its lane (Busy)
	defer func() { s.done(j, again) }()
	updates, send := s.screen(ctx, j)
	if len(send) > 0 {
		body, err := s.o.Store.Body(ctx, j.msg.ID)
		if err != nil {
			s.o.Logger.Error("loading a body", zap.String("queue_id", j.msg.ID), zap.Error(err))
			return // the lease retries it later
		}
		sender := j.msg.Sender
		if s.o.ReturnPath != nil {
			sender = s.o.ReturnPath(j.msg)
		}
		start := s.o.Clock.Now()
		results := s.o.Deliverer.Deliver(ctx, delivery.Job{
			MessageID: j.msg.ID, Domain: j.domain, Sender: sender,
			Rcpts: addresses(send), Body: body, Source: j.via.src.IP, EHLO: j.via.src.EHLO,
		})
		if ctx.Err() != nil {
			return // shutting down: not a verdict on the address; the lease retries
		}
		if busy(results) {
			again, updates = s.onBusy(ctx, j, send, results[0], updates)
			if j.probe {
				s.observe(ctx, j.dest, sigNone, "", true) // nothing sent: let another probe go
			}
		} else {
			ups, verdicts := s.decide(j.msg, send, results, start, j.via)
			updates = append(updates, ups...)
			sig, reply := jobSignal(results, verdicts)
			s.noteAnswer(j.dest, results[0])
			s.observe(ctx, j.dest, sig, reply, j.probe)
		}
	} else if j.probe {
		s.observe(ctx, j.dest, sigNone, "", true) // nothing sent: let another probe go
	}
	if len(updates) == 0 {
		return
	}
	if err := s.o.Store.Apply(ctx, updates); err != nil {
		s.o.Logger.Error("recording attempt results", zap.String("queue_id", j.msg.ID), zap.Error(err))
	}
}

// screen splits a job's recipients into those to send and updates for
// those suppressed since they were queued: they are recorded as rejected
// and nothing goes out to them.
func (s *Scheduler) screen(ctx context.Context, j *job) ([]queue.Update, []queue.Recipient) {
	now := s.o.Clock.Now()
	var ups []queue.Update
	var send []queue.Recipient
	for _, r := range j.rcpts {
		sup, err := s.o.Store.Suppression(ctx, r.Address, now)
		if err != nil || sup == nil {
			send = append(send, r) // a lookup error must not lose mail
			continue
		}
		text := fmt.Sprintf("recipient address suppressed (%s since %s)", sup.Reason, sup.Created.UTC().Format(time.RFC3339))
		ups = append(ups, queue.Update{
			ID: j.msg.ID, Rcpt: r.Index, State: queue.Rejected,
			Attempt: &queue.Attempt{At: now, Decision: string(queue.Rejected),
				Reply: queue.Reply{Enhanced: "5.7.1", Text: text}},
		})
		s.o.MailLog.Info("rejected", zap.String("queue_id", j.msg.ID), zap.String("rcpt", r.Address),
			zap.String("domain", j.domain), zap.String("status", "rejected"), zap.String("reason", sup.Reason))
		s.o.OnOutcome(Outcome{Domain: j.domain, Decision: string(queue.Rejected), Category: "suppressed"})
	}
	return ups, send
}

func addresses(rs []queue.Recipient) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Address
	}
	return out
}

// decide maps each result through policy to a queue update.
func (s *Scheduler) decide(m *queue.Message, rcpts []queue.Recipient, results []delivery.Result, start time.Time,
	v via) ([]queue.Update, []policy.Verdict) {
	now := s.o.Clock.Now()
	ups := make([]queue.Update, 0, len(rcpts))
	verdicts := make([]policy.Verdict, 0, len(rcpts))
	for i, r := range rcpts {
		res := delivery.Result{Rcpt: r.Address, Enhanced: "4.3.0", Text: "no result from delivery", Stage: delivery.StageResolve}
		if i < len(results) {
			res = results[i]
		}
		reply := policy.Reply{Code: res.Code, Enhanced: res.Enhanced, Text: res.Text}
		o := policy.Decide(s.o.Schedule, s.tun.Load().verdicts.classify(reply, r.Domain), policy.Attempt{
			AtRecipient: res.Stage == delivery.StageRcpt || res.Stage == delivery.StageData,
			Attempts:    r.Attempts + 1, Arrived: m.Arrived, Now: now, Rand: s.o.Rand(),
		}, r.LastAboutAddress)
		o, streak := s.streak(m, r, o)
		u := s.update(m, r, res, o, start)
		u.StreakAdd, u.StreakReset = streak == policy.StreakAdd, streak == policy.StreakReset
		u.Attempt.SourceIP, u.Attempt.Pool = v.ip(), v.pool
		ups = append(ups, u)
		s.logAttempt(m, r, res, o, now, v)
		s.alarm.observe(s.o.Logger, r.Domain, o.Verdict, res, now)
		verdicts = append(verdicts, o.Verdict)
	}
	return ups, verdicts
}

func (s *Scheduler) update(m *queue.Message, r queue.Recipient, res delivery.Result, o policy.Outcome, start time.Time) queue.Update {
	qr := &queue.Reply{Code: res.Code, Enhanced: res.Enhanced, Text: res.Text}
	u := queue.Update{
		ID: m.ID, Rcpt: r.Index, Address: r.Address, State: queue.State(o.Decision), NextAttempt: o.NextAttempt,
		Reply: qr, AboutAddress: o.AboutAddress, CountAttempt: true,
		Attempt: &queue.Attempt{
			At: start, Duration: res.Duration, MX: res.MX, IP: res.IP, TLS: res.TLS,
			TLSVersion: res.TLSVersion, TLSCipher: res.TLSCipher, TLSFallback: res.TLSFallback,
			TLSPolicy: string(res.TLSPolicy), TLSPolicyID: res.TLSPolicyID,
			Stage: string(res.Stage), Reply: *qr, Class: string(o.Verdict.Class),
			Category: string(o.Verdict.Category), Decision: string(o.Decision),
			NextAttempt: o.NextAttempt, Suppressed: o.SuppressReason != "",
		},
	}
	if o.SuppressReason != "" {
		now := s.o.Clock.Now()
		u.Suppress = &queue.Suppression{
			Address: r.Address, Reason: o.SuppressReason, Created: now, LastSeen: now,
			Count: 1, Reply: qr, MessageID: m.ID, Expires: s.tun.Load().ttls.Expires(o.SuppressReason, now),
		}
	}
	return u
}

// streak applies the soft-bounce streak rule; it reads the address's
// streak only when the outcome can change it.
func (s *Scheduler) streak(m *queue.Message, r queue.Recipient, o policy.Outcome) (policy.Outcome, policy.StreakChange) {
	v := o.Verdict
	if o.Decision != policy.Delivered && (v.Class != policy.Soft || v.Side != policy.SideRecipient) {
		return o, policy.StreakKeep
	}
	counted, err := s.o.Store.Streak(context.Background(), r.Address)
	if err != nil {
		s.o.Logger.Warn("reading a soft-bounce streak", zap.String("rcpt", r.Address), zap.Error(err))
		return o, policy.StreakKeep
	}
	return policy.Streak(o, counted, m.ID, s.tun.Load().softStreak)
}

// logAttempt writes the one mail-log line per recipient per attempt.
func (s *Scheduler) logAttempt(m *queue.Message, r queue.Recipient, res delivery.Result, o policy.Outcome, now time.Time, v via) {
	s.o.OnOutcome(Outcome{Domain: r.Domain, Decision: string(o.Decision), Category: string(o.Verdict.Category),
		Sent: res.Stage != "" && res.Duration > 0, Duration: res.Duration})
	ce := s.o.MailLog.Check(zap.InfoLevel, "attempt")
	if ce == nil {
		return // the fields are not built for a level that is off
	}
	fields := []zap.Field{
		zap.String("queue_id", m.ID), zap.String("rcpt", r.Address), zap.String("domain", r.Domain),
		zap.String("mx", res.MX), zap.String("ip", res.IP), zap.Int("attempt", r.Attempts+1),
		zap.Duration("delay", now.Sub(m.Arrived)), zap.String("status", string(o.Decision)),
		zap.Int("code", res.Code), zap.String("enhanced", res.Enhanced), zap.String("reply", res.Text),
		zap.String("stage", string(res.Stage)), zap.Bool("tls", res.TLS), zap.String("tls_version", res.TLSVersion),
		zap.String("tls_cipher", res.TLSCipher), zap.Bool("tls_fallback", res.TLSFallback),
		zap.String("tls_policy", string(res.TLSPolicy)), zap.String("category", string(o.Verdict.Category)),
	}
	if v.pool != "" {
		fields = append(fields, zap.String("pool", v.pool), zap.String("source_ip", v.ip()))
	}
	if o.Decision == policy.Deferred {
		fields = append(fields, zap.Time("next_attempt", o.NextAttempt))
	}
	if o.SuppressReason != "" {
		fields = append(fields, zap.String("suppressed", o.SuppressReason))
	}
	ce.Write(fields...)
}
