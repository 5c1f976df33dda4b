package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// rootsFor trusts srv's self-signed certificate.
func rootsFor(t *testing.T, srv *tls.Config) *x509.CertPool {
	t.Helper()
	leaf, err := x509.ParseCertificate(srv.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return roots
}

func requireX(o *Options) { o.TLSPolicy = map[string]TLSMode{"x.test": TLSRequire} }

func TestTLSVersionAndCipherRecorded(t *testing.T) {
	e, _ := oneMX(t, smtptest.WithTLS(selfSigned(t, "mx.x.test")))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if !rs[0].TLS || rs[0].TLSVersion != "TLS 1.3" || rs[0].TLSCipher == "" || rs[0].TLSFallback {
		t.Errorf("got TLS %v %q %q fallback %v", rs[0].TLS, rs[0].TLSVersion, rs[0].TLSCipher, rs[0].TLSFallback)
	}
	f := e.logs.FilterMessage("delivery attempt").All()[0].ContextMap()
	if f["tls_version"] != "TLS 1.3" || f["tls_cipher"] != rs[0].TLSCipher {
		t.Errorf("log fields %v", f)
	}
}

// TestTLSFallbackMarked: the plain-text retry after a failed handshake is
// visible in the result, for the recipient's timeline.
func TestTLSFallbackMarked(t *testing.T) {
	srvCfg := selfSigned(t, "mx.x.test")
	srvCfg.MaxVersion = tls.VersionTLS12
	e, _ := oneMX(t, smtptest.WithTLS(srvCfg))
	d := e.deliverer(func(o *Options) {
		o.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	})
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].TLS || !rs[0].TLSFallback || rs[0].TLSVersion != "" {
		t.Errorf("TLS %v fallback %v version %q; want plain text marked as a fallback", rs[0].TLS, rs[0].TLSFallback, rs[0].TLSVersion)
	}
}

func TestRequireTLSVerified(t *testing.T) {
	srvCfg := selfSigned(t, "mx.x.test")
	e, mx := oneMX(t, smtptest.WithTLS(srvCfg))
	d := e.deliverer(requireX, func(o *Options) { o.RootCAs = rootsFor(t, srvCfg) })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if !rs[0].TLS || len(mx.Messages()) != 1 || !mx.Messages()[0].TLS {
		t.Errorf("result TLS %v, server %+v", rs[0].TLS, mx.Messages())
	}
}

// TestRequireTLSUnverifiedNoPlainText: a certificate that does not verify
// (unknown issuer, or another host's name) is a soft 4.7.5 and the mail is
// never sent in plain text.
func TestRequireTLSUnverifiedNoPlainText(t *testing.T) {
	for name, tc := range map[string]struct {
		certHost string
		trust    bool
	}{
		"unknown issuer": {"mx.x.test", false},
		"wrong name":     {"other.test", true},
	} {
		t.Run(name, func(t *testing.T) {
			srvCfg := selfSigned(t, tc.certHost)
			e, mx := oneMX(t, smtptest.WithTLS(srvCfg))
			d := e.deliverer(requireX, func(o *Options) {
				if tc.trust {
					o.RootCAs = rootsFor(t, srvCfg)
				}
			})
			rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
			wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
			if mx.Conns() != 1 || len(mx.Messages()) != 0 {
				t.Errorf("%d connections, %d messages; want 1 and none in plain text", mx.Conns(), len(mx.Messages()))
			}
		})
	}
}

// TestRequireTLSNotOffered: no STARTTLS means no mail: 4.7.4, soft.
func TestRequireTLSNotOffered(t *testing.T) {
	e, mx := oneMX(t)
	rs := e.deliverer(requireX).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.4", StageTLS)
	if len(mx.Messages()) != 0 {
		t.Error("sent in plain text")
	}
}

// TestRequireTLSOtherDomainsOpportunistic: the policy is per domain.
func TestRequireTLSOtherDomainsOpportunistic(t *testing.T) {
	e, mx := oneMX(t)
	e.dns.MX("y.test", 10, "mx.x.test")
	rs := e.deliverer(requireX).Deliver(ctxT(t), job("y.test", "a@y.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 {
		t.Error("not delivered")
	}
}
