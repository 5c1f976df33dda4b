package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestMetricsScrape runs mail through the fake Internet (delivered,
// greylisted, bounced 550 5.1.1, NXDOMAIN) and scrapes /metrics.
func TestMetricsScrape(t *testing.T) {
	// No DSNs: the counts below are the test's own messages only.
	var hooked atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hooked.Add(1) }))
	defer hs.Close()
	n := newInternet(t, func(c *conf.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.DSN.Enabled = false
		c.Webhooks = []conf.Webhook{{Name: "app", URL: hs.URL, Secret: "s"}}
	})
	n.mx("plain.test", 10, "mx.plain.test", "127.0.0.2")
	n.mx("grey.test", 10, "mx.grey.test", "127.0.0.6", smtptest.Greylist())
	n.mx("bad.test", 10, "mx.bad.test", "127.0.0.7", smtptest.WithRcpt(func(to string) error {
		return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown")
	}))
	n.dns.NXDomain("nx.test")

	n.wait(n.send("app@sender.test", "alice@plain.test"), 0, queue.Delivered)
	n.wait(n.send("app@sender.test", "dave@grey.test"), 0, queue.Deferred)
	n.wait(n.send("app@sender.test", "gone@bad.test"), 0, queue.Bounced)
	n.wait(n.send("app@sender.test", "g@nx.test"), 0, queue.Bounced)
	// Suppressed by the bounce: rejected at intake, never seen by the scheduler.
	n.wait(n.send("app@sender.test", "gone@bad.test"), 0, queue.Rejected)

	waitfor.True(t, "a webhook request counted", func() bool {
		return hooked.Load() > 0 && strings.Contains(scrape(t, n.d.MetricsAddr().String()), `mtaq_webhook_requests_total{status="2xx",webhook="app"}`)
	})
	text := scrape(t, n.d.MetricsAddr().String())
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "mtaq_") && !strings.Contains(l, "_bucket{") {
			t.Logf("%s", l)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"mtaq_deliveries_total", map[string]string{"outcome": "delivered"}, atLeast(1), ">= 1"},
		{"mtaq_deliveries_total", map[string]string{"outcome": "deferred", "category": "greylisting"}, atLeast(1), ">= 1"},
		{"mtaq_deliveries_total", map[string]string{"outcome": "bounced", "category": "user_unknown"}, atLeast(1), ">= 1"},
		{"mtaq_queue_recipients", map[string]string{"state": "deferred"}, equal(1), "= 1"},
		{"mtaq_queue_recipients", map[string]string{"state": "queued"}, equal(0), "= 0"},
		{"mtaq_deliveries_total", map[string]string{"outcome": "rejected", "category": "suppressed"}, equal(1), "= 1"},
		{"mtaq_acceptance_latency_seconds", nil, atLeast(5), "count >= 5"},
		{"mtaq_accepted_messages_total", nil, equal(5), "= 5"},
		{"mtaq_attempt_duration_seconds", map[string]string{"outcome": "delivered"}, atLeast(1), "count >= 1"},
		{"mtaq_dns_errors_total", map[string]string{"kind": "nxdomain"}, atLeast(1), ">= 1"},
		// gone@bad.test (hard bounce) and g@nx.test (domain not found).
		{"mtaq_suppressions", nil, equal(2), "= 2"},
		{"mtaq_webhook_backlog", map[string]string{"webhook": "app"}, atLeast(0), ">= 0"},
		{"mtaq_webhook_dead_letters", map[string]string{"webhook": "app"}, equal(0), "= 0"},
		{"mtaq_webhook_disabled", map[string]string{"webhook": "app"}, equal(0), "= 0"},
		{"mtaq_webhook_requests_total", map[string]string{"webhook": "app", "status": "2xx"}, atLeast(1), ">= 1"},
		{"mtaq_webhook_request_duration_seconds", map[string]string{"webhook": "app"}, atLeast(1), "count >= 1"},
		{"mtaq_build_info", nil, equal(1), "= 1"},
		{"mtaq_destination_parked", nil, equal(0), "= 0"},
		// Four one-off domains: none has the volume for a label of its own.
		{"mtaq_deliveries_total", map[string]string{"destination": "other"}, equal(5), "= 5"},
	}
	for _, c := range checks {
		if v, ok := sample(fams[c.name], c.labels); !ok || !c.ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", c.name, c.labels, v, ok, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s, %v", resp.Status, err)
	}
	return string(b)
}

// sample sums the values of f's metrics whose labels include want; a
// histogram's value is its count.
func sample(f *dto.MetricFamily, want map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.Label {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
func equal(n float64) func(float64) bool   { return func(v float64) bool { return v == n } }

// TestHealthAndReadiness: /healthz and /readyz on the metrics listener, as
// a load balancer or a service manager reads them: ready while the daemon
// runs; not ready, naming why, when the disk is below the queue's reserve
// (mail is refused then, so a balancer should send it elsewhere).
func TestHealthAndReadiness(t *testing.T) {
	get := func(addr, path string) (int, string) {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	n := newInternet(t, func(c *conf.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	addr := n.d.MetricsAddr().String()
	if code, body := get(addr, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(addr, "/readyz"); code != 200 || body != "queue: ok\nlisteners: ok\ndisk: ok\nintake: ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}

	full := newInternet(t, func(c *conf.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.Queue.MinFreeBytes = 1 << 62 // more than any disk has: below the reserve
	})
	code, body := get(full.d.MetricsAddr().String(), "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "disk: no space left for the queue") ||
		!strings.Contains(body, "listeners: ok") {
		t.Errorf("/readyz below the reserve: %d %q", code, body)
	}
	t.Logf("/readyz below the reserve: %d\n%s", code, body)
}
