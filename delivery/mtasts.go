package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// MTA-STS (RFC 8461): a domain's TXT record at _mta-sts.<domain> says a
// policy exists; the policy itself is fetched over verified HTTPS from
// mta-sts.<domain>. An enforce policy restricts delivery to the MX hosts
// it lists, over STARTTLS with a certificate verified for the MX name.

// STSMode is a policy's mode.
type STSMode string

// Policy modes (RFC 8461 5).
const (
	STSEnforce STSMode = "enforce"
	STSTesting STSMode = "testing"
	STSNone    STSMode = "none"
)

// Limits on the policy fetch (RFC 8461 3.3 suggests 64 KiB and a timeout).
const (
	STSMaxPolicySize = 64 << 10
	STSFetchTimeout  = 30 * time.Second
	stsMaxAgeLimit   = 31557600 // RFC 8461 3.2: at most one year
)

// STSPolicy is a parsed MTA-STS policy.
type STSPolicy struct {
	Mode   STSMode
	MX     []string // patterns: "mx.example.com" or "*.example.com"
	MaxAge time.Duration
}

// CachedSTS is a policy as kept between deliveries: the TXT id it was
// fetched under and when, so it expires after MaxAge.
type CachedSTS struct {
	ID      string
	Fetched time.Time
	Policy  STSPolicy
}

// STSStore keeps fetched policies by domain. The daemon may implement it
// over durable storage; the default keeps them in memory.
type STSStore interface {
	GetSTS(domain string) (CachedSTS, bool)
	PutSTS(domain string, p CachedSTS)
}

// STSLister is an STSStore that can list its domains, so RefreshSTS can
// renew its policies before they expire.
type STSLister interface {
	STSDomains() []string
}

// TXTResolver is the optional lookup MTA-STS needs; DNSResolver has it. A
// Resolver without it gets no MTA-STS.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

type memSTS struct {
	mu sync.Mutex
	m  map[string]CachedSTS
}

// NewMemorySTSStore is an in-memory STSStore, lost at restart.
func NewMemorySTSStore() STSStore { return &memSTS{m: map[string]CachedSTS{}} }

func (s *memSTS) GetSTS(domain string) (CachedSTS, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[domain]
	return p, ok
}

func (s *memSTS) PutSTS(domain string, p CachedSTS) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[domain] = p
}

func (s *memSTS) STSDomains() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.m))
}

// ParseSTSPolicy parses a policy body strictly: version STSv1, a known
// mode, max_age in range, at least one mx unless the mode is none. Unknown
// keys are ignored (RFC 8461 3.2); repeated singleton keys are errors.
func ParseSTSPolicy(body []byte) (STSPolicy, error) {
	var p STSPolicy
	var seenVersion, seenMaxAge bool
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1024), STSMaxPolicySize+1)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return STSPolicy{}, fmt.Errorf("line %d: no colon", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if seenVersion {
				return STSPolicy{}, fmt.Errorf("line %d: version repeated", n)
			}
			if v != "STSv1" {
				return STSPolicy{}, fmt.Errorf("line %d: version %q, want STSv1", n, v)
			}
			seenVersion = true
		case "mode":
			if p.Mode != "" {
				return STSPolicy{}, fmt.Errorf("line %d: mode repeated", n)
			}
			switch m := STSMode(v); m {
			case STSEnforce, STSTesting, STSNone:
				p.Mode = m
			default:
				return STSPolicy{}, fmt.Errorf("line %d: mode %q, want enforce, testing or none", n, v)
			}
		case "max_age":
			if seenMaxAge {
				return STSPolicy{}, fmt.Errorf("line %d: max_age repeated", n)
			}
			if v == "" || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
				return STSPolicy{}, fmt.Errorf("line %d: max_age %q is not a number of seconds", n, v)
			}
			secs, _ := strconv.ParseInt(v, 10, 64)
			if secs > stsMaxAgeLimit {
				return STSPolicy{}, fmt.Errorf("line %d: max_age %d over one year", n, secs)
			}
			p.MaxAge, seenMaxAge = time.Duration(secs)*time.Second, true
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(v, "."))
			if err := checkMXPattern(pat); err != nil {
				return STSPolicy{}, fmt.Errorf("line %d: mx %q: %v", n, v, err)
			}
			p.MX = append(p.MX, pat)
		}
	}
	if err := sc.Err(); err != nil {
		return STSPolicy{}, err
	}
	switch {
	case !seenVersion:
		return STSPolicy{}, errors.New("no version")
	case p.Mode == "":
		return STSPolicy{}, errors.New("no mode")
	case !seenMaxAge:
		return STSPolicy{}, errors.New("no max_age")
	case p.Mode != STSNone && len(p.MX) == 0:
		return STSPolicy{}, errors.New("no mx")
	}
	return p, nil
}

// checkMXPattern accepts a host name, or "*." and a name of two or more
// labels.
func checkMXPattern(p string) error {
	name := strings.TrimPrefix(p, "*.")
	if name == "" || len(name) > 253 {
		return errors.New("empty or too long")
	}
	labels := strings.Split(name, ".")
	if name != p && len(labels) < 2 {
		return errors.New("wildcard over a single label")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("bad label %q", l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("bad label %q", l)
			}
		}
	}
	return nil
}

// Matches reports whether host fits one of the policy's mx patterns; a
// wildcard stands for exactly one leftmost label (RFC 8461 4.1).
func (p STSPolicy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// stsRecordID returns the id of the domain's one v=STSv1 TXT record; ""
// when there is none, or more than one (RFC 8461 3.1: no policy).
func stsRecordID(txts []string) string {
	id, n := "", 0
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1;") && t != "v=STSv1" {
			continue
		}
		n++
		id = ""
		for _, f := range strings.Split(t, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if k == "id" && v != "" && len(v) <= 32 && isAlnum(v) {
				id = v
			}
		}
	}
	if n != 1 {
		return ""
	}
	return id
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// defaultSTSClient verifies certificates (against RootCAs when set),
// follows no redirect and gives up after STSFetchTimeout.
func defaultSTSClient(o *Options) *http.Client {
	tr := &http.Transport{
		DialContext:         o.Dialer.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: o.ConnectTimeout,
		DisableKeepAlives:   true,
	}
	return &http.Client{Transport: tr, Timeout: STSFetchTimeout}
}

// fetchSTS gets and parses https://mta-sts.<domain>/.well-known/mta-sts.txt.
func (d *Deliverer) fetchSTS(ctx context.Context, domain string) (STSPolicy, error) {
	return FetchSTSPolicy(ctx, d.sts.client, domain)
}

// NewSTSClient is the client delivery fetches policies with when
// Options.STSClient is nil: certificates verified against roots (nil: the
// system's), no redirects, STSFetchTimeout; host names looked up with r
// (mtaq doctor asks the DNS servers delivery asks).
func NewSTSClient(roots *x509.CertPool, r Resolver) *http.Client {
	return defaultSTSClient(&Options{RootCAs: roots, Dialer: resolvingDialer{r}, ConnectTimeout: DefaultConnectTimeout})
}

// resolvingDialer dials a host:port after looking the host up with r.
type resolvingDialer struct{ r Resolver }

func (d resolvingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := d.r.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
}

// FetchSTSPolicy gets and parses https://mta-sts.<domain>/.well-known/mta-sts.txt
// with client as delivery does (mtaq doctor checks a domain's policy with it):
// no redirects, 200 and text/plain only, at most STSMaxPolicySize bytes.
func FetchSTSPolicy(ctx context.Context, client *http.Client, domain string) (STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, STSFetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return STSPolicy{}, err
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return STSPolicy{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return STSPolicy{}, fmt.Errorf("%s: HTTP status %d", url, resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return STSPolicy{}, fmt.Errorf("%s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, STSMaxPolicySize+1))
	if err != nil {
		return STSPolicy{}, fmt.Errorf("%s: %w", url, err)
	}
	if len(body) > STSMaxPolicySize {
		return STSPolicy{}, fmt.Errorf("%s: policy larger than %d bytes", url, STSMaxPolicySize)
	}
	p, err := ParseSTSPolicy(body)
	if err != nil {
		return STSPolicy{}, fmt.Errorf("%s: %w", url, &stsParseError{err})
	}
	return p, nil
}

type stsState struct {
	client *http.Client
	store  STSStore
	txt    TXTResolver
}

// stsPolicy returns the policy in force for domain, if any. A cached
// policy that has not expired is used while the TXT id is unchanged or the
// record is gone or unreachable, and is kept when a refetch fails.
func (d *Deliverer) stsPolicy(ctx context.Context, domain string) (CachedSTS, bool) {
	if d.sts == nil {
		return CachedSTS{}, false
	}
	now := d.opts.Clock.Now()
	cached, have := d.sts.store.GetSTS(domain)
	have = have && now.Before(cached.Fetched.Add(cached.Policy.MaxAge))
	txts, err := d.sts.txt.LookupTXT(ctx, "_mta-sts."+domain)
	id := ""
	if err == nil {
		id = stsRecordID(txts)
	}
	if have && (id == "" || id == cached.ID) {
		return cached, true
	}
	if id == "" {
		return CachedSTS{}, false
	}
	p, err := d.fetchSTS(ctx, domain)
	if err != nil {
		d.log.Warn("mta-sts policy fetch failed", zap.String("domain", domain), zap.String("sts_id", id),
			zap.Bool("cached", have), zap.Error(err))
		ev := TLSEvent{Domain: domain, Policy: TLSReportPolicy{Type: "sts"}, Result: stsFetchResult(err),
			MX: "mta-sts." + domain, Detail: err.Error()}
		if have {
			ev.Policy = stsReport(&cached.Policy)
		}
		d.tlsEvent(ev)
		return cached, have
	}
	c := CachedSTS{ID: id, Fetched: now, Policy: p}
	d.sts.store.PutSTS(domain, c)
	return c, true
}

// stsFor returns the domain's policy when it is in enforce or testing mode
// and the operator's tls_policy does not name the domain (tls_policy wins).
func (d *Deliverer) stsFor(ctx context.Context, domain string) *CachedSTS {
	if d.sts == nil || d.opts.Relay != nil || strings.HasPrefix(domain, "[") {
		return nil
	}
	if _, set := d.opts.TLSPolicy[domain]; set {
		return nil
	}
	c, ok := d.stsPolicy(ctx, domain)
	if !ok || c.Policy.Mode == STSNone {
		return nil
	}
	return &c
}

// stsFetchResult is the RFC 8460 result type of a failed policy fetch.
func stsFetchResult(err error) string {
	var ve *tls.CertificateVerificationError
	var pe *stsParseError
	switch {
	case errors.As(err, &ve):
		return "sts-webpki-invalid"
	case errors.As(err, &pe):
		return "sts-policy-invalid"
	}
	return "sts-policy-fetch-error"
}

// stsParseError is a policy body that does not parse.
type stsParseError struct{ err error }

func (e *stsParseError) Error() string { return e.err.Error() }
func (e *stsParseError) Unwrap() error { return e.err }

// filterSTS keeps the hosts an enforce policy lists, and those DANE
// covers (DANE takes precedence, RFC 8461 2); when none is left it
// returns the 4.7.5 result naming the policy and the hosts left out.
func (d *Deliverer) filterSTS(c *CachedSTS, domain string, hosts []MX, dane map[string]*daneHost) ([]MX, *Result) {
	var keep []MX
	var out []string
	for _, mx := range hosts {
		if c.Policy.Matches(mx.Host) || dane[mx.Host] != nil {
			keep = append(keep, mx)
		} else {
			out = append(out, mx.Host)
		}
	}
	if len(keep) == 0 {
		err := fmt.Errorf("MTA-STS policy (id %s): %s not in policy", c.ID, strings.Join(out, ", "))
		r := localFail(StageResolve, "4.7.5", err)
		r.TLSPolicy, r.TLSPolicyID = SourceMTASTS, c.ID
		d.tlsEvent(TLSEvent{Domain: domain, Policy: stsReport(&c.Policy), Result: "validation-failure",
			MX: out[0], Detail: err.Error()})
		return nil, &r
	}
	if len(out) > 0 {
		d.log.Debug("mta-sts skips exchangers", zap.String("domain", domain), zap.String("sts_id", c.ID),
			zap.Strings("mx", out))
	}
	return keep, nil
}

// stsAllows reports whether an idle session may carry mail under policy
// c: it must have been opened with verified TLS to a host c lists.
func stsAllows(c *CachedSTS, s *session) bool {
	return c == nil || s.dst.mode == modeDANE || (s.dst.mode == modeRequire && c.Policy.Matches(s.dst.host))
}

// RefreshDue is when a cached policy is fetched again in the background:
// at three quarters of its max_age, so a policy of a week or more is
// renewed with more than a day to spare and a failed fetch has time to be
// retried before it expires.
func (c CachedSTS) RefreshDue() time.Time { return c.Fetched.Add(c.Policy.MaxAge / 4 * 3) }

// RefreshSTS fetches again the cached policies that are past RefreshDue
// and not yet expired (an expired one is fetched when mail needs it). A
// new TXT id is recorded; a failed fetch leaves the cached policy in force
// until it expires, and is tried again at the next call. It returns the
// number of policies renewed. The daemon calls it hourly on its clock.
func (d *Deliverer) RefreshSTS(ctx context.Context) int {
	if d.sts == nil {
		return 0
	}
	lister, ok := d.sts.store.(STSLister)
	if !ok {
		return 0
	}
	n := 0
	for _, domain := range lister.STSDomains() {
		now := d.opts.Clock.Now()
		c, ok := d.sts.store.GetSTS(domain)
		if !ok || now.Before(c.RefreshDue()) || !now.Before(c.Fetched.Add(c.Policy.MaxAge)) || ctx.Err() != nil {
			continue
		}
		id := c.ID
		if txts, err := d.sts.txt.LookupTXT(ctx, "_mta-sts."+domain); err == nil && stsRecordID(txts) != "" {
			id = stsRecordID(txts)
		}
		p, err := d.fetchSTS(ctx, domain)
		if err != nil {
			d.log.Warn("mta-sts policy refresh failed; the cached policy stays in force", zap.String("domain", domain),
				zap.String("sts_id", c.ID), zap.Time("expires", c.Fetched.Add(c.Policy.MaxAge)), zap.Error(err))
			continue
		}
		d.sts.store.PutSTS(domain, CachedSTS{ID: id, Fetched: now, Policy: p})
		n++
	}
	return n
}
