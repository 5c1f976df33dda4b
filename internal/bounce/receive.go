package bounce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/feedback"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Store is what Receive changes: the queue applies each report once.
type Store interface {
	ApplyFeedback(ctx context.Context, f queue.Feedback) (queue.FeedbackResult, error)
}

// Options configure a Receiver.
type Options struct {
	Store      Store
	ReturnPath *ReturnPath // nil: no tokens are trusted
	Classifier *policy.Classifier
	TTLs       policy.TTLs
	// ComplaintTTL: how long a complaint suppresses (0: forever).
	ComplaintTTL time.Duration
	Clock        clock.Clock
	Logger       *zap.Logger
	// MaxBytes caps one report (0: feedback.DefaultMaxBytes).
	MaxBytes int
	// OnReport hears each report's kind and whether it matched a message
	// (metrics). Kinds: dsn, complaint, auto_reply, not_bounce.
	OnReport func(kind string, matched bool)
}

// Receiver turns report emails into queue changes.
type Receiver struct{ o Options }

// NewReceiver returns a Receiver; o.Store is required.
func NewReceiver(o Options) *Receiver {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Receiver{o: o}
}

// Envelope is how a report arrived.
type Envelope struct {
	// Rcpts are the envelope recipients (a token names the message).
	Rcpts  []string
	Sender string
	Client string // IP; "" from `mtaq bounce receive`
}

// Result is what one report did.
type Result struct {
	Kind    feedback.Kind          `json:"kind"`
	QueueID string                 `json:"queue_id,omitempty"`
	Applied []queue.FeedbackResult `json:"applied"`
}

// Matched reports whether any part of the report matched a message.
func (r Result) Matched() bool {
	for _, a := range r.Applied {
		if a.Matched {
			return true
		}
	}
	return false
}

// ErrNotEmail: the input is not an email at all; nothing was recorded.
var ErrNotEmail = feedback.ErrNotEmail

// ErrTooBig: the input is over the size limit; nothing was recorded.
var ErrTooBig = feedback.ErrTooBig

// Receive parses raw and applies what it reports, durably, before it
// returns: the caller may answer 250 (or exit 0) once it returns nil.
func (rc *Receiver) Receive(ctx context.Context, raw []byte, env Envelope) (Result, error) {
	rep, err := feedback.Parse(raw, feedback.Options{Classify: rc.classify, MaxBytes: rc.o.MaxBytes})
	if err != nil {
		return Result{}, err
	}
	now := rc.o.Clock.Now()
	sum := sha256.Sum256(raw)
	key := hex.EncodeToString(sum[:16])
	id, verified := rc.messageOf(rep, env)
	res := Result{Kind: rep.Kind, QueueID: id}
	base := queue.Feedback{At: now, QueueID: id, Verified: verified, MessageID: rep.Original.MessageID,
		ReportingMTA: rep.ReportingMTA, Client: env.Client, Subject: rep.Subject}
	var fs []queue.Feedback
	switch rep.Kind {
	case feedback.KindDSN:
		fs = rc.dsn(rep, base, key, now)
	case feedback.KindComplaint:
		// not-spam says the opposite of a complaint: nothing to do.
		if rep.FeedbackType != "not-spam" {
			fs = []queue.Feedback{rc.complaint(rep, base, key, now)}
		}
	}
	for _, f := range fs {
		a, err := rc.o.Store.ApplyFeedback(ctx, f)
		if err != nil {
			return res, fmt.Errorf("applying the report: %w", err)
		}
		res.Applied = append(res.Applied, a)
		rc.log(rep, a)
	}
	if len(fs) == 0 {
		rc.o.Logger.Info("report needs no action", zap.String("kind", string(rep.Kind)), zap.String("client", env.Client),
			zap.String("queue_id", id), zap.String("subject", rep.Subject))
	}
	if rc.o.OnReport != nil {
		rc.o.OnReport(string(rep.Kind), res.Matched())
	}
	return res, nil
}

// messageOf names the message the report is about: an envelope recipient
// that is a valid token first, then a valid token found in the report (a
// complaint to a feedback address carries the original's Return-Path),
// then mtaq's Received line in the returned original, unverified.
func (rc *Receiver) messageOf(rep *feedback.Report, env Envelope) (string, bool) {
	if rc.o.ReturnPath != nil {
		for _, a := range env.Rcpts {
			if id, ok := rc.o.ReturnPath.Token(localPart(a)); ok {
				return id, true
			}
		}
		if t := rep.Original.Token; t != "" {
			if id, ok := rc.o.ReturnPath.Token(t); ok {
				return id, true
			}
		}
	}
	return strings.ToUpper(rep.Original.QueueID), false
}

// dsn makes one Feedback per failed or delayed recipient.
func (rc *Receiver) dsn(rep *feedback.Report, base queue.Feedback, key string, now time.Time) []queue.Feedback {
	var out []queue.Feedback
	for i, r := range rep.Recipients {
		f := base
		switch r.Action {
		case "failed":
			f.Kind = queue.FeedbackBounce
		case "delayed":
			f.Kind = queue.FeedbackDelay
		default:
			continue // delivered, relayed, expanded: nothing went wrong
		}
		f.Key = fmt.Sprintf("%s/%d", key, i)
		f.Rcpt, f.OriginalRcpt = r.Address, r.Original
		if f.Rcpt == "" && len(rep.Recipients) == 1 {
			f.Rcpt = rep.Original.Recipient
		}
		f.Reply = &queue.Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
		if f.Reply.Enhanced == "" {
			f.Reply.Enhanced = r.Status
		}
		if r.RemoteMTA != "" && f.ReportingMTA == "" {
			f.ReportingMTA = r.RemoteMTA
		}
		v := rc.verdict(f.Reply, f.Rcpt)
		f.Class, f.Category = string(v.Class), string(v.Category)
		if f.Kind == queue.FeedbackBounce {
			// The same policy as a reply during delivery, read as a final
			// answer about this recipient: the destination stopped trying.
			o := policy.Decide(policy.Schedule{Expire: time.Nanosecond}, v,
				policy.Attempt{AtRecipient: true, Attempts: 1, Arrived: now.Add(-time.Second), Now: now}, false)
			if o.SuppressReason != "" {
				f.Suppress = &queue.Suppression{Reason: o.SuppressReason, Expires: rc.o.TTLs.Expires(o.SuppressReason, now),
					Reply: f.Reply}
			}
		}
		out = append(out, f)
	}
	return out
}

func (rc *Receiver) complaint(rep *feedback.Report, base queue.Feedback, key string, now time.Time) queue.Feedback {
	f := base
	f.Kind, f.Key, f.FeedbackType = queue.FeedbackComplaint, key, rep.FeedbackType
	for _, r := range rep.Recipients {
		if r.Address != "" {
			f.Rcpt = r.Address
			break
		}
	}
	if f.Rcpt == "" {
		f.Rcpt = rep.Original.Recipient
	}
	f.Category = policy.ReasonComplaint
	f.Suppress = &queue.Suppression{Reason: policy.ReasonComplaint}
	if rc.o.ComplaintTTL > 0 {
		f.Suppress.Expires = now.Add(rc.o.ComplaintTTL)
	}
	return f
}

func (rc *Receiver) verdict(r *queue.Reply, rcpt string) policy.Verdict {
	return rc.o.Classifier.Classify(policy.Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}, domainOf(rcpt))
}

func (rc *Receiver) classify(code int, enhanced, text, domain string) (string, string, bool) {
	v := rc.o.Classifier.Classify(policy.Reply{Code: code, Enhanced: enhanced, Text: text}, domain)
	return string(v.Class), string(v.Category), v.Suppress
}

func (rc *Receiver) log(rep *feedback.Report, a queue.FeedbackResult) {
	fields := []zap.Field{zap.String("kind", a.Kind), zap.String("queue_id", a.QueueID), zap.String("rcpt", a.Rcpt),
		zap.Bool("matched", a.Matched), zap.Bool("suppressed", a.Suppressed), zap.Bool("duplicate", a.Duplicate),
		zap.String("client", a.Client), zap.String("reporting_mta", rep.ReportingMTA)}
	if a.Reply != nil {
		fields = append(fields, zap.String("reply", fmt.Sprintf("%d %s %s", a.Reply.Code, a.Reply.Enhanced, a.Reply.Text)))
	}
	if a.Reason != "" {
		fields = append(fields, zap.String("reason", a.Reason))
	}
	rc.o.Logger.Info("report", fields...)
}

func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}

// IsNotEmail reports whether err means the input was no email at all.
func IsNotEmail(err error) bool { return errors.Is(err, ErrNotEmail) }
