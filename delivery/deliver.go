package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"go.uber.org/zap"
)

// Defaults for Options.
const (
	DefaultPort            = 25
	DefaultConnectTimeout  = 30 * time.Second
	DefaultGreetingTimeout = 5 * time.Minute  // RFC 5321 4.5.3.2.1
	DefaultCommandTimeout  = 5 * time.Minute  // RFC 5321 4.5.3.2: MAIL, RCPT
	DefaultDataTimeout     = 10 * time.Minute // RFC 5321 4.5.3.2.6: reply to the final dot
	DefaultMaxHosts        = 5
	DefaultMaxAddrs        = 10
	DefaultIdleTimeout     = 5 * time.Second // Postfix keeps 2s; apps send in bursts
	DefaultMaxMessages     = 100             // transactions per connection
	DefaultMaxIdlePerDest  = 16
	quitTimeout            = 10 * time.Second
)

// Options configures a Deliverer. Zero fields take the defaults above.
type Options struct {
	Hostname string   // EHLO name; default os.Hostname(), else "localhost"
	Port     int      // port dialled on every exchanger; default 25
	Resolver Resolver // default NewResolver(nil): /etc/resolv.conf
	Dialer   Dialer   // default &net.Dialer{}
	Logger   *zap.Logger
	Clock    clock.Clock // Result.Duration; default real (socket deadlines are always wall-clock)

	// ConnectTimeout bounds each dial. GreetingTimeout bounds the wait for
	// the 220 (RFC 5321 says 5 minutes; a tarpit uses all of it, which is
	// why MaxConnsPerIP, not this timeout, is what bounds the workers it
	// holds). CommandTimeout is the idle limit on every later read and
	// write of the session (each command, each body write); DataTimeout
	// replaces it while waiting for the reply to the final dot.
	ConnectTimeout, GreetingTimeout, CommandTimeout, DataTimeout time.Duration

	// DownAfter unanswered connections in a row (refused, connect or
	// greeting timeout) open an address's breaker, shared by every domain:
	// it is skipped (4.4.1) for DownFirst, doubling per failed probe up to
	// DownMax. Defaults 3, 1 min, 30 min; DownAfter < 0 turns it off.
	DownAfter          int
	DownFirst, DownMax time.Duration

	// MaxConnsPerIP caps the connections in use at once to one exchanger
	// address, whichever domains it serves (0: no cap). A Deliver whose
	// every address is at the cap makes no attempt and returns Busy
	// results at once: a local deferral, not a verdict.
	MaxConnsPerIP int

	MaxHosts int // MX hosts tried per Deliver; default 5
	MaxAddrs int // addresses dialled per Deliver, across hosts; default 10

	// TLSConfig is cloned for opportunistic STARTTLS, with ServerName set to
	// the MX host when empty. nil: any certificate is accepted (the session
	// is encrypted, not authenticated; MTA-STS and DANE are not done here).
	TLSConfig *tls.Config
	// Self lists this daemon's SMTP listeners (host:port): an exchanger
	// that resolves to one of them, or is named Hostname, is a mail loop.
	Self []string

	// TLSPolicy maps a recipient domain (lower case) to its TLS mode;
	// domains not listed are TLSOpportunistic. Ignored with a Relay.
	TLSPolicy map[string]TLSMode
	// RootCAs verifies certificates where verification is required
	// (TLSRequire, a relay over TLS); nil means the system roots.
	RootCAs *x509.CertPool
	// Relay, when set, takes every Job: no MX lookups (smarthost).
	Relay *Relay

	// IdleTimeout is how long a connection is kept after a transaction
	// for the next Job to the same destination (domain, or the relay);
	// default 5s, negative: no reuse.
	IdleTimeout time.Duration
	// MaxMessagesPerConn closes a connection after this many transactions;
	// default 100. The transactions of one Job (more than 100 recipients,
	// or a server that takes fewer) run on one connection regardless.
	MaxMessagesPerConn int
	// MaxIdlePerDest caps the idle connections kept for one destination
	// (a domain, or the relay); default 16. The daemon sets it to its
	// workers: a destination never has more connections busy at once than
	// that, so none of them is closed just to be reopened by the next
	// burst, and the scheduler's concurrency limits keep a domain's below
	// it anyway (see doc.go, Connection reuse).
	MaxIdlePerDest int
	// OnDNSError, when set, hears the kind of every failed MX or address
	// lookup (metrics); an error that is not a *DNSError is KindTemporary.
	OnDNSError func(kind DNSErrorKind)

	// MTASTS turns on MTA-STS (RFC 8461) for MX delivery: the Resolver
	// must also have LookupTXT (TXTResolver). An enforce policy limits
	// delivery to its MX hosts over verified TLS (RootCAs); a domain in
	// TLSPolicy ignores MTA-STS (the operator's word wins).
	MTASTS bool
	// STSClient fetches policies; default: verified TLS against RootCAs,
	// dialing through Dialer, no redirects, STSFetchTimeout.
	STSClient *http.Client
	// STSStore keeps policies; default NewMemorySTSStore().
	STSStore STSStore

	// DANE turns on DANE for SMTP (RFC 7672): the Resolver must also be a
	// DNSSECResolver, and the DNS servers it asks must validate (set the
	// AD bit). Where the domain's MX answer and an exchanger's TLSA answer
	// are validated, that exchanger gets mail only over STARTTLS with a
	// chain the TLSA records accept; MTA-STS does not apply to it. A
	// domain in TLSPolicy ignores DANE, as it does MTA-STS.
	DANE bool
	// OnTLS, when set, hears every new session's TLS outcome and every
	// policy failure (TLS-RPT counting). It must not block.
	OnTLS func(TLSEvent)
}

// Deliverer hands Jobs to their domain's exchangers, or to the relay. It
// is safe for concurrent use; it keeps idle connections between Deliver
// calls until Close.
type Deliverer struct {
	opts Options
	log  *zap.Logger
	self *selfSet
	pool *pool
	ips  *ipLimiter
	down *ipHealth      // nil: no per-address breaker
	sts  *stsState      // nil: no MTA-STS
	dane DNSSECResolver // nil: no DANE
}

// New fills the defaults in opts and returns a Deliverer.
func New(opts Options) *Deliverer {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	opts.Port = defInt(opts.Port, DefaultPort)
	opts.MaxHosts = defInt(opts.MaxHosts, DefaultMaxHosts)
	opts.MaxAddrs = defInt(opts.MaxAddrs, DefaultMaxAddrs)
	opts.ConnectTimeout = defDur(opts.ConnectTimeout, DefaultConnectTimeout)
	opts.GreetingTimeout = defDur(opts.GreetingTimeout, DefaultGreetingTimeout)
	opts.CommandTimeout = defDur(opts.CommandTimeout, DefaultCommandTimeout)
	opts.DataTimeout = defDur(opts.DataTimeout, DefaultDataTimeout)
	opts.MaxMessagesPerConn = defInt(opts.MaxMessagesPerConn, DefaultMaxMessages)
	opts.MaxIdlePerDest = defInt(opts.MaxIdlePerDest, DefaultMaxIdlePerDest)
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Resolver == nil {
		opts.Resolver = NewResolver(nil)
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.OnDNSError == nil {
		opts.OnDNSError = func(DNSErrorKind) {}
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	d := &Deliverer{opts: opts, log: log.Named("delivery"), self: newSelfSet(opts.Self), pool: newPool(opts.IdleTimeout, opts.MaxIdlePerDest),
		ips: newIPLimiter(opts.MaxConnsPerIP)}
	if opts.DownAfter >= 0 {
		d.down = newIPHealth(opts.Clock, defInt(opts.DownAfter, DefaultDownAfter),
			defDur(opts.DownFirst, DefaultDownFirst), defDur(opts.DownMax, DefaultDownMax))
	}
	if txt, ok := opts.Resolver.(TXTResolver); ok && opts.MTASTS && opts.Relay == nil {
		st := &stsState{client: opts.STSClient, store: opts.STSStore, txt: txt}
		if st.client == nil {
			st.client = defaultSTSClient(&opts)
		}
		if st.store == nil {
			st.store = NewMemorySTSStore()
		}
		d.sts = st
	}
	if sec, ok := opts.Resolver.(DNSSECResolver); ok && opts.DANE && opts.Relay == nil {
		d.dane = sec
	}
	return d
}

// Close QUITs the idle connections and keeps no more. Deliver still works
// after Close, each connection closed when its Job is done.
func (d *Deliverer) Close() { d.pool.close() }

func defInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func defDur(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// Deliver makes one delivery attempt for job and returns exactly one Result
// per job.Rcpts entry, in the same order. It returns when the attempt is
// over or ctx ends (the connection is then closed and the results say so).
func (d *Deliverer) Deliver(ctx context.Context, job Job) []Result {
	start := d.opts.Clock.Now()
	results := d.deliver(ctx, job)
	src := SourceOpportunistic
	if d.opts.Relay != nil {
		src = SourceRelay
	} else if _, set := d.opts.TLSPolicy[job.Domain]; set {
		src = SourceTLSPolicy
	}
	for i := range results {
		results[i].Rcpt = job.Rcpts[i]
		results[i].Duration = d.opts.Clock.Now().Sub(start)
		if results[i].TLSPolicy == "" {
			results[i].TLSPolicy = src
		}
	}
	return results
}

func (d *Deliverer) deliver(ctx context.Context, job Job) []Result {
	if len(job.Rcpts) == 0 {
		return nil
	}
	job, err := wireJob(job)
	if err != nil {
		return fill(len(job.Rcpts), localFail(StageResolve, "5.1.2", err))
	}
	body := normalizeBody(job.Body)
	if err := checkAddr(job.Sender); err != nil {
		return fill(len(job.Rcpts), localFail(StageMail, "5.1.7", fmt.Errorf("sender: %w", err)))
	}
	key := domainKey(job)
	if d.opts.Relay != nil {
		key = relayKey
	}
	if job.probe && d.opts.Relay != nil {
		return fill(len(job.Rcpts), localFail(StageRcpt, "4.3.5", errors.New("no probe through a relay: the smarthost would answer, not the domain")))
	}
	sts := d.stsFor(ctx, job.Domain)
	var enforce *CachedSTS
	if sts != nil && sts.Policy.Mode == STSEnforce {
		enforce = sts
	}
	if !job.probe {
		if res, ok := d.fromPool(ctx, job, body, key, enforce); ok {
			return res
		}
	}
	if d.opts.Relay != nil {
		return d.viaRelay(ctx, job, body)
	}
	if ip, ok, err := ipLiteral(job.Domain); ok {
		if err != nil {
			return fill(len(job.Rcpts), localFail(StageResolve, "5.1.2", err))
		}
		return d.tryHosts(ctx, job, body, []MX{{Host: ip.String()}}, false, nil)
	}
	hosts, implicit, secure, fail := d.exchangers(ctx, job.Domain)
	if fail != nil {
		return fill(len(job.Rcpts), *fail)
	}
	p := &plan{sts: sts}
	if _, set := d.opts.TLSPolicy[job.Domain]; d.dane != nil && secure && !set {
		p.dane = d.daneHosts(ctx, hosts)
	}
	if enforce != nil {
		if hosts, fail = d.filterSTS(enforce, job.Domain, hosts, p.dane); fail != nil {
			return fill(len(job.Rcpts), *fail)
		}
	}
	return d.tryHosts(ctx, job, body, hosts, implicit, p)
}

// Probe asks domain's exchangers whether they take rcpts, without sending
// anything: EHLO, MAIL FROM:<>, RCPT TO for each, then QUIT on a fresh
// connection that is never pooled. Failover, the per-IP cap and the
// per-address breakers apply as for Deliver. Each recipient's Result is
// its RCPT reply (Stage rcpt), or the failure that came before it.
func (d *Deliverer) Probe(ctx context.Context, domain string, rcpts []string) []Result {
	return d.Deliver(ctx, Job{MessageID: "probe", Domain: domain, Rcpts: rcpts, probe: true})
}

// exchangers looks up the domain's MX hosts. implicit is true when the
// domain has no MX and its own name stands in (RFC 5321 5.1); secure when
// DANE is on and the resolver validated the answer.
func (d *Deliverer) exchangers(ctx context.Context, domain string) ([]MX, bool, bool, *Result) {
	var mxs []MX
	var err error
	secure := false
	if d.dane != nil {
		mxs, secure, err = d.dane.LookupMXSecure(ctx, domain)
	} else {
		mxs, err = d.opts.Resolver.LookupMX(ctx, domain)
	}
	hosts, implicit, fail := d.mxResult(domain, mxs, err)
	return hosts, implicit, secure, fail
}

func (d *Deliverer) mxResult(domain string, mxs []MX, err error) ([]MX, bool, *Result) {
	d.dnsFailed(err)
	var de *DNSError
	switch {
	case errors.Is(err, ErrNullMX):
		r := localFail(StageResolve, "5.1.10", err)
		r.Text = fmt.Sprintf("domain %s accepts no mail (null MX, RFC 7505)", domain)
		return nil, false, &r
	case errors.As(err, &de) && de.Permanent:
		r := localFail(StageResolve, "5.1.2", err)
		r.Text = fmt.Sprintf("domain %s does not exist (NXDOMAIN)", domain)
		return nil, false, &r
	case err != nil:
		r := localFail(StageResolve, "4.4.3", err)
		r.Text = fmt.Sprintf("temporary DNS failure looking up MX for %s: %v", domain, err)
		return nil, false, &r
	case len(mxs) == 0:
		return []MX{{Host: domain}}, true, nil
	}
	return mxs, false, nil
}

// dnsFailed reports a lookup's error, if any, to OnDNSError.
func (d *Deliverer) dnsFailed(err error) {
	var de *DNSError
	switch {
	case err == nil:
	case errors.As(err, &de):
		d.opts.OnDNSError(de.Kind)
	default:
		d.opts.OnDNSError(KindTemporary)
	}
}

// localFail is a Result for a failure with no reply from a server.
func localFail(stage Stage, enhanced string, err error) Result {
	return Result{Enhanced: enhanced, Text: err.Error(), Stage: stage, Err: err}
}

// fill returns n copies of r.
func fill(n int, r Result) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}
