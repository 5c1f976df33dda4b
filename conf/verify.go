package conf

import (
	"fmt"
	"strings"
	"time"
)

// Verify configures address verification (mtaq verify, POST /v1/verify).
type Verify struct {
	// HistoryWindow: an address delivered this recently is valid
	// (default 720h, 30 days).
	HistoryWindow Duration `toml:"history_window"`
	// SMTPProbe asks the domain's exchanger (EHLO, MAIL FROM:<>, RCPT,
	// QUIT) when nothing else decides. Off by default: probing can get a
	// sending IP blocked.
	SMTPProbe bool `toml:"smtp_probe"`
	// ProbeRate is the most probes per domain per minute (default 10).
	ProbeRate int `toml:"probe_rate"`
	// ProbeSkip lists domains (and their subdomains) never probed:
	// providers that accept every RCPT or penalise probes. Unset: the
	// built-in list (README); [] probes every domain.
	ProbeSkip []string `toml:"probe_skip"`
	// ProbePositiveTTL and ProbeNegativeTTL: how long an accepted (168h)
	// and a refused (24h) mailbox are remembered.
	ProbePositiveTTL Duration `toml:"probe_positive_ttl"`
	ProbeNegativeTTL Duration `toml:"probe_negative_ttl"`
	// Parallel: domains looked up at once in one request (default 64).
	Parallel int `toml:"parallel"`
}

// DefaultVerify is the [verify] table's defaults.
func DefaultVerify() Verify {
	return Verify{HistoryWindow: Duration{30 * 24 * time.Hour}, ProbeRate: 10,
		ProbePositiveTTL: Duration{7 * 24 * time.Hour}, ProbeNegativeTTL: Duration{24 * time.Hour}, Parallel: 64}
}

func validateVerify(k *checker, v Verify) {
	if v.HistoryWindow.Duration <= 0 {
		k.add("verify.history_window", "must be positive, got %v", v.HistoryWindow.Duration)
	}
	if v.ProbeRate < 1 {
		k.add("verify.probe_rate", "must be at least 1 probe per domain per minute, got %d", v.ProbeRate)
	}
	if v.ProbePositiveTTL.Duration <= 0 {
		k.add("verify.probe_positive_ttl", "must be positive, got %v", v.ProbePositiveTTL.Duration)
	}
	if v.ProbeNegativeTTL.Duration <= 0 {
		k.add("verify.probe_negative_ttl", "must be positive, got %v", v.ProbeNegativeTTL.Duration)
	}
	if v.Parallel < 1 || v.Parallel > 1024 {
		k.add("verify.parallel", "must be between 1 and 1024, got %d", v.Parallel)
	}
	for i, d := range v.ProbeSkip {
		if d == "" || strings.ContainsAny(d, " @/") || strings.HasPrefix(d, ".") {
			k.add(fmt.Sprintf("verify.probe_skip[%d]", i), "%q is not a domain", d)
		}
	}
}
