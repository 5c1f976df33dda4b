package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// selfSigned returns a server TLS config with a fresh self-signed
// certificate for host.
func selfSigned(t *testing.T, host string) *tls.Config {
	return smtptest.SelfSigned(t, host).ServerConfig()
}

func TestOpportunisticSTARTTLS(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithTLS(selfSigned(t, "mx.x.test")))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 250, "2.0.0", StageData)
	for _, r := range rs {
		if !r.TLS {
			t.Errorf("%s: TLS false", r.Rcpt)
		}
	}
	m := mx.Messages()
	if len(m) != 1 || !m[0].TLS || m[0].Helo != "out.mtaq.test" || len(m[0].To) != 2 {
		t.Errorf("server got %+v", m)
	}
}

func TestSTARTTLSVerifiedWithConfiguredRoots(t *testing.T) {
	srvCfg := selfSigned(t, "mx.x.test")
	roots := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(srvCfg.Certificates[0].Certificate[0])
	roots.AddCert(leaf)
	e, _ := oneMX(t, smtptest.WithTLS(srvCfg))
	d := e.deliverer(func(o *Options) { o.TLSConfig = &tls.Config{RootCAs: roots} })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if !rs[0].TLS {
		t.Error("TLS false: the certificate for the MX name did not verify")
	}
}

func TestTLSFailureRetriesInPlainText(t *testing.T) {
	srvCfg := selfSigned(t, "mx.x.test")
	srvCfg.MaxVersion = tls.VersionTLS12
	e, mx := oneMX(t, smtptest.WithTLS(srvCfg))
	d := e.deliverer(func(o *Options) {
		o.TLSConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	})
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].TLS || mx.Conns() != 2 {
		t.Errorf("TLS %v with %d connections; want plain text on a second connection", rs[0].TLS, mx.Conns())
	}
	tlsLines := e.logs.FilterField(zapString("stage", "tls")).Len()
	if tlsLines != 1 {
		t.Errorf("%d attempt lines at stage tls, want 1", tlsLines)
	}
}
