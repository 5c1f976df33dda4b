package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// stsHost is a fake https://mta-sts.<domain>: every fetch dials the
// httptest server, whatever the name; the client trusts roots.
type stsHost struct {
	srv     *httptest.Server
	policy  atomic.Value // string
	fetches atomic.Int32
}

func newSTSHost(t *testing.T, cert smtptest.Cert, policy string) *stsHost {
	t.Helper()
	h := &stsHost{}
	h.policy.Store(policy)
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fetches.Add(1)
		if r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(h.policy.Load().(string)))
	}))
	h.srv.TLS = cert.ServerConfig()
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	return h
}

// client fetches from h, verifying against roots for the requested name.
func (h *stsHost) client(roots *x509.CertPool) *http.Client {
	addr := h.srv.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

// stsEnv: x.test's MX mx.x.test on 127.0.0.2 with a certificate for its
// name, a _mta-sts TXT record with id, and a policy host serving policy.
func stsEnv(t *testing.T, id, policy string) (*env, *smtptest.Server, *stsHost, func(*Options)) {
	t.Helper()
	mxCert := smtptest.SelfSigned(t, "mx.x.test")
	e, mx := oneMX(t, smtptest.WithTLS(mxCert.ServerConfig()))
	if id != "" {
		e.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=` + id + `"`)
	}
	webCert := smtptest.SelfSigned(t, "mta-sts.x.test")
	h := newSTSHost(t, webCert, policy)
	roots := x509.NewCertPool()
	roots.AddCert(mxCert.X509)
	mod := func(o *Options) {
		o.MTASTS = true
		o.RootCAs = roots
		o.STSClient = h.client(webCert.Pool())
	}
	return e, mx, h, mod
}

const enforceX = "version: STSv1\r\nmode: enforce\r\nmx: mx.x.test\r\nmax_age: 86400\r\n"

// TestSTSEnforceMXOutsidePolicy: the domain's MX is not in its enforce
// policy: nothing is sent there, and the soft 4.7.5 says why.
func TestSTSEnforceMXOutsidePolicy(t *testing.T) {
	e, mx, _, mod := stsEnv(t, "20261207", "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n")
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageResolve)
	if want := "MTA-STS policy (id 20261207): mx.x.test not in policy"; rs[0].Text != want {
		t.Errorf("text %q, want %q", rs[0].Text, want)
	}
	if mx.Conns() != 0 {
		t.Errorf("%d connections to an MX outside the policy", mx.Conns())
	}
}

// TestSTSEnforceMatchingMXVerifiedTLS: a matching MX with a valid
// certificate gets the mail over TLS.
func TestSTSEnforceMatchingMXVerifiedTLS(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", enforceX)
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if !rs[0].TLS || len(mx.Messages()) != 1 || !mx.Messages()[0].TLS {
		t.Errorf("result TLS %v, server %+v", rs[0].TLS, mx.Messages())
	}
	if h.fetches.Load() != 1 {
		t.Errorf("%d policy fetches, want 1", h.fetches.Load())
	}
}

// TestSTSEnforceUnverifiedMXCert: a matching MX whose certificate does not
// verify gets nothing, not even in plain text: 4.7.5 naming the policy.
func TestSTSEnforceUnverifiedMXCert(t *testing.T) {
	e, mx, _, mod := stsEnv(t, "1", enforceX)
	d := e.deliverer(mod, func(o *Options) { o.RootCAs = x509.NewCertPool() })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
	if !strings.HasPrefix(rs[0].Text, "MTA-STS policy (id 1): TLS handshake with mx.x.test") {
		t.Errorf("text %q", rs[0].Text)
	}
	if len(mx.Messages()) != 0 {
		t.Error("delivered without a verified certificate")
	}
}

// TestSTSCachedPolicySurvivesBadFetch: after a good fetch, the MX moves
// to an attacker's host and the TXT id changes, but the policy host now
// presents a certificate that does not verify: the cached policy is still
// enforced and the attacker gets nothing.
func TestSTSCachedPolicySurvivesBadFetch(t *testing.T) {
	e, mx, _, mod := stsEnv(t, "1", enforceX)
	store := NewMemorySTSStore()
	withStore := func(o *Options) { o.STSStore = store }
	rs := e.deliverer(mod, withStore).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)

	evil := e.smtp("127.0.0.3", smtptest.WithTLS(smtptest.SelfSigned(t, "mx.evil.test").ServerConfig()))
	e.dns.Reset("x.test")
	e.dns.MX("x.test", 10, "mx.evil.test")
	e.dns.A("mx.evil.test", "127.0.0.3")
	e.dns.Reset("_mta-sts.x.test")
	e.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=2"`)
	bad := newSTSHost(t, smtptest.SelfSigned(t, "mta-sts.x.test"), "version: STSv1\nmode: enforce\nmx: mx.evil.test\nmax_age: 86400\n")
	// A new Deliverer (fresh DNS cache) over the same store; the client
	// still trusts only the first policy host's certificate.
	trusted := smtptest.SelfSigned(t, "mta-sts.x.test")
	d := e.deliverer(mod, withStore, func(o *Options) { o.STSClient = bad.client(trusted.Pool()) })
	rs = d.Deliver(ctxT(t), job("x.test", "b@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageResolve)
	if want := "MTA-STS policy (id 1): mx.evil.test not in policy"; rs[0].Text != want {
		t.Errorf("text %q, want %q", rs[0].Text, want)
	}
	if evil.Conns() != 0 || len(mx.Messages()) != 1 {
		t.Errorf("evil saw %d connections; real MX has %d messages, want 1", evil.Conns(), len(mx.Messages()))
	}
	if bad.fetches.Load() != 0 {
		t.Errorf("the unverified policy host served %d fetches", bad.fetches.Load())
	}
	if c, _ := store.GetSTS("x.test"); c.ID != "1" {
		t.Errorf("cache holds id %q, want the good policy 1", c.ID)
	}
}

// TestSTSRefreshOnNewID: a changed TXT id refetches, and the new policy
// replaces the old one.
func TestSTSRefreshOnNewID(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", "version: STSv1\nmode: enforce\nmx: other.test\nmax_age: 86400\n")
	store := NewMemorySTSStore()
	withStore := func(o *Options) { o.STSStore = store }
	rs := e.deliverer(mod, withStore).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageResolve)
	h.policy.Store(enforceX)
	e.dns.Reset("_mta-sts.x.test")
	e.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=2"`)
	rs = e.deliverer(mod, withStore).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 || h.fetches.Load() != 2 {
		t.Errorf("%d messages, %d fetches; want 1 and 2", len(mx.Messages()), h.fetches.Load())
	}
}

// TestSTSTestingDelivers: a testing policy that does not list the MX, and
// a certificate that does not verify: delivered as without MTA-STS.
func TestSTSTestingDelivers(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", "version: STSv1\nmode: testing\nmx: *.good.test\nmax_age: 86400\n")
	d := e.deliverer(mod, func(o *Options) { o.RootCAs = x509.NewCertPool() })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 || h.fetches.Load() != 1 {
		t.Errorf("%d messages, %d fetches", len(mx.Messages()), h.fetches.Load())
	}
}

// TestSTSNoRecord: no _mta-sts TXT: no fetch, delivery as today
// (opportunistic TLS, unverified certificate accepted).
func TestSTSNoRecord(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "", enforceX)
	d := e.deliverer(mod, func(o *Options) { o.RootCAs = x509.NewCertPool() })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 || h.fetches.Load() != 0 {
		t.Errorf("%d messages, %d fetches; want 1 and 0", len(mx.Messages()), h.fetches.Load())
	}
}

// TestSTSOperatorTLSPolicyWins: an explicit tls_policy entry for the
// domain means MTA-STS is not consulted.
func TestSTSOperatorTLSPolicyWins(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n")
	rs := e.deliverer(mod, requireX).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 || h.fetches.Load() != 0 {
		t.Errorf("%d messages, %d fetches; want 1 and 0", len(mx.Messages()), h.fetches.Load())
	}
}

// TestSTSOffByDefault: Options.MTASTS false: the record is not looked at.
func TestSTSOffByDefault(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n")
	rs := e.deliverer(mod, func(o *Options) { o.MTASTS = false }).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 || h.fetches.Load() != 0 {
		t.Errorf("%d messages, %d fetches", len(mx.Messages()), h.fetches.Load())
	}
}

func TestParseSTSPolicy(t *testing.T) {
	p, err := ParseSTSPolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.net.\r\nmax_age: 604800\r\nextra: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != STSEnforce || p.MaxAge != 7*24*time.Hour || len(p.MX) != 2 || p.MX[1] != "*.example.net" {
		t.Fatalf("%+v", p)
	}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "a.example.net": true,
		"example.net": false, "a.b.example.net": false, "x.mail.example.com": false, "evil.test": false,
	} {
		if p.Matches(host) != want {
			t.Errorf("Matches(%q) = %v", host, !want)
		}
	}
	for name, body := range map[string]string{
		"no version":     "mode: enforce\nmx: a.test\nmax_age: 1\n",
		"bad version":    "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"bad mode":       "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
		"no mx":          "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"no max_age":     "version: STSv1\nmode: enforce\nmx: a.test\n",
		"max_age > year": "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
		"neg max_age":    "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
		"two modes":      "version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 1\n",
		"bad mx":         "version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",
		"mid wildcard":   "version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 1\n",
		"tld wildcard":   "version: STSv1\nmode: enforce\nmx: *.test\nmax_age: 1\n",
		"no colon":       "version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n",
	} {
		if _, err := ParseSTSPolicy([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if p, err := ParseSTSPolicy([]byte("version: STSv1\nmode: none\nmax_age: 0\n")); err != nil || p.Mode != STSNone {
		t.Errorf("mode none without mx: %+v %v", p, err)
	}
}

func TestSTSRecordID(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		want string
	}{
		{[]string{"v=STSv1; id=20160831085700Z;"}, "20160831085700Z"},
		{[]string{"v=spf1 -all", "v=STSv1; id=abc"}, "abc"},
		{[]string{"v=STSv1; id=a", "v=STSv1; id=b"}, ""},
		{[]string{"v=STSv1; id=no-dash"}, ""},
		{[]string{"v=STSv10; id=a"}, ""},
		{nil, ""},
	} {
		if got := stsRecordID(tc.txts); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.txts, got, tc.want)
		}
	}
}

func FuzzParseSTSPolicy(f *testing.F) {
	f.Add([]byte(enforceX))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.example.net\nmx: a.b\nmax_age: 31557600\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseSTSPolicy(body)
		if err != nil {
			return
		}
		if p.Mode != STSEnforce && p.Mode != STSTesting && p.Mode != STSNone {
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > stsMaxAgeLimit*time.Second || (p.Mode != STSNone && len(p.MX) == 0) {
			t.Fatalf("%+v", p)
		}
		for _, m := range p.MX {
			if checkMXPattern(m) != nil {
				t.Fatalf("pattern %q kept", m)
			}
			if !strings.HasPrefix(m, "*.") && !p.Matches(m) {
				t.Fatalf("%q does not match itself", m)
			}
		}
	})
}

// switchTXT answers _mta-sts lookups from txt, everything else from DNS.
type switchTXT struct {
	*DNSResolver
	txt atomic.Value // string; "" means no record
}

func (r *switchTXT) LookupTXT(_ context.Context, _ string) ([]string, error) {
	if v := r.txt.Load().(string); v != "" {
		return []string{v}, nil
	}
	return nil, nil
}

// TestSTSIdleConnectionNotReused: a connection opened opportunistically,
// without a verified certificate, before the domain published an enforce
// policy is not reused once it has: the mail waits for verified TLS.
func TestSTSIdleConnectionNotReused(t *testing.T) {
	e, mx, _, mod := stsEnv(t, "", enforceX)
	res := &switchTXT{DNSResolver: NewResolver([]string{e.dns.Addr()}, WithQueryTimeout(2*time.Second))}
	res.txt.Store("")
	d := e.deliverer(mod, func(o *Options) {
		o.Resolver = res
		o.RootCAs = x509.NewCertPool() // the MX certificate does not verify
		o.IdleTimeout = time.Minute
	})
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	res.txt.Store("v=STSv1; id=7")
	rs = d.Deliver(ctxT(t), job("x.test", "b@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
	if len(mx.Messages()) != 1 {
		t.Errorf("%d messages; the second went over the unverified idle connection", len(mx.Messages()))
	}
}

// TestSTSFetchLimits: redirects, other statuses, other media types and
// bodies over 64 KiB are refused; the domain then has no policy.
func TestSTSFetchLimits(t *testing.T) {
	cert := smtptest.SelfSigned(t, "mta-sts.x.test")
	for name, tc := range map[string]struct {
		h    http.HandlerFunc
		want string
	}{
		"redirect": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.test/.well-known/mta-sts.txt", http.StatusFound)
		}, "HTTP status 302"},
		"not found": {http.NotFound, "HTTP status 404"},
		"html": {func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(enforceX))
		}, `content type "text/html"`},
		"too big": {func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(enforceX + strings.Repeat("x: y\n", STSMaxPolicySize/5+1)))
		}, "larger than 65536 bytes"},
		"bad policy": {func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("version: STSv1\nmode: enforce\nmax_age: 1\n"))
		}, "no mx"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(tc.h)
			srv.TLS = cert.ServerConfig()
			srv.StartTLS()
			t.Cleanup(srv.Close)
			h := &stsHost{srv: srv}
			d := New(Options{MTASTS: true, STSClient: h.client(cert.Pool()), Resolver: NewResolver([]string{"127.0.0.1:1"})})
			t.Cleanup(d.Close)
			_, err := d.fetchSTS(ctxT(t), "x.test")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestSTSTestingReported: a testing policy that does not list the MX:
// delivered, with the timeline saying mta-sts-testing, and TLS-RPT counts
// the session as a failure; a listed MX with a certificate that does not
// verify is counted as not trusted, and still gets the mail.
func TestSTSTestingReported(t *testing.T) {
	e, mx, _, mod := stsEnv(t, "7", "version: STSv1\nmode: testing\nmx: *.good.test\nmax_age: 86400\n")
	evs := &tlsEvents{}
	d := e.deliverer(mod, func(o *Options) { o.OnTLS = evs.add })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].TLSPolicy != SourceMTASTSTesting || rs[0].TLSPolicyID != "7" || len(mx.Messages()) != 1 {
		t.Errorf("policy %q id %q, %d messages", rs[0].TLSPolicy, rs[0].TLSPolicyID, len(mx.Messages()))
	}
	if got := evs.results(); got != "sts:validation-failure" {
		t.Errorf("events %q", got)
	}
	if p := evs.all()[0].Policy; strings.Join(p.Strings, "|") != "version: STSv1|mode: testing|mx: *.good.test|max_age: 86400" {
		t.Errorf("policy strings %q", p.Strings)
	}

	e2, mx2, _, mod2 := stsEnv(t, "8", "version: STSv1\nmode: testing\nmx: mx.x.test\nmax_age: 86400\n")
	evs2 := &tlsEvents{}
	d2 := e2.deliverer(mod2, func(o *Options) { o.OnTLS = evs2.add; o.RootCAs = x509.NewCertPool() })
	wantAll(t, d2.Deliver(ctxT(t), job("x.test", "a@x.test")), 1, 250, "2.0.0", StageData)
	if got := evs2.results(); got != "sts:certificate-not-trusted" || len(mx2.Messages()) != 1 {
		t.Errorf("events %q, %d messages", got, len(mx2.Messages()))
	}
}

// TestSTSEnforceReported: an enforce policy's MX outside it and a fetch
// failure with nothing cached are TLS-RPT failures.
func TestSTSEnforceReported(t *testing.T) {
	e, _, _, mod := stsEnv(t, "1", "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n")
	evs := &tlsEvents{}
	rs := e.deliverer(mod, func(o *Options) { o.OnTLS = evs.add }).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageResolve)
	if rs[0].TLSPolicy != SourceMTASTS || evs.results() != "sts:validation-failure" {
		t.Errorf("policy %q, events %q", rs[0].TLSPolicy, evs.results())
	}
	e2, mx2, _, mod2 := stsEnv(t, "1", enforceX)
	evs2 := &tlsEvents{}
	d := e2.deliverer(mod2, func(o *Options) {
		o.OnTLS = evs2.add
		o.STSClient = newSTSHost(t, smtptest.SelfSigned(t, "mta-sts.x.test"), enforceX).client(x509.NewCertPool())
	})
	wantAll(t, d.Deliver(ctxT(t), job("x.test", "a@x.test")), 1, 250, "2.0.0", StageData)
	if got := evs2.results(); !strings.HasPrefix(got, "sts:sts-webpki-invalid,") || len(mx2.Messages()) != 1 {
		t.Errorf("events %q, %d messages", got, len(mx2.Messages()))
	}
}

// TestSTSBackgroundRefresh: on the injected clock, a one-day policy is
// fetched again after 18 hours (3/4 of max_age), not before; a refresh
// that gets a broken policy keeps the cached one, which is still enforced.
func TestSTSBackgroundRefresh(t *testing.T) {
	e, mx, h, mod := stsEnv(t, "1", enforceX)
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	store := NewMemorySTSStore()
	d := e.deliverer(mod, func(o *Options) { o.Clock = clk; o.STSStore = store })
	wantAll(t, d.Deliver(ctxT(t), job("x.test", "a@x.test")), 1, 250, "2.0.0", StageData)
	clk.Advance(17 * time.Hour)
	if n := d.RefreshSTS(ctxT(t)); n != 0 || h.fetches.Load() != 1 {
		t.Fatalf("at 17h: %d refreshed, %d fetches; want 0 and 1", n, h.fetches.Load())
	}
	clk.Advance(2 * time.Hour)
	if n := d.RefreshSTS(ctxT(t)); n != 1 || h.fetches.Load() != 2 {
		t.Fatalf("at 19h: %d refreshed, %d fetches; want 1 and 2", n, h.fetches.Load())
	}
	if c, _ := store.GetSTS("x.test"); !c.Fetched.Equal(clk.Now()) {
		t.Errorf("refreshed policy fetched at %v, want %v", c.Fetched, clk.Now())
	}
	h.policy.Store("this is not a policy")
	clk.Advance(19 * time.Hour)
	if n := d.RefreshSTS(ctxT(t)); n != 0 || h.fetches.Load() != 3 {
		t.Fatalf("broken refresh: %d refreshed, %d fetches; want 0 and 3", n, h.fetches.Load())
	}
	e.dns.Reset("x.test")
	e.dns.MX("x.test", 10, "mx.evil.test")
	e.dns.A("mx.evil.test", "127.0.0.3")
	d2 := e.deliverer(mod, func(o *Options) { o.Clock = clk; o.STSStore = store })
	rs := d2.Deliver(ctxT(t), job("x.test", "b@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageResolve)
	if len(mx.Messages()) != 1 {
		t.Errorf("%d messages at the real MX, want 1", len(mx.Messages()))
	}
}
