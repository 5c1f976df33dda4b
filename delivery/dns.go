package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/mtaq/mtaq/internal/clock"
)

// Resolver defaults.
const (
	DefaultQueryTimeout = 5 * time.Second
	DefaultMaxMX        = 5
	ednsSize            = 1232 // DNS flag day 2020: no fragmentation
	maxCNAME            = 8
	resolvConf          = "/etc/resolv.conf"
)

// DNSResolver is the Resolver that asks DNS servers directly with
// miekg/dns: EDNS0 (1232 bytes), TCP when an answer is truncated, answers
// whose ID or question differ from the query ignored, one deadline per
// query, servers tried in order until one gives a usable answer (NOERROR or
// NXDOMAIN). Usable answers are cached until their TTL runs out.
type DNSResolver struct {
	servers []string
	cfgErr  error // reading resolv.conf failed; every lookup reports it
	timeout time.Duration
	maxMX   int
	clock   clock.Clock
	intn    func(n int) int // for shuffling equal preferences
	cache   *dnsCache
	// exch asks one server; r.exchange, or a test's stand-in so a fuzz
	// target can feed answers without a socket round trip per input.
	exch func(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error)
}

// ResolverOption configures a DNSResolver.
type ResolverOption func(*DNSResolver)

// WithQueryTimeout sets the deadline of each query to each server
// (default 5s). The context's deadline, if sooner, wins.
func WithQueryTimeout(d time.Duration) ResolverOption {
	return func(r *DNSResolver) { r.timeout = d }
}

// WithMaxMX caps how many MX hosts LookupMX returns (default 5).
func WithMaxMX(n int) ResolverOption { return func(r *DNSResolver) { r.maxMX = n } }

// WithResolverClock sets the clock for cache expiry (default real); query
// deadlines always use the wall clock, as sockets do.
func WithResolverClock(c clock.Clock) ResolverOption {
	return func(r *DNSResolver) { r.clock = c }
}

// WithShuffle sets the random source for ordering MX hosts of equal
// preference: intn(n) returns a number in [0, n). Default math/rand/v2.
func WithShuffle(intn func(n int) int) ResolverOption {
	return func(r *DNSResolver) { r.intn = intn }
}

// NewResolver returns a resolver asking servers ("host:port", in order). With
// no servers it reads /etc/resolv.conf; if that fails, every lookup returns
// a temporary *DNSError saying so.
func NewResolver(servers []string, opts ...ResolverOption) *DNSResolver {
	r := &DNSResolver{
		servers: servers,
		timeout: DefaultQueryTimeout,
		maxMX:   DefaultMaxMX,
		clock:   clock.Real{},
		intn:    randIntN,
		cache:   newDNSCache(),
	}
	r.exch = r.exchange
	for _, o := range opts {
		o(r)
	}
	if len(r.servers) == 0 {
		r.servers, r.cfgErr = systemServers()
	}
	return r
}

func systemServers() ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", resolvConf, err)
	}
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nameserver in %s", resolvConf)
	}
	return out, nil
}

// query asks each server in turn for (name, qtype) and returns the first
// NOERROR or NXDOMAIN answer. Other outcomes become a temporary *DNSError
// describing the last failure.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	tname := dns.TypeToString[qtype]
	if r.cfgErr != nil {
		return nil, newDNSError(name, tname, KindTemporary, r.cfgErr)
	}
	if m := r.cache.get(name, qtype, r.clock.Now()); m != nil {
		return m, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(ednsSize, false)
	// AD in a query asks a validating resolver to say whether it validated
	// the answer (RFC 6840 5.7), without the DO bit's signatures.
	m.AuthenticatedData = true
	kind, last := KindTemporary, error(nil)
	for _, srv := range r.servers {
		if err := ctx.Err(); err != nil {
			return nil, newDNSError(name, tname, KindTimeout, err)
		}
		resp, err := r.exch(ctx, m, srv)
		switch {
		case err != nil:
			kind, last = errKind(err), fmt.Errorf("%s: %w", srv, err)
		case resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError:
			r.cache.put(name, qtype, resp, r.clock.Now())
			return resp, nil
		case resp.Rcode == dns.RcodeServerFailure:
			kind, last = KindServFail, fmt.Errorf("%s answered SERVFAIL", srv)
		case resp.Rcode == dns.RcodeRefused:
			kind, last = KindRefused, fmt.Errorf("%s answered REFUSED", srv)
		default:
			kind, last = KindTemporary, fmt.Errorf("%s answered %s", srv, dns.RcodeToString[resp.Rcode])
		}
	}
	return nil, newDNSError(name, tname, kind, last)
}

func errKind(err error) DNSErrorKind {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindTemporary
}

// exchange asks one server over UDP and again over TCP if the answer was
// truncated.
func (r *DNSResolver) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	resp, err := r.exchangeNet(ctx, m, server, "udp")
	if err == nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, m, server, "tcp")
	}
	return resp, err
}

// errMismatch is returned over TCP when the answer is not for our question.
var errMismatch = errors.New("answer does not match the question")

// exchangeNet sends m over network and reads until the answer to m arrives
// or the deadline passes. Over UDP, packets with another ID or question are
// dropped (late answers, spoofing attempts); over TCP they are an error.
func (r *DNSResolver) exchangeNet(ctx context.Context, m *dns.Msg, server, network string) (*dns.Msg, error) {
	// Sockets run on the wall clock whatever clock the cache uses.
	deadline := clock.Real{}.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c := &dns.Client{Net: network, UDPSize: ednsSize, Timeout: r.timeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := conn.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		resp, err := conn.ReadMsg()
		var ne net.Error
		switch {
		case err != nil && (network != "udp" || errors.As(err, &ne)):
			return nil, err
		case err == nil && matches(m, resp):
			return resp, nil
		case network != "udp":
			return nil, errMismatch
		}
	}
}

// matches reports whether resp answers query m: same ID, a response, and
// the same single question (name compared without case).
func matches(m, resp *dns.Msg) bool {
	if resp.Id != m.Id || !resp.Response || len(resp.Question) != 1 {
		return false
	}
	q, a := m.Question[0], resp.Question[0]
	return strings.EqualFold(q.Name, a.Name) && q.Qtype == a.Qtype && q.Qclass == a.Qclass
}

// DNSErrorKind says what went wrong with a lookup.
type DNSErrorKind string

// Kinds of DNS failure. Only KindNXDomain and KindNullMX are permanent.
const (
	KindNXDomain  DNSErrorKind = "nxdomain"  // the name does not exist
	KindNullMX    DNSErrorKind = "null-mx"   // "MX 0 ." (RFC 7505)
	KindServFail  DNSErrorKind = "servfail"  // every server answered SERVFAIL
	KindRefused   DNSErrorKind = "refused"   // every server answered REFUSED
	KindTimeout   DNSErrorKind = "timeout"   // no usable answer in time
	KindTemporary DNSErrorKind = "temporary" // anything else: network, bad answers, CNAME loop
)

// Sentinels, one per kind; a *DNSError matches its kind's sentinel with
// errors.Is (errors.Is(err, ErrNullMX)).
var (
	ErrNXDomain     = errors.New("domain does not exist")
	ErrNullMX       = errors.New("domain accepts no mail (null MX, RFC 7505)")
	ErrServFail     = errors.New("dns server failure")
	ErrRefused      = errors.New("dns query refused")
	ErrDNSTimeout   = errors.New("dns timeout")
	ErrDNSTemporary = errors.New("dns temporary failure")
)

var kindErr = map[DNSErrorKind]error{
	KindNXDomain:  ErrNXDomain,
	KindNullMX:    ErrNullMX,
	KindServFail:  ErrServFail,
	KindRefused:   ErrRefused,
	KindTimeout:   ErrDNSTimeout,
	KindTemporary: ErrDNSTemporary,
}

// DNSError is the error type of DNSResolver and of the Resolver contract.
type DNSError struct {
	Name      string // the name asked about, as given
	Type      string // "MX", "A", "AAAA"
	Kind      DNSErrorKind
	Permanent bool  // true for NXDOMAIN and null MX only
	Err       error // the underlying cause, if any
}

func newDNSError(name, qtype string, kind DNSErrorKind, cause error) *DNSError {
	return &DNSError{
		Name:      strings.TrimSuffix(name, "."),
		Type:      qtype,
		Kind:      kind,
		Permanent: kind == KindNXDomain || kind == KindNullMX,
		Err:       cause,
	}
}

func (e *DNSError) Error() string {
	s := fmt.Sprintf("dns %s %s: %v", e.Type, e.Name, kindErr[e.Kind])
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind's sentinel and the cause.
func (e *DNSError) Unwrap() []error {
	out := []error{kindErr[e.Kind]}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Temporary reports whether asking again later may give another answer.
func (e *DNSError) Temporary() bool { return !e.Permanent }
