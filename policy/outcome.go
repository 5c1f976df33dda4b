package policy

import "time"

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
	ReasonHardBounce        = "hard_bounce"
	ReasonSoftBounceExpired = "soft_bounce_expired"
	ReasonManual            = "manual"
)

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
			o.SuppressReason = ReasonHardBounce
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

// TTLs says how long a suppression lasts, per reason; 0 means forever.
type TTLs struct {
	HardBounce  time.Duration // default 0: never lifts
	SoftDerived time.Duration // soft_bounce_expired, soft_bounce_repeated: 30 days
}

// DefaultTTLs are the defaults of DESIGN.md.
var DefaultTTLs = TTLs{SoftDerived: 30 * 24 * time.Hour}

// Expires returns when an entry made at now for reason lifts (zero: never).
func (t TTLs) Expires(reason string, now time.Time) time.Time {
	var d time.Duration
	switch reason {
	case ReasonHardBounce:
		d = t.HardBounce
	case ReasonSoftBounceExpired, "soft_bounce_repeated":
		d = t.SoftDerived
	}
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}
