package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Prober runs EHLO, MAIL FROM:<>, RCPT TO for each of rcpts and QUIT
// against domain's exchangers; delivery.Deliverer.Probe is the one mtaq
// uses, so its failover, per-IP caps and breakers apply. One Result per
// rcpt, in order.
type Prober interface {
	Probe(ctx context.Context, domain string, rcpts []string) []delivery.Result
}

// Probe defaults.
const (
	DefaultProbeRate        = 10 // per domain per minute
	DefaultProbePositiveTTL = 7 * 24 * time.Hour
	DefaultProbeNegativeTTL = 24 * time.Hour
	// probeCacheMax bounds each probe cache; past it expired entries go,
	// then arbitrary ones.
	probeCacheMax = 100000
)

// DefaultProbeSkip are providers that accept every RCPT or penalise
// probing: a probe there says nothing, or costs reputation.
var DefaultProbeSkip = []string{
	"gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "aol.com",
	"hotmail.com", "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
	"yahoo.co.uk", "hotmail.co.uk", "yahoo.fr", "hotmail.fr",
}

// ProbeOptions configure the SMTP probe. It is off unless Enabled.
type ProbeOptions struct {
	Enabled bool
	Prober  Prober
	// Classifier reads the replies as delivery's are read (operator
	// rules included); nil: the built-in rules.
	Classifier *policy.Classifier
	// Rate is the most probes per domain per minute (default 10).
	Rate int
	// PositiveTTL and NegativeTTL are how long an accepted (7 days) and a
	// refused (1 day) mailbox, and a domain's catch-all reading (the
	// negative TTL), are remembered.
	PositiveTTL, NegativeTTL time.Duration
	// Skip lists domains (and their subdomains) never probed; nil:
	// DefaultProbeSkip.
	Skip []string
	// RandomLocal makes the random local part of the catch-all test;
	// default 16 hex digits from crypto/rand.
	RandomLocal func() string
	// OnProbe hears each probe's outcome code (metrics); may be nil.
	OnProbe func(code string)
	// Held names why the domain must not be contacted now ("throttled",
	// "parked": the scheduler's adaptive limit or circuit breaker), or
	// "" to go ahead; nil: never held. A probe must not add to the load of
	// a destination that is already pushing back.
	Held func(domain string) string
}

type cached struct {
	reason  Reason
	expires time.Time
}

// prober holds the probe's caches and rate windows.
type prober struct {
	o     ProbeOptions
	clock clock.Clock
	skip  map[string]bool

	mu       sync.Mutex
	addrs    map[string]cached      // per address: mailbox_exists / mailbox_rejected
	catchAll map[string]cached      // per domain: catch_all (risky) or not (Verdict "")
	window   map[string][]time.Time // per domain: probe times in the last minute
}

func newProber(o ProbeOptions, clk clock.Clock) *prober {
	if o.Rate <= 0 {
		o.Rate = DefaultProbeRate
	}
	if o.PositiveTTL <= 0 {
		o.PositiveTTL = DefaultProbePositiveTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = DefaultProbeNegativeTTL
	}
	if o.Skip == nil {
		o.Skip = DefaultProbeSkip
	}
	if o.RandomLocal == nil {
		o.RandomLocal = randomLocal
	}
	if o.OnProbe == nil {
		o.OnProbe = func(string) {}
	}
	p := &prober{o: o, clock: clk, skip: map[string]bool{}, addrs: map[string]cached{},
		catchAll: map[string]cached{}, window: map[string][]time.Time{}}
	for _, d := range o.Skip {
		p.skip[strings.ToLower(d)] = true
	}
	return p
}

func randomLocal() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return "mtaq-probe-" + hex.EncodeToString(b[:])
}

// probeAll probes the addresses whose domain takes mail and that nothing
// has already condemned, one domain's addresses in turn, domains in
// parallel.
func (v *Verifier) probeAll(ctx context.Context, ps []parsed) {
	byDomain := map[string][]*parsed{}
	var order []string
	for i := range ps {
		p := &ps[i]
		if p.dom == nil || !p.dom.ok || strings.HasPrefix(p.domain, "[") || decide(p.res.Reasons) == Invalid {
			continue
		}
		if byDomain[p.domain] == nil {
			order = append(order, p.domain)
		}
		byDomain[p.domain] = append(byDomain[p.domain], p)
	}
	sem := v.sem
	var wg sync.WaitGroup
	for _, d := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, p := range byDomain[d] {
				r, hit := v.probe.one(ctx, p.domain, p.res.Normalized)
				p.res.Cached = hit
				p.probe = &r
			}
		}()
	}
	wg.Wait()
}

// one answers for addr from the caches, or probes it if the domain's rate
// allows.
func (p *prober) one(ctx context.Context, domain, addr string) (Reason, bool) {
	now := p.clock.Now()
	if p.skipped(domain) {
		return Reason{Code: CodeProbeSkipped, Verdict: Valid,
			Detail: domain + " is not probed: it accepts every recipient or penalises probes"}, false
	}
	key := strings.ToLower(addr)
	p.mu.Lock()
	if c, ok := p.catchAll[domain]; ok && now.Before(c.expires) && c.reason.Code == CodeCatchAll {
		p.mu.Unlock()
		return c.reason, true
	}
	if c, ok := p.addrs[key]; ok && now.Before(c.expires) {
		p.mu.Unlock()
		return c.reason, true
	}
	known := false // the domain's catch-all reading is fresh: no random RCPT
	if c, ok := p.catchAll[domain]; ok && now.Before(c.expires) {
		known = true
	}
	if p.o.Held != nil {
		if why := p.o.Held(domain); why != "" {
			p.mu.Unlock()
			p.o.OnProbe(CodeProbeFailed)
			return Reason{Code: CodeProbeFailed, Verdict: Unknown,
				Detail: fmt.Sprintf("not probed: delivery to %s is %s", domain, why)}, false
		}
	}
	if !p.allow(domain, now) {
		p.mu.Unlock()
		p.o.OnProbe(CodeProbeRateLimit)
		return Reason{Code: CodeProbeRateLimit, Verdict: Unknown,
			Detail: fmt.Sprintf("not probed: %s had %d probes in the last minute (verify.probe_rate)", domain, p.o.Rate)}, false
	}
	p.mu.Unlock()

	rcpts := []string{addr}
	if !known {
		rcpts = []string{p.o.RandomLocal() + "@" + domain, addr}
	}
	res := p.o.Prober.Probe(ctx, domain, rcpts)
	if len(res) != len(rcpts) {
		return Reason{Code: CodeProbeFailed, Verdict: Unknown, Detail: "the probe returned no result"}, false
	}
	r := p.read(domain, res[len(res)-1])
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clock.Now()
	if !known {
		if ca, decided := p.catchAllReading(domain, res[0]); decided {
			p.put(p.catchAll, domain, ca, now.Add(p.o.NegativeTTL))
			if ca.Code == CodeCatchAll {
				r = ca
			}
		}
	}
	switch r.Code {
	case CodeMailboxExists:
		p.put(p.addrs, key, r, now.Add(p.o.PositiveTTL))
	case CodeMailboxRejected:
		p.put(p.addrs, key, r, now.Add(p.o.NegativeTTL))
	}
	p.o.OnProbe(r.Code)
	return r, false
}

func (p *prober) skipped(domain string) bool {
	for d := domain; d != ""; {
		if p.skip[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
	return false
}

// allow counts a probe against domain's rate; the caller holds p.mu.
func (p *prober) allow(domain string, now time.Time) bool {
	w := p.window[domain]
	keep := w[:0]
	for _, t := range w {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	if len(keep) >= p.o.Rate {
		p.window[domain] = keep
		return false
	}
	if len(p.window) >= probeCacheMax {
		for d, ts := range p.window {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= time.Minute {
				delete(p.window, d)
			}
		}
	}
	p.window[domain] = append(keep, now)
	return true
}

func (p *prober) put(m map[string]cached, key string, r Reason, expires time.Time) {
	if len(m) >= probeCacheMax {
		now := p.clock.Now()
		for k, c := range m {
			if !now.Before(c.expires) || len(m) >= probeCacheMax/2 {
				delete(m, k)
			}
		}
	}
	m[key] = cached{reason: r, expires: expires}
}

// read turns the address's RCPT result into a reason, through the
// classifier as a delivery reply would be.
func (p *prober) read(domain string, res delivery.Result) Reason {
	rep := &queue.Reply{Code: res.Code, Enhanced: res.Enhanced, Text: res.Text}
	v := p.o.Classifier.Classify(policy.Reply{Code: res.Code, Enhanced: res.Enhanced, Text: res.Text}, domain)
	switch {
	case res.Stage == delivery.StageRcpt && v.Class == policy.Success:
		return Reason{Code: CodeMailboxExists, Verdict: Valid, Reply: rep,
			Detail: fmt.Sprintf("%s accepted the recipient", orDomain(res.MX, domain))}
	case res.Stage == delivery.StageRcpt && v.Class == policy.Hard && v.Suppress:
		return Reason{Code: CodeMailboxRejected, Verdict: Invalid, Reply: rep,
			Detail: fmt.Sprintf("%s refused the recipient (%s)", orDomain(res.MX, domain), v.Category)}
	}
	return Reason{Code: CodeProbeFailed, Verdict: Unknown, Reply: rep,
		Detail: fmt.Sprintf("the probe was inconclusive at %s: %s", res.Stage, strings.TrimSpace(res.Text))}
}

// catchAllReading reads the random address's result: accepted means the
// domain takes any mailbox; refused as unknown means it checks. Anything
// else decides nothing.
func (p *prober) catchAllReading(domain string, res delivery.Result) (Reason, bool) {
	r := p.read(domain, res)
	switch r.Code {
	case CodeMailboxExists:
		return Reason{Code: CodeCatchAll, Verdict: Risky, Reply: r.Reply,
			Detail: domain + " accepted a random mailbox: it accepts any address, so the probe proves nothing"}, true
	case CodeMailboxRejected:
		return Reason{Code: "not_catch_all"}, true
	}
	return Reason{}, false
}

func orDomain(mx, domain string) string {
	if mx != "" {
		return mx
	}
	return domain
}
