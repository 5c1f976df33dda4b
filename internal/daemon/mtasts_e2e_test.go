package daemon

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// TestMTASTSEnforceDeferred: x.test publishes an enforce policy naming
// mx.good.test, but its MX record points at mx.evil.test: nothing reaches
// the evil host, the recipient is deferred with a soft 4.7.5 whose text,
// in the timeline, names the policy and the host; the policy is saved in
// the queue for the next start.
func TestMTASTSEnforceDeferred(t *testing.T) {
	cert := smtptest.SelfSigned(t, "mta-sts.x.test")
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n"))
	}))
	web.TLS = cert.ServerConfig()
	web.StartTLS()
	t.Cleanup(web.Close)
	addr := web.Listener.Addr().String()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool()},
	}}
	var dataDir string
	n := newInternet(t, func(c *conf.Config) { dataDir = c.DataDir })
	// Start again with the policy client (newInternet started without it).
	stopDaemon(t, n.d)
	n.opts.STSClient = client
	n.d = startDaemon(t, n.opts)

	n.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=42"`)
	evil := n.mx("x.test", 10, "mx.evil.test", "127.0.0.2")
	id := n.send("app@sender.test", "a@x.test")
	r := n.waitAttempts(id, 0, 1)
	if r.State != queue.Deferred {
		t.Fatalf("want deferred: %+v", r)
	}
	tl := n.timeline(id, 0)
	if len(tl) == 0 {
		t.Fatal("empty timeline")
	}
	a := tl[0]
	if a.Reply.Enhanced != "4.7.5" || a.Decision != "deferred" ||
		a.Reply.Text != "MTA-STS policy (id 42): mx.evil.test not in policy" || a.TLSPolicy != "mta-sts" || a.TLSPolicyID != "42" {
		t.Errorf("timeline %+v", a)
	}
	if evil.Conns() != 0 {
		t.Errorf("evil MX saw %d connections", evil.Conns())
	}
	if pols, err := n.d.store.STSPolicies(context.Background()); err != nil || pols["x.test"] == nil {
		t.Errorf("policy not saved in the queue: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "mta-sts.json")); err == nil {
		t.Error("the old cache file is written again")
	}
}
