package policy

import (
	"slices"
	"time"
)

// Decision is what happens to a recipient after an attempt. The names equal
// the queue's state names on purpose.
type Decision string

// Decisions.
const (
	Delivered Decision = "delivered"
	Deferred  Decision = "deferred"
	Bounced   Decision = "bounced" // hard, address-level: the address is suppressed
	Failed    Decision = "failed"  // hard for this message, address kept
	Expired   Decision = "expired" // still soft when the schedule ran out
)

// Suppression reasons.
const (
	ReasonHardBounce         = "hard_bounce"
	ReasonSoftBounceExpired  = "soft_bounce_expired"
	ReasonSoftBounceRepeated = "soft_bounce_repeated"
	ReasonComplaint          = "complaint"
	ReasonUnsubscribe        = "unsubscribe"
	ReasonManual             = "manual"
	// ReasonUnclassifiedBounce: a 5xx that gave no reason, with no enhanced
	// code, X.0.0 or an X.1.x address code, and nothing naming our host,
	// IP or sender. It is taken at its word, but only for a while
	// (TTLs.Unclassified), so a wrong guess heals itself.
	ReasonUnclassifiedBounce = "unclassified_bounce"
)

// Reasons lists every suppression reason, for validation and docs.
var Reasons = []string{ReasonHardBounce, ReasonUnclassifiedBounce, ReasonSoftBounceExpired,
	ReasonSoftBounceRepeated, ReasonComplaint, ReasonUnsubscribe, ReasonManual}

// Attempt is what policy needs to know about one recipient's attempt.
type Attempt struct {
	// AtRecipient: the reply answered this recipient's RCPT or the DATA it
	// took part in, so it may be about the address. Replies at connection,
	// greeting, EHLO or MAIL are about the destination or the sender.
	AtRecipient bool
	Attempts    int // attempts made, this one included (≥ 1)
	Arrived     time.Time
	Now         time.Time
	Rand        float64 // uniform in [0,1), for jitter
}

// Outcome is the decision for one recipient.
type Outcome struct {
	Decision    Decision
	Verdict     Verdict
	NextAttempt time.Time // when Deferred
	// AboutAddress: a soft reply about the address itself; kept so that
	// expiry can suppress.
	AboutAddress bool
	// SuppressReason is non-empty when the address is to be suppressed.
	SuppressReason string
}

// Decide turns an attempt and the classifier's verdict on its reply into an
// outcome under schedule s. Expiry suppresses only if lastAboutAddress (this
// attempt's or, for a local failure now, an earlier one's) says the address
// was the problem.
func Decide(s Schedule, v Verdict, a Attempt, lastAboutAddress bool) Outcome {
	o := Outcome{Verdict: v}
	switch v.Class {
	case Success:
		o.Decision = Delivered
	case Hard:
		o.Decision = Failed
		if v.Suppress && (a.AtRecipient || v.Side == SideRecipient) {
			o.Decision = Bounced
			o.SuppressReason = HardReason(v)
		}
	default:
		o.AboutAddress = a.AtRecipient && v.Side == SideRecipient
		if !o.AboutAddress && !a.AtRecipient {
			// A destination-level failure says nothing new about the
			// address: keep what the last recipient-level reply said.
			o.AboutAddress = lastAboutAddress
		}
		if s.Expired(a.Now, a.Arrived) {
			o.Decision = Expired
			if o.AboutAddress {
				o.SuppressReason = ReasonSoftBounceExpired
			}
			return o
		}
		o.Decision = Deferred
		o.NextAttempt = s.Next(a.Attempts, a.Now, a.Arrived, a.Rand)
	}
	return o
}

// HardReason is the suppression reason for a suppressing hard verdict: a
// reply that says the address is bad is a hard_bounce; one the classifier
// could not explain (unclassified), or explained only tentatively (the
// learned fallback, Verdict.Tentative), is an unclassified_bounce, which
// lifts by itself.
func HardReason(v Verdict) string {
	if v.Category == Unclassified || v.Tentative() {
		return ReasonUnclassifiedBounce
	}
	return ReasonHardBounce
}

// TTLs says how long a suppression lasts, per reason; 0 means forever.
type TTLs struct {
	HardBounce   time.Duration // default 0: never lifts
	SoftDerived  time.Duration // soft_bounce_expired, soft_bounce_repeated: 30 days
	Unclassified time.Duration // unclassified_bounce: 30 days
}

// DefaultTTLs: a hard bounce's entry never lifts, a soft-derived or
// unclassified one lifts after 30 days (conf's [suppression] defaults).
var DefaultTTLs = TTLs{SoftDerived: 30 * 24 * time.Hour, Unclassified: 30 * 24 * time.Hour}

// Expires returns when an entry made at now for reason lifts (zero: never).
func (t TTLs) Expires(reason string, now time.Time) time.Time {
	var d time.Duration
	switch reason {
	case ReasonHardBounce:
		d = t.HardBounce
	case ReasonSoftBounceExpired, ReasonSoftBounceRepeated:
		d = t.SoftDerived
	case ReasonUnclassifiedBounce:
		d = t.Unclassified
	}
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// StreakChange is what Streak asks the queue to do with an address's
// soft-bounce streak.
type StreakChange int

// Streak changes.
const (
	StreakKeep  StreakChange = iota
	StreakAdd                // count this message
	StreakReset              // a delivery, or the streak was used up
)

// Streak applies the soft-bounce streak rule to outcome o of message id,
// given the messages already counted for the address since its last
// delivery. Only recipient-side soft replies count (mailbox full, disabled
// for now), never greylisting, rate limits or destination trouble; each
// message counts once. The limit-th message suppresses the address now
// (soft_bounce_repeated) instead of at expiry. limit 0 turns the rule off.
func Streak(o Outcome, counted []string, id string, limit int) (Outcome, StreakChange) {
	if o.Decision == Delivered {
		if len(counted) > 0 {
			return o, StreakReset
		}
		return o, StreakKeep
	}
	if limit <= 0 || o.Verdict.Class != Soft || o.Verdict.Side != SideRecipient {
		return o, StreakKeep
	}
	n := len(counted)
	if !slices.Contains(counted, id) {
		n++
	}
	if n < limit {
		return o, StreakAdd
	}
	if o.Decision == Deferred {
		o.Decision = Bounced
		o.NextAttempt = time.Time{}
		o.SuppressReason = ReasonSoftBounceRepeated
	}
	return o, StreakReset
}
