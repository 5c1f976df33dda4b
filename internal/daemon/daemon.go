// Package daemon wires mtaq serve together: it opens the queue, joins the
// fleet when [cluster] is set (internal/cluster), starts the submission
// listeners, the delivery client and the scheduler, and stops them in
// order (the fleet after delivery, the queue last). It owns lifecycle only; every decision lives in the packages it
// wires. Tests start it in-process with a fake Clock, Resolver or Dialer.
package daemon

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/console"
	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/fsperm"
	"github.com/mtaq/mtaq/internal/httpapi"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/internal/submission"
	"github.com/mtaq/mtaq/internal/tlsrpt"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// Options are the seams a test may replace; nil means the real thing.
type Options struct {
	Config   conf.Config
	Clock    clock.Clock
	Resolver delivery.Resolver
	Dialer   delivery.Dialer
	Logger   *zap.Logger
	// STSClient fetches MTA-STS policies (nil: verified HTTPS against the
	// system roots, through Dialer).
	STSClient *http.Client
	// Rand feeds retry jitter; nil is math/rand.
	Rand func() float64
	// ConnectTimeout, GreetingTimeout and CommandTimeout shorten the SMTP
	// client's timeouts in tests (zero: the configuration's, or RFC
	// defaults).
	ConnectTimeout, GreetingTimeout, CommandTimeout time.Duration
	// LoadConfig reads the configuration again for a reload (SIGHUP, mtaq
	// reload); nil: reloading is refused.
	LoadConfig func() (conf.Config, error)
}

// Daemon is a running mtaq serve.
type Daemon struct {
	log   *zap.Logger
	store *queue.PebbleStore
	sub   *submission.Server
	sched *scheduler.Scheduler
	in    *intake.Intake
	admin *admin.Server
	http  *httpapi.Server // nil without http.listen
	// unsigned counts mail queued without DKIM per From domain, for stats.
	unsigned unsignedCounts
	deliv    *delivery.Deliverer
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once

	fbl        *feedbackLoop
	verifier   *verify.Verifier
	metrics    *metrics.Registry
	metricsSrv *metrics.Server // nil without metrics.listen
	fleet      *fleet          // nil without [cluster]
	drain      *drainer        // mtaq drain

	// For /readyz: set once submission listens, and when Stop begins.
	listening, stopping atomic.Bool

	// What a reload (SIGHUP, mtaq reload) compares with and replaces.
	reloadMu  sync.Mutex
	cfg       conf.Config                 // the last configuration applied
	started   conf.Config                 // what restart-only settings still run with
	load      func() (conf.Config, error) // Options.LoadConfig
	svc       *admin.Service
	subCerts  *certs // submission's and the bounce listener's; nil without tls_cert
	httpCerts *certs
	console   *console.Console // the web console on the HTTP listeners; nil without them
	hooks     *webhookRunner
}

// Start opens the queue and starts listening and delivering.
func Start(o Options) (*Daemon, error) {
	c := o.Config
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname not configured and unknown: %w", err)
		}
		c.Hostname = h
	}
	subCert, users, err := loadAuth(c.Submission)
	if err != nil {
		return nil, err
	}
	// Message bodies are in data_dir: no other user may read them or
	// replace a directory on the way (the maildrop keeps its own mode).
	tightened, err := fsperm.SecureDataDir(c.DataDir, c.MaildropPath())
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if tightened > 0 {
		o.Logger.Warn("tightened modes in data_dir: other users could read them", zap.String("data_dir", c.DataDir),
			zap.Int("changed", tightened))
	}
	store, err := queue.Open(c.DataDir, queue.Options{Logger: o.Logger, Clock: o.Clock,
		MinFreeBytes: c.Queue.MinFreeBytes, SharedOutbox: c.Cluster != nil})
	if err != nil {
		return nil, fmt.Errorf("opening the queue in %s: %w", c.DataDir, err)
	}
	// Fleet mode joins before anything takes mail, so the suppression copy
	// is current (or known to be the last one) when the first RCPT comes.
	fleet, err := startCluster(c, o, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	// shut undoes the above on a later failure to start.
	shut := func() {
		fleet.stop()
		store.Close()
	}
	classifier, err := c.Policy.Classifier()
	if err != nil {
		shut()
		return nil, fmt.Errorf("policy rules: %w", err)
	}
	reg := metrics.New(metrics.Options{Store: store, Logger: o.Logger})
	if o.Resolver == nil {
		// One resolver, one DNS cache: delivery's and verification's.
		o.Resolver = delivery.NewResolver(c.DNSServerAddrs())
	}
	var sts delivery.STSStore
	if c.Delivery.MTASTS {
		st, err := newSTSStore(context.Background(), store, c.DataDir, o.Logger)
		if err != nil {
			shut()
			return nil, fmt.Errorf("reading the MTA-STS policies: %w", err)
		}
		sts = st
	}
	counter := tlsrpt.NewCounter(store, o.Clock, o.Logger.Named("tlsrpt"))
	d := &Daemon{log: o.Logger, store: store, done: make(chan struct{}), deliv: newDeliverer(c, o, reg, sts, tlsEvent(counter, reg)), metrics: reg,
		fleet: fleet, cfg: c, started: c, load: o.LoadConfig, subCerts: newCerts(subCert)}
	if d.fbl, err = newFeedbackLoop(c, o, store, classifier, reg); err != nil {
		shut()
		return nil, err
	}
	gate := &dueGate{Store: store} // closed while mtaq drain --transfer-to hands messages over
	d.sched = scheduler.New(scheduler.Options{
		Store:     gate,
		Deliverer: d.deliv,
		Clock:     o.Clock,
		Schedule: policy.Schedule{First: c.Retry.First.Duration, Max: c.Retry.Max.Duration,
			Expire: c.Retry.Expire.Duration, Jitter: c.Retry.Jitter},
		Classifier:        classifier,
		TTLs:              c.Suppression.TTLs(),
		SoftStreak:        streakLimit(c.Suppression.SoftStreak),
		SenderAlarm:       c.Alerts.SenderSideThreshold,
		SenderAlarmWindow: c.Alerts.SenderSideWindow.Duration,
		Workers:           c.Delivery.Workers,
		PerDomain:         c.Delivery.PerDomainConcurrency,
		PerDomainRate:     c.Delivery.PerDomainRate,
		Pools:             schedulerPools(c, o.Logger),
		DefaultPool:       c.Delivery.DefaultPool(),
		Sent:              store,
		Rand:              o.Rand,
		Logger:            o.Logger,
		MailLog:           o.Logger.Named("mail"),
		OnOutcome:         reg.Outcome,
		ReturnPath:        d.fbl.returnPath(),
		Fleet:             fleet.share(),
	})
	fleet.connect(d.sched)
	reg.WatchScheduler(d.sched)
	fleet.watch(reg)
	if d.verifier, err = newVerifier(c, o, store, d.deliv, classifier, reg, d.sched); err != nil {
		shut()
		return nil, err
	}
	signer, err := loadDKIM(c)
	if err != nil {
		shut()
		return nil, err
	}
	in := intake.New(intake.Options{Hostname: c.Hostname, Store: store, Clock: o.Clock, Logger: o.Logger,
		MaxMessageBytes: c.Submission.MaxMessageBytes, MaxRecipients: c.Submission.MaxRecipients,
		MaxHops: c.Submission.MaxHops, RefuseSuppressed: c.Suppression.OnSuppressed == "refuse",
		DKIM: signer, RequireDKIM: c.DKIMRequire, OnQueued: func(string) { d.sched.Wake() }, OnRejected: reg.Rejected,
		OnUnsigned: func(domain string) { reg.Unsigned(domain); d.unsigned.add(domain) },
		Pools:      intakePools(c)})
	d.in = in
	pk, err := openPickup(c, o, in)
	if err != nil {
		shut()
		return nil, err
	}
	hooks := newWebhookRunner(c, o.Clock, store, reg, o.Logger)
	d.hooks = hooks
	var svc *admin.Service
	if d.admin, svc, err = startAdmin(c, o, store, d.sched, d.unsigned.snapshot, d.fbl, webhookSet{hooks.hooks},
		snapshotter(c.DataDir, store, pk, o.Logger), d.verifier, fleet, in); err == nil {
		d.svc = svc
		svc.SetReloader(d.ReloadNow)
		svc.SetTLSReporter(tlsReport(c, o, counter))
		token, _ := c.Admin.AdminToken() // read once already by startAdmin
		d.drain = &drainer{log: o.Logger.Named("drain"), clock: o.Clock, node: cmp.Or(fleet.nodeName(), c.Hostname), store: store,
			gate: gate, sched: d.sched, in: in, fleet: fleet, token: token}
		svc.SetDrainer(d.drain)
	} else {
		pk.Close()
		shut()
		return nil, err
	}
	if d.metricsSrv, err = startMetrics(c, reg, o.Logger, d.readiness()); err != nil {
		d.admin.Shutdown(context.Background()) //nolint:errcheck // reporting the first error
		pk.Close()
		shut()
		return nil, err
	}
	d.sub, err = submission.New(submission.Options{
		Hostname:         c.Hostname,
		Listen:           c.Submission.Listen,
		Trusted:          c.TrustedPrefixes(),
		MaxMessageBytes:  c.Submission.MaxMessageBytes,
		MaxRecipients:    c.Submission.MaxRecipients,
		Intake:           in,
		Clock:            o.Clock,
		Logger:           o.Logger,
		OnAccepted:       reg.Accepted,
		SubmissionListen: c.Submission.SubmissionListen,
		SMTPSListen:      c.Submission.SMTPSListen,
		TLS:              d.subCerts.config(),
		Users:            users,
		AuthMaxFailures:  c.Submission.AuthMaxFailures,
		AuthIPFailures:   c.Submission.AuthIPFailures,
		AuthIPWindow:     c.Submission.AuthIPWindow.Duration,

		MaxConnections:                c.Submission.MaxConnections,
		MaxConnectionsPerIP:           c.Submission.MaxConnectionsPerIP,
		MaxConnectionsUntrusted:       c.Submission.MaxConnectionsUntrusted,
		MaxConnectionsUntrustedPerIP:  c.Submission.MaxConnectionsUntrustedPerIP,
		MaxConnectionsUntrustedPerNet: c.Submission.MaxConnectionsUntrustedPerNet,
		MaxSessionDuration:            c.Submission.MaxSessionDuration.Duration,
		SpoolDir:                      filepath.Join(c.DataDir, "spool"),
		SpoolThreshold:                int(c.Submission.SpoolThreshold),
		MaxBytesInFlight:              c.Submission.MaxBytesInFlight,
		ProxyNetworks:                 c.Submission.ProxyPrefixes(),
	})
	if err == nil {
		err = d.fbl.listen(c, o, d.subCerts.config())
	}
	if err == nil {
		if err = d.sub.Start(); err != nil {
			d.fbl.shutdown(context.Background()) //nolint:errcheck // reporting the first error
		}
	}
	if err == nil {
		if d.http, d.httpCerts, d.console, err = startHTTP(c, o, in, store, svc, reg); err != nil {
			d.sub.Shutdown(context.Background()) //nolint:errcheck // reporting the first error
			d.fbl.shutdown(context.Background()) //nolint:errcheck // reporting the first error
		}
	}
	if err != nil {
		d.admin.Shutdown(context.Background()) //nolint:errcheck // reporting the first error
		d.stopMetrics(context.Background())    //nolint:errcheck // reporting the first error
		pk.Close()
		shut()
		return nil, err
	}
	d.listening.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(6)
	reports := newTLSRPT(c, o, store, in, counter)
	go func() { defer wg.Done(); reports.Run(ctx) }()
	go func() { defer wg.Done(); defer pk.Close(); pk.Run(ctx) }()
	go func() { defer wg.Done(); stsRefreshLoop(ctx, d.deliv, o.Clock, o.Logger) }()
	go func() { defer wg.Done(); d.sched.Run(ctx) }()
	go func() {
		defer wg.Done()
		purgeLoop(ctx, store, o.Clock, c.Queue.Retention.Duration,
			max(c.Queue.Retention.Duration, c.Verify.HistoryWindow.Duration), o.Logger, func(ctx context.Context) {
				for _, h := range hooks.hooks() {
					if err := h.RecountDeadLetters(ctx); err != nil && ctx.Err() == nil {
						o.Logger.Error("counting webhook dead letters", zap.Error(err))
					}
				}
			})
	}()
	go func() { defer wg.Done(); runEvents(ctx, c, o.Clock, store, in, hooks, o.Logger) }()
	go func() { wg.Wait(); close(d.done) }()
	o.Logger.Info("mtaq started", zap.String("hostname", c.Hostname), zap.String("data_dir", c.DataDir),
		zap.Stringers("listen", addrs(d.sub.Addrs())))
	return d, nil
}

// streakLimit maps the config's "0 is off" to the scheduler's "negative is
// off" (its zero value means the default).
func streakLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func newDeliverer(c conf.Config, o Options, reg *metrics.Registry, stsStore delivery.STSStore, onTLS func(delivery.TLSEvent)) *delivery.Deliverer {
	res := o.Resolver
	if res == nil {
		res = delivery.NewResolver(c.DNSServerAddrs())
	}
	dl := c.Delivery
	var relay *delivery.Relay
	if dl.Relay != "" {
		relay = &delivery.Relay{Addr: dl.Relay, Username: dl.RelayUsername, Password: dl.RelayPassword,
			PasswordFile: dl.RelayPasswordFile, TLS: delivery.RelayTLS(dl.RelayTLS)}
	}
	tlsPolicy := map[string]delivery.TLSMode{}
	for dom, mode := range dl.TLSPolicies() {
		if a, err := delivery.ASCIIDomain(dom); err == nil {
			dom = a // jobs name their domain by its A-label
		}
		tlsPolicy[dom] = delivery.TLSMode(mode)
	}
	idle := dl.ConnectionIdleTimeout.Duration
	if idle == 0 {
		idle = -1 // "0s" in the file turns reuse off
	}
	return delivery.New(delivery.Options{
		Hostname:           c.Hostname,
		Port:               c.Delivery.Port,
		Resolver:           res,
		Dialer:             o.Dialer,
		Logger:             o.Logger,
		ConnectTimeout:     cmp.Or(o.ConnectTimeout, dl.ConnectTimeout.Duration),
		GreetingTimeout:    cmp.Or(o.GreetingTimeout, dl.GreetingTimeout.Duration),
		CommandTimeout:     o.CommandTimeout,
		MaxConnsPerIP:      dl.PerIPLimit(),
		Relay:              relay,
		TLSPolicy:          tlsPolicy,
		MTASTS:             dl.MTASTS, // tls_policy domains skip it
		STSStore:           stsStore,
		STSClient:          o.STSClient,
		DANE:               dl.DANE,
		OnTLS:              onTLS,
		IdleTimeout:        idle,
		MaxMessagesPerConn: dl.ConnectionMaxMessages,
		// As many idle as could be busy: a burst to one destination (the
		// relay, most of all) reuses what the last one opened.
		MaxIdlePerDest: dl.Workers,
		OnDNSError:     func(k delivery.DNSErrorKind) { reg.DNSError(string(k)) },
		// An MX that is us is a loop, whichever of our listeners it hits.
		Self: slices.Concat(c.Submission.Listen, c.Submission.SubmissionListen, c.Submission.SMTPSListen),
	})
}

// loadAuth reads the files conf does not read: the TLS certificate and key
// and the users file. Errors name the configuration key.
func loadAuth(s conf.Submission) (*tls.Certificate, []submission.User, error) {
	cert, err := loadCert("submission", s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, nil, err
	}
	var data []byte
	if s.UsersFile != "" {
		if data, err = os.ReadFile(s.UsersFile); err != nil {
			return nil, nil, fmt.Errorf("submission.users_file: %w", err)
		}
	}
	all, err := s.AllUsers(data)
	users := make([]submission.User, 0, len(all))
	for _, u := range all {
		if u.PasswordHash == "" {
			continue // API keys only: no SMTP AUTH
		}
		users = append(users, submission.User{Name: u.Name, PasswordHash: u.PasswordHash,
			AllowedSenders: u.AllowedSenders, DSN: u.DSN})
	}
	return cert, users, err
}

// unsignedCounts is a bounded count of unsigned mail per From domain:
// past maxUnsignedDomains distinct domains the rest count as "other".
type unsignedCounts struct {
	mu sync.Mutex
	m  map[string]uint64
}

const maxUnsignedDomains = 100

func (u *unsignedCounts) add(domain string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]uint64{}
	}
	if _, ok := u.m[domain]; !ok && len(u.m) >= maxUnsignedDomains {
		domain = "other"
	}
	u.m[domain]++
}

func (u *unsignedCounts) snapshot() map[string]uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.m)
}

// loadDKIM reads every [[dkim]] key; serve has checked them already
// (conf.CheckFiles), so an error here is a file changed since.
func loadDKIM(c conf.Config) (*dkim.Signer, error) {
	keys := make([]dkim.Key, 0, len(c.DKIM))
	for i, k := range c.DKIM {
		s, err := conf.LoadDKIMKey(k.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("dkim[%d].key_file %s: %w", i, k.KeyFile, err)
		}
		keys = append(keys, dkim.Key{Domain: k.Domain, Selector: k.Selector, Signer: s, Headers: k.Headers,
			Expire: k.Expire.Duration})
	}
	return dkim.New(keys), nil
}

func addrs(as []net.Addr) []fmt.Stringer {
	out := make([]fmt.Stringer, len(as))
	for i, a := range as {
		out[i] = a
	}
	return out
}

// HTTPAddrs returns the HTTP API's listener addresses (none without
// http.listen).
func (d *Daemon) HTTPAddrs() []net.Addr {
	if d.http == nil {
		return nil
	}
	return d.http.Addrs()
}

func (d *Daemon) stopHTTP(ctx context.Context) error {
	if d.http == nil {
		return nil
	}
	return d.http.Shutdown(ctx)
}

// Addrs returns the submission listeners' addresses.
func (d *Daemon) Addrs() []net.Addr { return d.sub.Addrs() }

// Verifier returns the daemon's address verifier (the HTTP API's POST
// /v1/verify calls its Verify, as the admin Service does).
func (d *Daemon) Verifier() *verify.Verifier { return d.verifier }

// Store exposes the queue to tests and, later, the admin API.
func (d *Daemon) Store() queue.Store { return d.store }

// Intake is the one way into the queue, for tests that go in as a way
// of their own (the DSN path) and, later, the HTTP API.
func (d *Daemon) Intake() *intake.Intake { return d.in }

// Scheduler exposes the scheduler (Wake) to tests.
func (d *Daemon) Scheduler() *scheduler.Scheduler { return d.sched }

// Stop ends submission (sessions in DATA get until ctx's deadline), then
// delivery, then closes the queue. Safe to call more than once.
func (d *Daemon) Stop(ctx context.Context) error {
	var err error
	d.once.Do(func() {
		d.stopping.Store(true)
		// Ways in first: a request in flight finishes its commit.
		err = errors.Join(d.stopHTTP(ctx), d.sub.Shutdown(ctx), d.fbl.shutdown(ctx), d.stopMetrics(ctx)) // scrapes read the store
		d.cancel()
		<-d.done
		d.deliv.Close() // QUIT idle connections
		// After delivery, so its last suppressions are in the outbox; what
		// is not pushed yet stays there for the next start.
		d.fleet.stop()
		err = errors.Join(err, d.admin.Shutdown(ctx), d.store.Close())
		d.log.Info("mtaq stopped")
	})
	return err
}
