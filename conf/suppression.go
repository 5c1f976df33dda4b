package conf

import "github.com/mtaq/mtaq/policy"

// Suppression configures the suppression list.
type Suppression struct {
	// HardBounceTTL: how long a hard_bounce entry lasts; 0 means forever.
	// "168h" gives a 7-day block that lifts by itself.
	HardBounceTTL Duration `toml:"hard_bounce_ttl"`
	// SoftBounceTTL: how long soft_bounce_expired and soft_bounce_repeated
	// entries last (default 720h, 30 days); 0 means forever.
	SoftBounceTTL Duration `toml:"soft_bounce_ttl"`
	// UnclassifiedTTL: how long an unclassified_bounce entry lasts (a 5xx
	// that gave no reason; default 720h, 30 days); 0 means forever.
	UnclassifiedTTL Duration `toml:"unclassified_ttl"`
	// SoftStreak: suppress an address after recipient-side soft failures on
	// this many distinct messages in a row; 0 turns the rule off.
	SoftStreak int `toml:"soft_streak"`
	// OnSuppressed: "record" accepts the message and records the recipient
	// as rejected (nothing is sent); "refuse" answers 550 5.7.1 at RCPT.
	OnSuppressed string `toml:"on_suppressed"`
}

// TTLs are the suppression lifetimes per reason, for policy.TTLs.Expires.
func (s Suppression) TTLs() policy.TTLs {
	return policy.TTLs{HardBounce: s.HardBounceTTL.Duration, SoftDerived: s.SoftBounceTTL.Duration,
		Unclassified: s.UnclassifiedTTL.Duration}
}

// Queue configures what the queue keeps.
type Queue struct {
	// Retention: how long a finished message's envelope and timelines stay
	// for `why did this not arrive` questions (default 168h).
	Retention Duration `toml:"retention"`
	// MinFreeBytes is the disk space under data_dir that new mail may not
	// use: below it submission answers 452 4.3.1 and sendmail mail waits in
	// the maildrop, while deliveries, which free space, still commit.
	// 0 means 64 MiB; negative turns the check off.
	MinFreeBytes int64 `toml:"min_free_bytes"`
}

// minFreeFloor: a smaller positive reserve cannot hold what the queue
// writes while it drains (leases, attempt records, a WAL rotation).
const minFreeFloor = 1 << 20

// Alerts configures warnings for operators.
type Alerts struct {
	// SenderSideThreshold sender-side rejections (authentication,
	// reputation, ...) at one destination within SenderSideWindow log a
	// warning: our side needs fixing.
	SenderSideThreshold int      `toml:"sender_side_threshold"`
	SenderSideWindow    Duration `toml:"sender_side_window"`
}

func validateSuppression(k *checker, s Suppression, q Queue, a Alerts) {
	if s.HardBounceTTL.Duration < 0 {
		k.add("suppression.hard_bounce_ttl", "must not be negative (0 means never), got %v", s.HardBounceTTL.Duration)
	}
	if s.SoftBounceTTL.Duration < 0 {
		k.add("suppression.soft_bounce_ttl", "must not be negative (0 means never), got %v", s.SoftBounceTTL.Duration)
	}
	if s.UnclassifiedTTL.Duration < 0 {
		k.add("suppression.unclassified_ttl", "must not be negative (0 means never), got %v", s.UnclassifiedTTL.Duration)
	}
	if s.SoftStreak < 0 {
		k.add("suppression.soft_streak", "must be 0 (off) or more, got %d", s.SoftStreak)
	}
	if s.OnSuppressed != "record" && s.OnSuppressed != "refuse" {
		k.add("suppression.on_suppressed", `must be "record" or "refuse", got %q`, s.OnSuppressed)
	}
	if q.Retention.Duration <= 0 {
		k.add("queue.retention", "must be positive, got %v", q.Retention.Duration)
	}
	if q.MinFreeBytes > 0 && q.MinFreeBytes < minFreeFloor {
		k.add("queue.min_free_bytes", "must be 0 (default 64 MiB), negative (no check) or at least %d, got %d",
			int64(minFreeFloor), q.MinFreeBytes)
	}
	k.atLeast("alerts.sender_side_threshold", int64(a.SenderSideThreshold), 1)
	if a.SenderSideWindow.Duration <= 0 {
		k.add("alerts.sender_side_window", "must be positive, got %v", a.SenderSideWindow.Duration)
	}
}
