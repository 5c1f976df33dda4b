package conf

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// FillHostname sets an empty Hostname from os.Hostname. Load calls it; a
// caller running on Defaults() without a file calls it before Validate,
// which refuses an empty hostname (EHLO and Received need one).
func (c *Config) FillHostname() error {
	if c.Hostname != "" {
		return nil
	}
	h, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("empty and os.Hostname failed: %w", err)
	}
	c.Hostname = h
	return nil
}

// Validate checks c and returns every problem joined, one per line, each
// naming its key ("delivery.workers: must be at least 1, got 0").
func Validate(c Config) error {
	probs := validate(c)
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// TrustedPrefixes returns submission.trusted_networks parsed; a bare IP is a
// single-host prefix. Entries that do not parse are skipped: call it on a
// validated Config.
func (c Config) TrustedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Submission.TrustedNetworks {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// DNSServerAddrs returns delivery.dns_servers as host:port, adding port 53
// to a bare IP. Entries that do not parse are skipped.
func (c Config) DNSServerAddrs() []string {
	var out []string
	for _, s := range c.Delivery.DNSServers {
		if a, err := dnsServer(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// checker collects problems; each check is one line.
type checker struct{ probs []*Problem }

func (k *checker) add(key, format string, args ...any) {
	k.probs = append(k.probs, &Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (k *checker) atLeast(key string, got, min int64) {
	if got < min {
		k.add(key, "must be at least %d, got %d", min, got)
	}
}

func validate(c Config) []*Problem {
	k := &checker{}
	if c.Hostname == "" {
		k.add("hostname", "must be set (or call FillHostname)")
	} else if !isHostname(c.Hostname) {
		k.add("hostname", "%q is not a valid DNS name", c.Hostname)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		k.add("data_dir", "must not be empty")
	}
	validateSubmission(k, c.Submission)
	if c.Sendmail.QuarantineRetention.Duration <= 0 {
		k.add("sendmail.quarantine_retention", "must be positive, got %v", c.Sendmail.QuarantineRetention.Duration)
	}
	validateDelivery(k, c.Delivery)
	validateRetry(k, c.Retry)
	validateSuppression(k, c.Suppression, c.Queue, c.Alerts)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		k.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Encoding != "json" && c.Log.Encoding != "console" {
		k.add("log.encoding", "must be json or console, got %q", c.Log.Encoding)
	}
	validatePolicy(k, c.Policy)
	validateAuth(k, c.Submission)
	validateAdmin(k, c.Admin)
	validateRelay(k, c.Delivery)
	validatePools(k, c.Delivery)
	validateMetrics(k, c.Metrics)
	validateDSN(k, c.DSN, c.Retry)
	validateWebhooks(k, c.Webhooks)
	validateDKIM(k, c.DKIM)
	validateBounce(k, c.Bounce)
	validateHTTP(k, c.HTTP, c.Submission)
	validateVerify(k, c.Verify)
	validateCluster(k, c.Cluster)
	validateTLSRPT(k, c.TLSRPT)
	return k.probs
}

func validateSubmission(k *checker, s Submission) {
	if len(s.Listen) == 0 {
		k.add("submission.listen", "needs at least one host:port")
	}
	for i, a := range s.Listen {
		if err := checkListen(a); err != nil {
			k.add(fmt.Sprintf("submission.listen[%d]", i), "%v", err)
		}
	}
	for i, n := range s.TrustedNetworks {
		if _, err := parsePrefix(n); err != nil {
			k.add(fmt.Sprintf("submission.trusted_networks[%d]", i),
				"%q is not a CIDR prefix or IP address", n)
		}
	}
	k.atLeast("submission.max_message_bytes", s.MaxMessageBytes, 1024)
	k.atLeast("submission.max_recipients", int64(s.MaxRecipients), 1)
	k.atLeast("submission.max_hops", int64(s.MaxHops), 1)
	total, perIP := cmp.Or(s.MaxConnections, 1000), cmp.Or(s.MaxConnectionsPerIP, 100)
	if total > 0 && perIP > total {
		def := ""
		if s.MaxConnectionsPerIP == 0 {
			def = " (the default)"
		}
		k.add("submission.max_connections_per_ip", "must not exceed max_connections (%d), got %d%s", total, perIP, def)
	}
	if untrusted := s.MaxConnectionsUntrusted; total > 0 && untrusted >= total {
		k.add("submission.max_connections_untrusted",
			"must be below max_connections (%d) so some connections stay for trusted and authenticated clients, got %d",
			total, untrusted)
	}
	if s.MaxSessionDuration.Duration < time.Second {
		k.add("submission.max_session_duration", "must be at least 1s, got %v", s.MaxSessionDuration.Duration)
	}
	validateProxy(k, "submission", s.Proxy)
	k.atLeast("submission.spool_threshold", s.SpoolThreshold, 4096)
	if s.MaxBytesInFlight > 0 && s.MaxBytesInFlight < s.MaxMessageBytes {
		k.add("submission.max_bytes_in_flight",
			"must be at least max_message_bytes (%d), or negative for no limit, got %d", s.MaxMessageBytes, s.MaxBytesInFlight)
	}
}

func validateDelivery(k *checker, d Delivery) {
	for i, s := range d.DNSServers {
		if _, err := dnsServer(s); err != nil {
			k.add(fmt.Sprintf("delivery.dns_servers[%d]", i), "%v", err)
		}
	}
	if d.Port < 1 || d.Port > 65535 {
		k.add("delivery.port", "must be 1..65535, got %d", d.Port)
	}
	k.atLeast("delivery.workers", int64(d.Workers), 1)
	k.atLeast("delivery.per_domain_concurrency", int64(d.PerDomainConcurrency), 1)
	if !(d.PerDomainRate >= 0) { // also catches NaN
		k.add("delivery.per_domain_rate", "must be 0 (no cap) or a positive number of messages per second, got %v", d.PerDomainRate)
	}
	if d.ConnectTimeout.Duration <= 0 {
		k.add("delivery.connect_timeout", "must be positive, got %v", d.ConnectTimeout.Duration)
	}
	if d.GreetingTimeout.Duration <= 0 {
		k.add("delivery.greeting_timeout", "must be positive, got %v", d.GreetingTimeout.Duration)
	}
	if !(d.PerIPShare > 0 && d.PerIPShare <= 1) { // also catches NaN
		k.add("delivery.per_ip_share", "must be in (0, 1], got %v", d.PerIPShare)
	}
}

func validateRetry(k *checker, r Retry) {
	if r.First.Duration <= 0 {
		k.add("retry.first", "must be positive, got %v", r.First.Duration)
	}
	if r.Max.Duration < r.First.Duration {
		k.add("retry.max", "must be at least retry.first (%v), got %v", r.First.Duration, r.Max.Duration)
	}
	if r.Expire.Duration <= r.First.Duration {
		k.add("retry.expire", "must be longer than retry.first (%v), got %v", r.First.Duration, r.Expire.Duration)
	}
	if !(r.Jitter >= 0 && r.Jitter < 1) { // also catches NaN
		k.add("retry.jitter", "must be in [0, 1), got %v", r.Jitter)
	}
}

// checkListen accepts host:port where host is empty, an IP or a DNS name
// and port is 0..65535 (0 picks a free port, useful in tests).
func checkListen(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number 0..65535", a)
	}
	if host != "" && !isIP(host) && !isHostname(host) {
		return fmt.Errorf("%q: host is neither an IP address nor a DNS name", a)
	}
	return nil
}

// dnsServer normalises a resolver address: it must be an IP (resolving the
// resolver would need a resolver), with a port 1..65535 or none (53).
func dnsServer(s string) (string, error) {
	if isIP(s) {
		return net.JoinHostPort(s, "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || !isIP(host) {
		return "", fmt.Errorf("%q is not ip or ip:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port must be 1..65535", s)
	}
	return s, nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// parsePrefix accepts "10.0.0.0/8" or a bare address as a single host.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err
}

// isHostname checks RFC 1123 syntax: dot-separated labels of letters,
// digits and inner hyphens, 1..63 octets each, 253 in all, no trailing dot.
// An all-numeric last label is refused so an IP is not taken for a name.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
