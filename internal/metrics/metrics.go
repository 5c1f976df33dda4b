// Package metrics exposes mtaq's Prometheus metrics. It owns their names
// (all mtaq_…), labels, the bound on the destination label's cardinality
// and the caching of gauges that cost a scan; it decides nothing and
// changes nothing. The packages it measures do not import it: each takes a
// callback in its Options, which the daemon points here.
//
// Each Registry is private (never prometheus.DefaultRegisterer), so tests
// may run several daemons in one process.
//
// Invariants:
//
//	M1 every destination label is one of at most Options.TopDestinations
//	   domains or "other"; a domain's label never changes once given.
//	M2 a scrape scans the queue at most once per Options.CacheFor, however
//	   often and concurrently it is scraped.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/buildinfo"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// Options configures a Registry. Every field may be left zero.
type Options struct {
	// Store feeds mtaq_queue_recipients and mtaq_suppressions; nil: neither.
	Store Store
	// CacheFor is how long a queue scan serves scrapes (default 10s):
	// counting a queue of millions on every scrape would load the store.
	CacheFor time.Duration
	// ScanTimeout bounds one queue scan (default 30s).
	ScanTimeout time.Duration
	// TopDestinations domains at most get their own destination label
	// (default 50), each once it has MinVolume outcomes (default 10).
	TopDestinations, MinVolume int
	// Clock times the cache; default real (the cache is about wall time
	// spent scanning, not about the schedule).
	Clock  clock.Clock
	Logger *zap.Logger
	// Build labels mtaq_build_info; zero: the running binary's.
	Build buildinfo.Info
}

func (o *Options) fill() {
	if o.CacheFor <= 0 {
		o.CacheFor = 10 * time.Second
	}
	if o.ScanTimeout <= 0 {
		o.ScanTimeout = 30 * time.Second
	}
	if o.TopDestinations <= 0 {
		o.TopDestinations = 50
	}
	if o.MinVolume <= 0 {
		o.MinVolume = 10
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Build == (buildinfo.Info{}) {
		o.Build = buildinfo.Read()
	}
	o.Logger = o.Logger.Named("metrics")
}

// Registry holds mtaq's metrics. Its methods are safe for concurrent use.
type Registry struct {
	reg        *prometheus.Registry
	dests      *labeler
	deliveries *prometheus.CounterVec
	attempts   *prometheus.HistogramVec
	acceptance prometheus.Histogram
	accepted   prometheus.Counter
	dnsErrors  *prometheus.CounterVec
	tlsSess    *prometheus.CounterVec
	verified   *prometheus.CounterVec
	probes     *prometheus.CounterVec
	unsigned   *prometheus.CounterVec
	feedback   *prometheus.CounterVec
	froms      *labeler
	hookReqs   *prometheus.CounterVec
	hookTimes  *prometheus.HistogramVec
	webhooks   atomic.Pointer[func() []WebhookState]
	top        int
}

// New returns a Registry with the Go runtime and process collectors and
// every mtaq_ metric registered.
func New(o Options) *Registry {
	o.fill()
	r := &Registry{
		reg:   prometheus.NewRegistry(),
		top:   o.TopDestinations,
		dests: newLabeler(o.TopDestinations, o.MinVolume, maxCandidates),
		froms: newLabeler(o.TopDestinations, o.MinVolume, maxCandidates),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_deliveries_total",
			Help: "Recipient outcomes by decision (delivered, deferred, bounced, failed, expired, rejected), reply category and destination (the busiest domains, else \"other\").",
		}, []string{"outcome", "category", "destination"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtaq_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, per recipient outcome.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"outcome"}),
		acceptance: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mtaq_acceptance_latency_seconds",
			Help:    "Time from the end of DATA to the 250 reply (the synced enqueue).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mtaq_accepted_messages_total",
			Help: "Messages accepted by submission (answered 250).",
		}),
		dnsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_dns_errors_total",
			Help: "Failed DNS lookups during delivery, by kind (nxdomain, null-mx, servfail, refused, timeout, temporary).",
		}, []string{"kind"}),
		tlsSess: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_tls_sessions_total",
			Help: "Outbound SMTP sessions by TLS policy type (sts, tlsa, no-policy-found) and result (success or an RFC 8460 result type), as TLS reports count them.",
		}, []string{"policy", "result"}),
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_verify_addresses_total",
			Help: "Addresses verified (mtaq verify, POST /v1/verify), by verdict (valid, invalid, risky, unknown).",
		}, []string{"verdict"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_verify_probes_total",
			Help: "SMTP probes by outcome (mailbox_exists, mailbox_rejected, catch_all, probe_failed, probe_rate_limited).",
		}, []string{"result"}),
		unsigned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_dkim_unsigned_total",
			Help: "Messages queued without a DKIM signature because no [[dkim]] key covers their From domain (the busiest domains, else \"other\"; \"none\" when From has no domain).",
		}, []string{"from_domain"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_feedback_reports_total",
			Help: "Report emails received (bounce listener and mtaq bounce receive) by kind (dsn, complaint, auto_reply, not_bounce) and whether they matched a message of ours (true, false).",
		}, []string{"kind", "matched"}),
		hookReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtaq_webhook_requests_total",
			Help: "Webhook requests by endpoint ([[webhook]] name) and answer: 2xx, 3xx, 4xx, 5xx, or error (no answer).",
		}, []string{"webhook", "status"}),
		hookTimes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtaq_webhook_request_duration_seconds",
			Help:    "Duration of webhook requests by endpoint, answered or not.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"webhook"}),
	}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.deliveries, r.attempts, r.acceptance, r.accepted, r.dnsErrors, r.tlsSess, r.unsigned, r.feedback, r.verified, r.probes,
		r.hookReqs, r.hookTimes, webhookCollector{r},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mtaq_build_info",
			Help: "Always 1; the labels say which mtaq runs (module version, VCS revision, Go version).",
			ConstLabels: prometheus.Labels{"version": o.Build.Version, "revision": o.Build.Revision,
				"goversion": o.Build.GoVersion},
		}, func() float64 { return 1 }),
	)
	if o.Store != nil {
		r.reg.MustRegister(newQueueCollector(o))
	}
	return r
}

// WatchScheduler adds the destination gauges and sender-side counters,
// read from s at each scrape. The scheduler is built after the Registry
// (it reports outcomes to it), hence a method rather than an option. Call
// it at most once.
func (r *Registry) WatchScheduler(s Scheduler) {
	r.reg.MustRegister(&destCollector{sched: s, labels: r.dests, top: r.top})
}

// maxCandidates bounds the domains counted towards a label of their own.
const maxCandidates = 10000

// Gatherer returns the registry for promhttp or tests.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the text exposition format. Collection errors are logged
// by the caller's server, and the rest is still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             time.Minute,
	})
}

// Outcome counts one recipient's outcome; it is scheduler.Options.OnOutcome.
func (r *Registry) Outcome(o scheduler.Outcome) {
	cat := o.Category
	if cat == "" {
		cat = "none"
	}
	r.deliveries.WithLabelValues(o.Decision, cat, r.dests.count(o.Domain)).Inc()
	if o.Sent {
		r.attempts.WithLabelValues(o.Decision).Observe(o.Duration.Seconds())
	}
}

// Accepted records one accepted message and how long its 250 took.
func (r *Registry) Accepted(latency time.Duration) {
	r.accepted.Inc()
	r.acceptance.Observe(latency.Seconds())
}

// Rejected counts one recipient intake recorded as rejected (suppressed
// when the mail came in, nothing to send) in
// mtaq_deliveries_total{outcome="rejected"}, like those the scheduler
// rejects later: the scheduler never sees them.
func (r *Registry) Rejected(domain string) {
	r.Outcome(scheduler.Outcome{Domain: domain, Decision: string(queue.Rejected), Category: "suppressed"})
}

// Unsigned counts one message queued without a DKIM signature.
func (r *Registry) Unsigned(fromDomain string) {
	if fromDomain == "" {
		fromDomain = "none"
	}
	r.unsigned.WithLabelValues(r.froms.count(fromDomain)).Inc()
}

// FeedbackReport counts one received report.
func (r *Registry) FeedbackReport(kind string, matched bool) {
	r.feedback.WithLabelValues(kind, strconv.FormatBool(matched)).Inc()
}

// DNSError counts one failed lookup of the given kind.
func (r *Registry) DNSError(kind string) { r.dnsErrors.WithLabelValues(kind).Inc() }

// TLSSession counts one session's TLS outcome: policy is sts, tlsa or
// no-policy-found, result "" (success) or an RFC 8460 result type; both
// come from fixed lists, so the labels stay bounded.
func (r *Registry) TLSSession(policy, result string) {
	if result == "" {
		result = "success"
	}
	r.tlsSess.WithLabelValues(policy, result).Inc()
}

// Verified counts one verified address by its verdict.
func (r *Registry) Verified(verdict string) { r.verified.WithLabelValues(verdict).Inc() }

// Probe counts one SMTP probe outcome (verify's reason code).
func (r *Registry) Probe(result string) { r.probes.WithLabelValues(result).Inc() }

// WebhookState is one webhook's gauges.
type WebhookState struct {
	Name        string
	Backlog     int // events after its cursor
	DeadLetters int
	Disabled    bool // by a 410 Gone
}

// WatchWebhooks sets the function the webhook gauges read at each scrape;
// nil reports none. Keep it cheap: it runs on every scrape.
func (r *Registry) WatchWebhooks(f func() []WebhookState) {
	if f == nil {
		r.webhooks.Store(nil)
		return
	}
	r.webhooks.Store(&f)
}

// WebhookRequest counts one webhook request: status 0 when there was no
// answer.
func (r *Registry) WebhookRequest(name string, status int, took time.Duration) {
	class := "error"
	if status >= 100 && status < 600 {
		class = strconv.Itoa(status/100) + "xx"
	}
	r.hookReqs.WithLabelValues(name, class).Inc()
	r.hookTimes.WithLabelValues(name).Observe(took.Seconds())
}

var (
	hookBacklogDesc = prometheus.NewDesc("mtaq_webhook_backlog",
		"Events in the outbox a webhook has not settled yet (delivered, dropped or dead-lettered).", []string{"webhook"}, nil)
	hookDeadDesc = prometheus.NewDesc("mtaq_webhook_dead_letters",
		"Events a webhook's endpoint refused (4xx) and that wait in its dead-letter list (mtaq webhooks retry NAME --dead).",
		[]string{"webhook"}, nil)
	hookDisabledDesc = prometheus.NewDesc("mtaq_webhook_disabled",
		"1 while a webhook is disabled because its endpoint answered 410 Gone (mtaq webhooks retry NAME enables it).",
		[]string{"webhook"}, nil)
)

// webhookCollector reads the webhooks' state at scrape time.
type webhookCollector struct{ r *Registry }

func (c webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hookBacklogDesc
	ch <- hookDeadDesc
	ch <- hookDisabledDesc
}

func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.r.webhooks.Load()
	if f == nil {
		return
	}
	for _, w := range (*f)() {
		ch <- prometheus.MustNewConstMetric(hookBacklogDesc, prometheus.GaugeValue, float64(w.Backlog), w.Name)
		ch <- prometheus.MustNewConstMetric(hookDeadDesc, prometheus.GaugeValue, float64(w.DeadLetters), w.Name)
		disabled := 0.0
		if w.Disabled {
			disabled = 1
		}
		ch <- prometheus.MustNewConstMetric(hookDisabledDesc, prometheus.GaugeValue, disabled, w.Name)
	}
}
