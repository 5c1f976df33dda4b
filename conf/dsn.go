package conf

import "time"

// DSN configures the bounce messages (RFC 3464 delivery status
// notifications) mtaq sends to envelope senders. Mail with the null sender
// <> never gets one.
type DSN struct {
	// Enabled sends a DSN to the sender when a recipient fails for good
	// (bounced, failed, expired). Apps that follow webhooks instead can
	// turn it off here for everyone, or per user ([[submission.user]]
	// dsn = false).
	Enabled bool `toml:"enabled"`
	// DelayWarning, when positive, also warns the sender once per recipient
	// still being retried this long after arrival ("4h"); "0s" (the
	// default) sends no warnings.
	DelayWarning Duration `toml:"delay_warning"`
	// MaxHeaders caps the original message's headers quoted in a DSN, in
	// octets; the quote ends at a whole header field.
	MaxHeaders int `toml:"max_headers"`
}

// DefaultDSN is the [dsn] table's defaults.
func DefaultDSN() DSN { return DSN{Enabled: true, MaxHeaders: 16 << 10} }

// maxDSNHeaders bounds dsn.max_headers: a DSN is not the place for a
// message's body.
const maxDSNHeaders = 1 << 20

func validateDSN(k *checker, d DSN, r Retry) {
	if d.DelayWarning.Duration < 0 {
		k.add("dsn.delay_warning", "must not be negative (0s means no warnings), got %v", d.DelayWarning.Duration)
	}
	if d.DelayWarning.Duration > 0 && d.DelayWarning.Duration < time.Minute {
		k.add("dsn.delay_warning", "must be 0s (off) or at least 1m, got %v", d.DelayWarning.Duration)
	}
	if r.Expire.Duration > 0 && d.DelayWarning.Duration >= r.Expire.Duration {
		k.add("dsn.delay_warning", "must be shorter than retry.expire (%v), got %v", r.Expire.Duration,
			d.DelayWarning.Duration)
	}
	if d.MaxHeaders < 1024 || d.MaxHeaders > maxDSNHeaders {
		k.add("dsn.max_headers", "must be between 1024 and %d, got %d", maxDSNHeaders, d.MaxHeaders)
	}
}
