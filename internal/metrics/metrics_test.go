package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/mtaq/mtaq/internal/buildinfo"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// fakeStore counts its scans and serves fixed recipients.
type fakeStore struct {
	scans atomic.Int32
	rcpts []queue.State
	supps int
	err   error
}

func (s *fakeStore) EachRecipient(_ context.Context, fn func(string, *queue.Recipient) error) error {
	s.scans.Add(1)
	if s.err != nil {
		return s.err
	}
	for i, st := range s.rcpts {
		if err := fn(fmt.Sprint(i), &queue.Recipient{State: st}); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) SuppressionCount(context.Context) (int, error) { return s.supps, nil }

type fakeSched struct {
	dests []scheduler.DestinationStatus
	side  []scheduler.SenderSideStat
}

func (f fakeSched) Destinations() []scheduler.DestinationStatus      { return f.dests }
func (f fakeSched) SenderSideRejections() []scheduler.SenderSideStat { return f.side }

// gather returns name's metrics keyed by their labels ("k=v,k=v").
func gather(t *testing.T, r *Registry, name string) map[string]float64 {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			out[labels(m)] = value(m)
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	s := ""
	for i, l := range m.Label {
		if i > 0 {
			s += ","
		}
		s += l.GetName() + "=" + l.GetValue()
	}
	return s
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func TestQueueGaugesCached(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{rcpts: []queue.State{queue.Queued, queue.Deferred, queue.Deferred, queue.Delivered, queue.Bounced}, supps: 7}
	r := New(Options{Store: st, Clock: clk})
	want := map[string]float64{"state=queued": 1, "state=deferred": 2, "state=held": 0}
	for i := 0; i < 3; i++ {
		if got := gather(t, r, "mtaq_queue_recipients"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := gather(t, r, "mtaq_suppressions"); got[""] != 7 {
		t.Fatalf("suppressions %v", got)
	}
	if n := st.scans.Load(); n != 1 {
		t.Fatalf("%d scans for 4 scrapes within 10s, want 1", n)
	}
	st.rcpts = append(st.rcpts, queue.Held)
	clk.Advance(10 * time.Second)
	if got := gather(t, r, "mtaq_queue_recipients"); got["state=held"] != 1 || st.scans.Load() != 2 {
		t.Fatalf("after 10s: %v, %d scans", got, st.scans.Load())
	}
}

func TestQueueGaugesAbsentAfterScanError(t *testing.T) {
	t.Parallel()
	st := &fakeStore{err: errors.New("disk on fire")}
	r := New(Options{Store: st})
	if got := gather(t, r, "mtaq_queue_recipients"); len(got) != 0 {
		t.Fatalf("failed scan reported %v", got)
	}
	st.err = nil
	if got := gather(t, r, "mtaq_queue_recipients"); len(got) != 3 {
		t.Fatalf("the scan after a failure is not retried at once: %v", got)
	}
}

func TestOutcomesAndHooks(t *testing.T) {
	t.Parallel()
	r := New(Options{TopDestinations: 1, MinVolume: 2})
	for i := 0; i < 3; i++ {
		r.Outcome(scheduler.Outcome{Domain: "gmail.com", Decision: "delivered", Sent: true, Duration: time.Second})
	}
	r.Outcome(scheduler.Outcome{Domain: "tiny.example", Decision: "bounced", Category: "user_unknown", Sent: true})
	r.Outcome(scheduler.Outcome{Domain: "tiny.example", Decision: "rejected", Category: "suppressed"})
	got := gather(t, r, "mtaq_deliveries_total")
	want := map[string]float64{
		"category=none,destination=other,outcome=delivered":       1, // before gmail.com had 2
		"category=none,destination=gmail.com,outcome=delivered":   2,
		"category=user_unknown,destination=other,outcome=bounced": 1,
		"category=suppressed,destination=other,outcome=rejected":  1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deliveries\n got %v\nwant %v", got, want)
	}
	if got := gather(t, r, "mtaq_attempt_duration_seconds"); got["outcome=delivered"] != 3 || got["outcome=rejected"] != 0 {
		t.Fatalf("attempt durations %v (only sent attempts count)", got)
	}
	r.Accepted(3 * time.Millisecond)
	r.DNSError("servfail")
	if got := gather(t, r, "mtaq_acceptance_latency_seconds"); got[""] != 1 {
		t.Fatalf("acceptance %v", got)
	}
	if got := gather(t, r, "mtaq_dns_errors_total"); got["kind=servfail"] != 1 {
		t.Fatalf("dns errors %v", got)
	}
	r.TLSSession("sts", "")
	r.TLSSession("sts", "validation-failure")
	r.TLSSession("sts", "validation-failure")
	if got := gather(t, r, "mtaq_tls_sessions_total"); got["policy=sts,result=success"] != 1 || got["policy=sts,result=validation-failure"] != 2 {
		t.Fatalf("tls sessions %v", got)
	}
	if got := gather(t, r, "mtaq_webhook_backlog"); len(got) != 0 {
		t.Fatalf("backlog without webhooks %v", got)
	}
	r.WatchWebhooks(func() []WebhookState {
		return []WebhookState{{Name: "app", Backlog: 42, DeadLetters: 3}, {Name: "crm", Disabled: true}}
	})
	if got := gather(t, r, "mtaq_webhook_backlog"); got["webhook=app"] != 42 || got["webhook=crm"] != 0 {
		t.Fatalf("backlog %v", got)
	}
	if got := gather(t, r, "mtaq_webhook_dead_letters"); got["webhook=app"] != 3 {
		t.Fatalf("dead letters %v", got)
	}
	if got := gather(t, r, "mtaq_webhook_disabled"); got["webhook=app"] != 0 || got["webhook=crm"] != 1 {
		t.Fatalf("disabled %v", got)
	}
	r.WebhookRequest("app", 200, 20*time.Millisecond)
	r.WebhookRequest("app", 400, time.Millisecond)
	r.WebhookRequest("app", 0, 10*time.Second)
	if got := gather(t, r, "mtaq_webhook_requests_total"); got["status=2xx,webhook=app"] != 1 ||
		got["status=4xx,webhook=app"] != 1 || got["status=error,webhook=app"] != 1 {
		t.Fatalf("requests %v", got)
	}
	if got := gather(t, r, "mtaq_webhook_request_duration_seconds"); got["webhook=app"] != 3 {
		t.Fatalf("durations %v", got)
	}
	if got := gather(t, r, "mtaq_cluster_outbox"); len(got) != 0 {
		t.Fatalf("cluster gauges without [cluster] %v", got)
	}
	r.WatchCluster(func() ClusterState { return ClusterState{Outbox: 7, AppliedVersion: 1234, Nodes: 3} })
	if got := gather(t, r, "mtaq_cluster_outbox"); got[""] != 7 {
		t.Fatalf("cluster outbox %v", got)
	}
	if got := gather(t, r, "mtaq_cluster_database_up"); got[""] != 0 {
		t.Fatalf("cluster up %v", got)
	}
	if got := gather(t, r, "mtaq_cluster_applied_version"); got[""] != 1234 {
		t.Fatalf("cluster version %v", got)
	}
	if got := gather(t, r, "mtaq_cluster_nodes"); got[""] != 3 {
		t.Fatalf("cluster nodes %v", got)
	}
	r.Verified("valid")
	r.Verified("valid")
	r.Verified("risky")
	r.Probe("catch_all")
	if got := gather(t, r, "mtaq_verify_addresses_total"); got["verdict=valid"] != 2 || got["verdict=risky"] != 1 {
		t.Fatalf("verified %v", got)
	}
	if got := gather(t, r, "mtaq_verify_probes_total"); got["result=catch_all"] != 1 {
		t.Fatalf("probes %v", got)
	}
}

func TestDestinationGaugesBounded(t *testing.T) {
	t.Parallel()
	var f fakeSched
	for i := 0; i < 200; i++ {
		f.dests = append(f.dests, scheduler.DestinationStatus{Domain: fmt.Sprintf("d%03d.example", i), State: "throttled", Limit: 3})
		f.side = append(f.side, scheduler.SenderSideStat{Domain: fmt.Sprintf("d%03d.example", i), Total: 1,
			Categories: map[policy.Category]int{policy.AuthFailure: 1}})
	}
	f.dests = append(f.dests, scheduler.DestinationStatus{Domain: "p.example", State: "parked"},
		scheduler.DestinationStatus{Domain: "ok.example", State: "ok", Limit: 20})
	r := New(Options{})
	r.WatchScheduler(f)
	if got := gather(t, r, "mtaq_destination_limit"); len(got) != 50 {
		t.Fatalf("%d destination_limit series, want 50", len(got))
	}
	if got := gather(t, r, "mtaq_destination_parked"); got[""] != 1 {
		t.Fatalf("parked %v", got)
	}
	got := gather(t, r, "mtaq_sender_side_rejections_total")
	if len(got) != 1 || got["category=auth_failure,destination=other"] != 200 {
		t.Fatalf("sender-side %v", got)
	}
}

func TestMetricNamesLint(t *testing.T) {
	t.Parallel()
	r := New(Options{Store: &fakeStore{}})
	r.WatchScheduler(fakeSched{})
	r.Outcome(scheduler.Outcome{Domain: "a.example", Decision: "delivered", Sent: true})
	r.DNSError("timeout")
	r.Verified("unknown")
	r.Probe("probe_failed")
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	for _, f := range fams {
		n := f.GetName()
		if !strings.HasPrefix(n, "mtaq_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			t.Errorf("metric %s is not named mtaq_...", n)
		}
	}
}

// TestQueueGaugeForEveryOpenState: one recipient in each state shows as
// one gauge per open state, and no final state.
func TestQueueGaugeForEveryOpenState(t *testing.T) {
	t.Parallel()
	r := New(Options{Store: &fakeStore{rcpts: queue.States()}})
	got := gather(t, r, "mtaq_queue_recipients")
	want := map[string]float64{}
	for _, s := range queue.OpenStates() {
		want["state="+string(s)] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestRejectedAtIntakeCounted: recipients recorded rejected when the mail
// came in count as outcome="rejected" (intake reports them only once the
// enqueue has committed: TestRejectedReportedAfterCommit).
func TestRejectedAtIntakeCounted(t *testing.T) {
	t.Parallel()
	r := New(Options{Store: &fakeStore{}})
	r.Rejected("a.test")
	r.Rejected("b.test")
	n := 0.0
	for k, v := range gather(t, r, "mtaq_deliveries_total") {
		if !strings.HasPrefix(k, "category=suppressed,") || !strings.HasSuffix(k, ",outcome=rejected") {
			t.Errorf("unexpected series %s", k)
		}
		n += v
	}
	if n != 2 {
		t.Fatalf("counted %v rejected recipients, want 2", n)
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	b := buildinfo.Info{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.8"}
	got := gather(t, New(Options{Build: b}), "mtaq_build_info")
	want := map[string]float64{"goversion=go1.26.8,revision=abc123,version=v1.2.3": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Zero: the running binary's, never empty labels.
	for k := range gather(t, New(Options{}), "mtaq_build_info") {
		if strings.Contains(k, "=,") || strings.HasSuffix(k, "=") {
			t.Errorf("empty label in %s", k)
		}
	}
}

// Unsigned mail is counted per From domain, the busiest by name and the
// rest as "other", so an app sending from many domains cannot blow up
// the series.
func TestUnsignedCounted(t *testing.T) {
	t.Parallel()
	r := New(Options{TopDestinations: 1, MinVolume: 2})
	for range 3 {
		r.Unsigned("app.example")
	}
	r.Unsigned("rare.example")
	r.Unsigned("")
	got := gather(t, r, "mtaq_dkim_unsigned_total")
	want := map[string]float64{"from_domain=other": 3, "from_domain=app.example": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("unsigned\n got %v\nwant %v", got, want)
	}
}

// With source pools one domain is a destination per source address: the
// gauge shows one series per domain, its lowest limit.
func TestDestinationLimitOnePerDomain(t *testing.T) {
	t.Parallel()
	f := fakeSched{dests: []scheduler.DestinationStatus{
		{Domain: "x.example", SourceIP: "192.0.2.1", State: "throttled", Limit: 5},
		{Domain: "x.example", SourceIP: "192.0.2.2", State: "throttled", Limit: 2},
		{Domain: "x.example", SourceIP: "192.0.2.3", State: "ok", Limit: 20},
	}}
	r := New(Options{})
	r.WatchScheduler(f)
	if got := gather(t, r, "mtaq_destination_limit"); len(got) != 1 || got["destination=x.example"] != 2 {
		t.Fatalf("destination_limit %v", got)
	}
}
