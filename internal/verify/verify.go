package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Verdict is the answer for one address.
type Verdict string

// Verdicts.
const (
	Valid   Verdict = "valid"
	Invalid Verdict = "invalid"
	Risky   Verdict = "risky"
	Unknown Verdict = "unknown"
)

// Reason codes, one per fact that can lead to a verdict. They are an
// interface (JSON "code"): keep them.
const (
	CodeSyntax          = "syntax"           // invalid: not an address mtaq would accept
	CodeNXDomain        = "nxdomain"         // invalid: the domain does not exist
	CodeNullMX          = "null_mx"          // invalid: the domain says it takes no mail (RFC 7505)
	CodeNoMailHost      = "no_mail_host"     // invalid: no MX and no A/AAAA
	CodeDNSTemporary    = "dns_temporary"    // unknown: SERVFAIL, timeout, refused
	CodeMailDomain      = "mail_domain"      // valid: the domain takes mail (MX or implicit MX)
	CodeIPLiteral       = "ip_literal"       // risky: [192.0.2.1] instead of a domain
	CodeSuppressed      = "suppressed"       // invalid or risky by the suppression's reason
	CodeDelivered       = "delivered"        // valid: delivered within the history window
	CodeBounced         = "bounced"          // invalid: the last outcome was a bounce
	CodeRole            = "role"             // risky: postmaster, info, noreply, ...
	CodeDisposable      = "disposable"       // risky: a disposable-mail domain
	CodeTypo            = "typo"             // risky: looks like a large provider's domain
	CodeCatchAll        = "catch_all"        // risky: the domain accepts any mailbox
	CodeMailboxExists   = "mailbox_exists"   // valid: the probe's RCPT was accepted
	CodeMailboxRejected = "mailbox_rejected" // invalid: the probe's RCPT was refused (unknown, disabled)
	CodeProbeFailed     = "probe_failed"     // unknown: 4xx, no answer, or a refusal not about the mailbox
	CodeProbeRateLimit  = "probe_rate_limited"
	CodeProbeSkipped    = "probe_skipped" // the domain is on verify.probe_skip: no probe, no verdict
)

// Reason is one fact behind a verdict.
type Reason struct {
	Code string `json:"code"`
	// Verdict is what this reason alone implies.
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	// Suppression: its reason and expiry (null: never).
	SuppressionReason string     `json:"suppression_reason,omitempty"`
	Expires           *time.Time `json:"expires,omitempty"`
	// At: when the delivery or bounce happened.
	At *time.Time `json:"at,omitempty"`
	// Reply: the bounce's or the probe's reply.
	Reply *queue.Reply `json:"reply,omitempty"`
}

// Result is one address's answer.
type Result struct {
	// Address as given (surrounding spaces removed).
	Address string `json:"address"`
	// Normalized is local@domain with the domain lower case and as an
	// A-label; empty when the syntax is invalid.
	Normalized string   `json:"normalized,omitempty"`
	Verdict    Verdict  `json:"verdict"`
	Reasons    []Reason `json:"reasons"`
	// Suggestion is the likely intended address, for a typo.
	Suggestion string `json:"suggestion,omitempty"`
	// Cached: the probe's answer came from the cache.
	Cached bool `json:"cached,omitempty"`
}

// MaxAddresses is the most one request may ask about.
const MaxAddresses = 1000

// Request is the body of POST /v1/verify: exactly one of Address and
// Addresses (1 to MaxAddresses).
type Request struct {
	Address   string   `json:"address,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Response is the answer to a Request: one Result per address, in the
// request's order.
type Response struct {
	Results []Result `json:"results"`
}

// ErrInvalid is matched (errors.Is) by every FieldError.
var ErrInvalid = errors.New("invalid verify request")

// FieldError is a bad request, naming the JSON field at fault.
type FieldError struct {
	Field   string // "address", "addresses"
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Is matches ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// List checks r and returns its addresses.
func (r Request) List() ([]string, error) {
	switch {
	case r.Address != "" && len(r.Addresses) > 0:
		return nil, &FieldError{"address", "give either address or addresses, not both"}
	case r.Address != "":
		return []string{r.Address}, nil
	case len(r.Addresses) == 0:
		return nil, &FieldError{"addresses", "no address given"}
	case len(r.Addresses) > MaxAddresses:
		return nil, &FieldError{"addresses", fmt.Sprintf("%d addresses, at most %d per request", len(r.Addresses), MaxAddresses)}
	}
	return r.Addresses, nil
}

// Store is what verify reads from the queue.
type Store interface {
	Suppression(ctx context.Context, addr string, now time.Time) (*queue.Suppression, error)
	History(ctx context.Context, addr string) (*queue.History, error)
}

// Defaults.
const (
	DefaultHistoryWindow = 30 * 24 * time.Hour
	DefaultParallel      = 64
	DefaultDomainTimeout = 15 * time.Second
)

// Options configure a Verifier. Store and Resolver are required.
type Options struct {
	Store    Store
	Resolver delivery.Resolver
	Clock    clock.Clock // default real
	Logger   *zap.Logger
	// HistoryWindow: a delivery this recent makes an address valid
	// (default 30 days).
	HistoryWindow time.Duration
	// Parallel bounds the domains looked up (and probed) at once, over
	// all requests together (default 64).
	Parallel int
	// DomainTimeout bounds one domain's lookups (default 15s): past it
	// the domain is unknown.
	DomainTimeout time.Duration
	// Lists holds the disposable domains; nil: the embedded list.
	Lists *Lists
	// Probe configures the SMTP probe; nil or Probe.Enabled false: off.
	Probe *ProbeOptions
	// OnResult hears every verdict (metrics); may be nil.
	OnResult func(v Verdict)
}

// Verifier answers verification requests. It is safe for concurrent use.
type Verifier struct {
	o     Options
	log   *zap.Logger
	lists *Lists
	probe *prober       // nil: probes off
	sem   chan struct{} // Parallel: domain lookups and probes in flight
}

// New fills the defaults.
func New(o Options) *Verifier {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.HistoryWindow <= 0 {
		o.HistoryWindow = DefaultHistoryWindow
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.DomainTimeout <= 0 {
		o.DomainTimeout = DefaultDomainTimeout
	}
	if o.OnResult == nil {
		o.OnResult = func(Verdict) {}
	}
	lists := o.Lists
	if lists == nil {
		lists = DefaultLists()
	}
	v := &Verifier{o: o, log: o.Logger.Named("verify"), lists: lists, sem: make(chan struct{}, o.Parallel)}
	if o.Probe != nil && o.Probe.Enabled {
		v.probe = newProber(*o.Probe, o.Clock)
	}
	return v
}

// Lists returns the verifier's lists (mtaq verify update-list replaces
// the disposable one).
func (v *Verifier) Lists() *Lists { return v.lists }

// Verify answers r: one Result per address in order, or a *FieldError.
func (v *Verifier) Verify(ctx context.Context, r Request) (*Response, error) {
	addrs, err := r.List()
	if err != nil {
		return nil, err
	}
	res, err := v.Addresses(ctx, addrs)
	if err != nil {
		return nil, err
	}
	return &Response{Results: res}, nil
}

// parsed is one address on its way through the checks.
type parsed struct {
	res    Result
	local  string
	domain string // A-label, lower case; "" when the syntax failed
	dom    *domainCheck
	probe  *Reason // the SMTP probe's answer, added last
}

// Addresses verifies addrs (any number) and returns their results in
// order. Each distinct domain is looked up once; domains run in parallel.
// An error is returned only for a failure to read the queue.
func (v *Verifier) Addresses(ctx context.Context, addrs []string) ([]Result, error) {
	ps := make([]parsed, len(addrs))
	domains := map[string]*domainCheck{}
	for i, a := range addrs {
		p := &ps[i]
		v.parse(p, a)
		if p.domain == "" {
			continue
		}
		d := domains[p.domain]
		if d == nil {
			d = v.newDomainCheck(p.domain)
			domains[p.domain] = d
		}
		p.dom = d
		p.res.Reasons = append(p.res.Reasons, d.static...)
		if d.typo != "" {
			p.res.Suggestion = p.local + "@" + d.typo
		}
	}
	v.lookupDomains(ctx, domains)
	for i := range ps {
		if err := v.gather(ctx, &ps[i]); err != nil {
			return nil, err
		}
	}
	if v.probe != nil {
		v.probeAll(ctx, ps) // after gather: nothing already invalid is probed
	}
	out := make([]Result, len(ps))
	for i := range ps {
		p := &ps[i]
		if p.probe != nil {
			p.add(*p.probe)
		}
		p.res.Verdict = decide(p.res.Reasons)
		out[i] = p.res
		v.o.OnResult(out[i].Verdict)
	}
	return out, nil
}

// parse checks the syntax with intake's parser (the one mail is accepted
// by, SMTPUTF8 allowed) and adds the reasons the address alone gives.
func (v *Verifier) parse(p *parsed, addr string) {
	addr = strings.TrimSpace(addr)
	p.res = Result{Address: addr, Reasons: []Reason{}}
	a, err := intake.ParseAddress(strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">"), true)
	if err != nil {
		p.add(Reason{Code: CodeSyntax, Verdict: Invalid, Detail: syntaxDetail(addr, err)})
		return
	}
	p.local, p.domain = a.Local, a.ASCIIDomain()
	p.res.Normalized = p.local + "@" + p.domain
	if role, ok := roleAccount(p.local); ok {
		p.add(Reason{Code: CodeRole, Verdict: Risky, Detail: fmt.Sprintf("%q is a role account, read by many or by none", role)})
	}
}

// newDomainCheck holds what the domain's name alone says, worked out once
// per domain in a request.
func (v *Verifier) newDomainCheck(domain string) *domainCheck {
	d := &domainCheck{name: domain}
	if strings.HasPrefix(domain, "[") {
		d.static = append(d.static, Reason{Code: CodeIPLiteral, Verdict: Risky,
			Detail: "an IP address instead of a domain: no MX, no reputation, rarely a person's mailbox"})
	}
	if v.lists.Disposable(domain) {
		d.static = append(d.static, Reason{Code: CodeDisposable, Verdict: Risky, Detail: domain + " hands out disposable addresses"})
	}
	if s, ok := typoOf(domain); ok {
		d.typo = s
		d.static = append(d.static, Reason{Code: CodeTypo, Verdict: Risky, Detail: fmt.Sprintf("%s looks like a typo of %s", domain, s)})
	}
	return d
}

func syntaxDetail(addr string, err error) string {
	switch {
	case addr == "":
		return "empty"
	case strings.ContainsAny(addr, " \t\"(),:;<>[\\]") && !strings.Contains(addr, "@["):
		return "not a bare address (quotes, spaces, comments or brackets): " + err.Error()
	}
	return err.Error()
}

func (p *parsed) add(r Reason) { p.res.Reasons = append(p.res.Reasons, r) }

// gather adds what the domain, the suppression list and the history say.
func (v *Verifier) gather(ctx context.Context, p *parsed) error {
	if p.dom != nil {
		p.res.Reasons = append(p.res.Reasons, p.dom.reasons...)
	}
	if p.domain != "" {
		now := v.o.Clock.Now()
		if err := v.suppression(ctx, p, now); err != nil {
			return err
		}
		if err := v.history(ctx, p, now); err != nil {
			return err
		}
	}
	return nil
}

// forms are the spellings the queue may know the address by: the
// normalized one and, for an internationalised domain, the one given
// (mail to it is recorded as the recipient wrote it).
func (p *parsed) forms() []string {
	forms := []string{p.res.Normalized}
	if given := strings.TrimSuffix(strings.TrimPrefix(p.res.Address, "<"), ">"); !strings.EqualFold(given, p.res.Normalized) {
		forms = append(forms, given)
	}
	return forms
}

func (v *Verifier) suppression(ctx context.Context, p *parsed, now time.Time) error {
	for _, f := range p.forms() {
		sup, err := v.o.Store.Suppression(ctx, f, now)
		if err != nil {
			return fmt.Errorf("verify %s: suppression: %w", f, err)
		}
		if !sup.Active(now) {
			continue
		}
		r := Reason{Code: CodeSuppressed, Verdict: Risky, SuppressionReason: sup.Reason, Reply: sup.Reply,
			Detail: fmt.Sprintf("suppressed (%s) since %s", sup.Reason, sup.Created.UTC().Format(time.RFC3339))}
		if sup.Reason == policy.ReasonHardBounce || sup.Reason == policy.ReasonUnclassifiedBounce {
			r.Verdict = Invalid
		}
		if !sup.Expires.IsZero() {
			t := sup.Expires.UTC()
			r.Expires = &t
			r.Detail += ", until " + t.Format(time.RFC3339)
		}
		p.add(r)
		return nil
	}
	return nil
}

func (v *Verifier) history(ctx context.Context, p *parsed, now time.Time) error {
	var h *queue.History
	for _, f := range p.forms() {
		got, err := v.o.Store.History(ctx, f)
		if err != nil {
			return fmt.Errorf("verify %s: history: %w", f, err)
		}
		if h == nil || got != nil && latest(got).After(latest(h)) {
			h = got
		}
	}
	switch {
	case h == nil:
	case h.LastBounced():
		t := h.Bounced.UTC()
		p.add(Reason{Code: CodeBounced, Verdict: Invalid, At: &t, Reply: h.BounceReply,
			Detail: "the last message to it bounced, " + t.Format(time.RFC3339)})
	case now.Sub(h.Delivered) <= v.o.HistoryWindow:
		t := h.Delivered.UTC()
		p.add(Reason{Code: CodeDelivered, Verdict: Valid, At: &t,
			Detail: "delivered " + t.Format(time.RFC3339)})
	}
	return nil
}

func latest(h *queue.History) time.Time {
	if h.Bounced.After(h.Delivered) {
		return h.Bounced
	}
	return h.Delivered
}

// decide applies V1-V6 (doc.go).
func decide(rs []Reason) Verdict {
	has := func(ok func(Reason) bool) bool {
		for _, r := range rs {
			if ok(r) {
				return true
			}
		}
		return false
	}
	switch {
	case has(func(r Reason) bool { return r.Verdict == Invalid }):
		return Invalid
	case has(func(r Reason) bool { return r.Code == CodeSuppressed }):
		return Risky
	case has(func(r Reason) bool { return r.Code == CodeDelivered }):
		return Valid
	case has(func(r Reason) bool { return r.Verdict == Risky }):
		return Risky
	case has(func(r Reason) bool { return r.Verdict == Unknown }):
		return Unknown
	}
	return Valid
}

// domainCheck is one domain's lookup, shared by a request's addresses.
type domainCheck struct {
	name    string
	static  []Reason      // from the name: ip_literal, disposable, typo
	typo    string        // the provider it looks like, if any
	reasons []Reason      // from DNS
	mx      []delivery.MX // for the probe
	ok      bool          // takes mail
}

// lookupDomains checks every domain, at most Parallel at once across all
// requests (the verifier's semaphore).
func (v *Verifier) lookupDomains(ctx context.Context, domains map[string]*domainCheck) {
	sem := v.sem
	var wg sync.WaitGroup
	for _, d := range domains {
		if strings.HasPrefix(d.name, "[") {
			d.ok = true
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v.lookupDomain(ctx, d)
		}()
	}
	wg.Wait()
}

// lookupDomain reads MX, then, without MX, the domain's own A/AAAA.
func (v *Verifier) lookupDomain(ctx context.Context, d *domainCheck) {
	ctx, cancel := context.WithTimeout(ctx, v.o.DomainTimeout)
	defer cancel()
	mx, err := v.o.Resolver.LookupMX(ctx, d.name)
	if err == nil && len(mx) == 0 {
		var ips []net.IP
		ips, err = v.o.Resolver.LookupIP(ctx, d.name)
		if err == nil && len(ips) == 0 {
			d.reasons = []Reason{{Code: CodeNoMailHost, Verdict: Invalid, Detail: d.name + " has no MX and no A/AAAA record"}}
			return
		}
		mx = []delivery.MX{{Host: d.name}}
	}
	switch {
	case errors.Is(err, delivery.ErrNullMX):
		d.reasons = []Reason{{Code: CodeNullMX, Verdict: Invalid, Detail: d.name + " publishes a null MX: it accepts no mail (RFC 7505)"}}
	case errors.Is(err, delivery.ErrNXDomain):
		d.reasons = []Reason{{Code: CodeNXDomain, Verdict: Invalid, Detail: d.name + " does not exist (NXDOMAIN)"}}
	case err != nil:
		v.log.Debug("domain lookup failed", zap.String("domain", d.name), zap.Error(err))
		d.reasons = []Reason{{Code: CodeDNSTemporary, Verdict: Unknown, Detail: "DNS lookup failed: " + err.Error()}}
	default:
		d.ok, d.mx = true, mx
		d.reasons = []Reason{{Code: CodeMailDomain, Verdict: Valid, Detail: mailDomainDetail(d.name, mx)}}
	}
}

func mailDomainDetail(domain string, mx []delivery.MX) string {
	if len(mx) == 1 && mx[0].Host == domain {
		return domain + " has no MX; its own address takes mail (implicit MX)"
	}
	return fmt.Sprintf("%s takes mail at %s", domain, mx[0].Host)
}
