package daemon

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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

// TestMTASTSCachedPolicySurvivesRestartAndBadHost: a policy learned
// before a restart is read back from the queue; after the restart the TXT
// id changes and the policy host presents a certificate that does not
// verify: the cached policy stays in force (a second message is deferred
// naming policy id 1, the evil MX gets nothing), and TLS-RPT counts the
// fetch failure as sts-webpki-invalid.
func TestMTASTSCachedPolicySurvivesRestartAndBadHost(t *testing.T) {
	n := newInternet(t)
	stopDaemon(t, n.d)
	n.opts.STSClient = stsWeb(t, "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n")
	n.d = startDaemon(t, n.opts)
	n.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=1"`)
	evil := n.mx("x.test", 10, "mx.evil.test", "127.0.0.2")
	first := n.send("app@sender.test", "a@x.test")
	n.waitAttempts(first, 0, 1)

	n.dns.Reset("_mta-sts.x.test")
	n.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=2"`)
	stopDaemon(t, n.d)
	good := stsWeb(t, "version: STSv1\nmode: enforce\nmx: mx.evil.test\nmax_age: 86400\n")
	bad := stsWeb(t, "version: STSv1\nmode: enforce\nmx: mx.evil.test\nmax_age: 86400\n")
	// The client dials bad's server but trusts only good's certificate.
	bad.Transport.(*http.Transport).TLSClientConfig = good.Transport.(*http.Transport).TLSClientConfig
	n.opts.STSClient = bad
	n.d = startDaemon(t, n.opts)
	id := n.send("app@sender.test", "b@x.test")
	r := n.waitAttempts(id, 0, 1)
	a := n.timeline(id, 0)[0]
	if r.State != queue.Deferred || a.Reply.Text != "MTA-STS policy (id 1): mx.evil.test not in policy" || a.TLSPolicyID != "1" {
		t.Errorf("state %s, timeline %+v", r.State, a)
	}
	if evil.Conns() != 0 {
		t.Errorf("the MX outside the policy saw %d connections", evil.Conns())
	}
	rep, err := n.d.svc.TLSReport(context.Background(), "x.test")
	if err != nil || !strings.Contains(string(rep.Report), `"result-type":"sts-webpki-invalid"`) {
		t.Errorf("report %s, %v", rep.Report, err)
	}
}
