// Package tlsrpt is SMTP TLS reporting (RFC 8460) for mail mtaq sends: it
// counts each policy domain's TLS sessions by UTC day, successes and
// failures by result type, keeps the counts in the queue (y/<day>/<domain>)
// so a restart does not lose the day, builds the daily aggregate report
// (RFC 8460 section 4) and sends it to the rua of the domain's
// _smtp._tls TXT record: mailto: as a message through intake (so it is
// queued, signed and retried like any other), https: as a POST.
//
// It does not decide what a session's outcome is (delivery reports it,
// the daemon passes it on), nor deliver anything itself.
//
// Durability: counts are held in memory for at most FlushEvery (one
// minute) and at shutdown are written before the queue closes; a crash
// loses at most that minute. A day's record is marked sent in the queue
// once every rua took the report, so a restart does not send it twice.
package tlsrpt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// Event is one session's TLS outcome under a policy.
type Event struct {
	Domain       string   // the policy domain: the recipient domain
	PolicyType   string   // "sts", "tlsa" or "no-policy-found"
	PolicyString []string // the policy's lines, or the TLSA records
	MXHost       []string // the policy's mx patterns, or the TLSA host
	Result       string   // "" for success, else an RFC 8460 result type
	MX, IP       string   // receiving-mx-hostname, receiving-ip
	Detail       string   // failure-reason-code
}

// Store is the part of the queue that keeps the counts.
type Store interface {
	PutTLSReports(ctx context.Context, day string, recs map[string][]byte) error
	TLSReport(ctx context.Context, day, domain string) ([]byte, error)
	TLSReportDays(ctx context.Context, before string) (map[string]map[string][]byte, error)
	TrimTLSReports(ctx context.Context, before string) error
}

// Limits that keep a day's records small whatever the traffic.
const (
	maxDomainsPerFlush = 10000 // policy domains held in memory between flushes
	maxFailureRows     = 100   // distinct (result, mx, ip) rows per policy
	maxDetail          = 200   // bytes of failure-reason-code kept
)

// Day is one policy domain's counts for one UTC day, as stored.
type Day struct {
	Policies []*PolicyCount `json:"policies"`
	// Sent is when the report went to every rua (or there was no
	// record to send it to); zero while it is still to be sent.
	Sent time.Time `json:"sent,omitzero"`
}

// PolicyCount is the sessions under one policy.
type PolicyCount struct {
	Type     string          `json:"type"`
	Strings  []string        `json:"strings,omitempty"`
	MXHost   []string        `json:"mx_host,omitempty"`
	Success  int64           `json:"success"`
	Failure  int64           `json:"failure"`
	Failures []*FailureCount `json:"failures,omitempty"`
}

// FailureCount is the failed sessions of one result type at one host.
type FailureCount struct {
	Result string `json:"result"`
	MX     string `json:"mx,omitempty"`
	IP     string `json:"ip,omitempty"`
	Detail string `json:"detail,omitempty"` // the first one seen
	Count  int64  `json:"count"`
}

func (d *Day) policy(typ string, strs, mx []string) *PolicyCount {
	for _, p := range d.Policies {
		if p.Type == typ && slices.Equal(p.Strings, strs) {
			return p
		}
	}
	p := &PolicyCount{Type: typ, Strings: strs, MXHost: mx}
	d.Policies = append(d.Policies, p)
	return p
}

func (d *Day) add(ev Event) {
	p := d.policy(ev.PolicyType, ev.PolicyString, ev.MXHost)
	if ev.Result == "" {
		p.Success++
		return
	}
	p.Failure++
	detail := ev.Detail
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
	}
	p.fail(&FailureCount{Result: ev.Result, MX: ev.MX, IP: ev.IP, Detail: detail, Count: 1})
}

func (p *PolicyCount) fail(f *FailureCount) {
	for _, g := range p.Failures {
		if g.Result == f.Result && g.MX == f.MX && g.IP == f.IP {
			g.Count += f.Count
			return
		}
	}
	if len(p.Failures) >= maxFailureRows {
		f.MX, f.IP, f.Detail = "", "", "more hosts than this report lists"
		for _, g := range p.Failures {
			if g.Result == f.Result && g.MX == "" && g.IP == "" {
				g.Count += f.Count
				return
			}
		}
	}
	p.Failures = append(p.Failures, f)
}

// merge adds o's counts to d.
func (d *Day) merge(o *Day) {
	for _, op := range o.Policies {
		p := d.policy(op.Type, op.Strings, op.MXHost)
		p.Success += op.Success
		p.Failure += op.Failure
		for _, f := range op.Failures {
			c := *f
			p.fail(&c)
		}
	}
}

// Total is the day's successful and failed sessions.
func (d *Day) Total() (ok, failed int64) {
	for _, p := range d.Policies {
		ok += p.Success
		failed += p.Failure
	}
	return ok, failed
}

// DayOf is the UTC day of t as the queue keys it (yyyymmdd).
func DayOf(t time.Time) string { return t.UTC().Format("20060102") }

type dayDomain struct{ day, domain string }

// Counter counts events in memory and flushes them into the Store.
type Counter struct {
	store Store
	clk   clock.Clock
	log   *zap.Logger

	mu      sync.Mutex
	pending map[dayDomain]*Day
	dropped int

	flushMu sync.Mutex // one read-modify-write at a time
}

// NewCounter returns a Counter over store.
func NewCounter(store Store, clk clock.Clock, log *zap.Logger) *Counter {
	return &Counter{store: store, clk: clk, log: log, pending: map[dayDomain]*Day{}}
}

// Observe counts ev in today's bucket. It never blocks on storage.
func (c *Counter) Observe(ev Event) {
	ev.Domain = strings.ToLower(strings.TrimSuffix(ev.Domain, "."))
	if ev.Domain == "" || strings.ContainsAny(ev.Domain, "/\x00") || ev.PolicyType == "" {
		return
	}
	k := dayDomain{DayOf(c.clk.Now()), ev.Domain}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.pending[k]
	if d == nil {
		if len(c.pending) >= maxDomainsPerFlush {
			c.dropped++
			return
		}
		d = &Day{}
		c.pending[k] = d
	}
	d.add(ev)
}

// Flush merges what was observed since the last flush into the stored
// records, one synced batch per day. On failure the counts are kept for
// the next flush.
func (c *Counter) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	p, dropped := c.pending, c.dropped
	c.pending, c.dropped = map[dayDomain]*Day{}, 0
	c.mu.Unlock()
	if dropped > 0 {
		c.log.Warn("tls-rpt events dropped: too many policy domains in one minute", zap.Int("dropped", dropped))
	}
	byDay := map[string]map[string]*Day{}
	for k, delta := range p {
		cur, err := c.stored(ctx, k.day, k.domain)
		if err != nil {
			c.restore(p)
			return err
		}
		cur.merge(delta)
		if byDay[k.day] == nil {
			byDay[k.day] = map[string]*Day{}
		}
		byDay[k.day][k.domain] = cur
	}
	for day, recs := range byDay {
		if err := c.put(ctx, day, recs); err != nil {
			c.restore(p)
			return err
		}
		for dom := range recs {
			delete(p, dayDomain{day, dom})
		}
	}
	return nil
}

// restore puts unflushed deltas back.
func (c *Counter) restore(p map[dayDomain]*Day) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, d := range p {
		if cur := c.pending[k]; cur != nil {
			cur.merge(d)
		} else {
			c.pending[k] = d
		}
	}
}

func (c *Counter) stored(ctx context.Context, day, domain string) (*Day, error) {
	v, err := c.store.TLSReport(ctx, day, domain)
	if errors.Is(err, queue.ErrNotFound) {
		return &Day{}, nil
	}
	if err != nil {
		return nil, err
	}
	var d Day
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, fmt.Errorf("tls-rpt record %s/%s: %w", day, domain, err)
	}
	return &d, nil
}

func (c *Counter) put(ctx context.Context, day string, recs map[string]*Day) error {
	enc := make(map[string][]byte, len(recs))
	for dom, d := range recs {
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		enc[dom] = v
	}
	return c.store.PutTLSReports(ctx, day, enc)
}

// Day returns domain's counts for day: what is stored and what is not
// flushed yet.
func (c *Counter) Day(ctx context.Context, day, domain string) (*Day, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	d, err := c.stored(ctx, day, domain)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if p := c.pending[dayDomain{day, domain}]; p != nil {
		d.merge(p)
	}
	c.mu.Unlock()
	return d, nil
}
