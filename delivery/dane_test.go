package delivery

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// tlsEvents collects what Options.OnTLS hears.
type tlsEvents struct {
	mu  sync.Mutex
	evs []TLSEvent
}

func (c *tlsEvents) add(ev TLSEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, ev)
}

func (c *tlsEvents) all() []TLSEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]TLSEvent(nil), c.evs...)
}

// results lists each event as "type:result" ("tlsa:" for a success).
func (c *tlsEvents) results() string {
	var out []string
	for _, ev := range c.all() {
		out = append(out, ev.Policy.Type+":"+ev.Result)
	}
	return strings.Join(out, ",")
}

// daneEnv: x.test's MX mx.x.test on 127.0.0.2 serving cert, the MX answer
// validated (AD), and the TLSA record rec at _PORT._tcp.mx.x.test,
// validated when secure. RootCAs trusts nothing: DANE must not need it.
func daneEnv(t *testing.T, cert tls.Certificate, rec string, secure bool) (*env, *smtptest.Server, *tlsEvents, func(*Options)) {
	t.Helper()
	e, mx := oneMX(t, smtptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	e.dns.Secure("x.test", true)
	name := fmt.Sprintf("_%d._tcp.mx.x.test", e.port)
	e.dns.Add(name + ". 300 IN TLSA " + rec)
	e.dns.Secure(name, secure)
	evs := &tlsEvents{}
	return e, mx, evs, func(o *Options) {
		o.DANE = true
		o.RootCAs = x509.NewCertPool()
		o.OnTLS = evs.add
	}
}

func spkiSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// TestDANEEEMatch: a DANE-EE SPKI SHA-256 record matching the MX's
// self-signed certificate: delivered over TLS without any WebPKI trust,
// the timeline's policy source is DANE, and TLS-RPT hears a success.
func TestDANEEEMatch(t *testing.T) {
	c := smtptest.SelfSigned(t, "not-the-mx.test") // DANE-EE ignores names
	e, mx, evs, mod := daneEnv(t, c.TLS, "3 1 1 "+spkiSHA256(c.X509), true)
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if !rs[0].TLS || rs[0].TLSPolicy != SourceDANE || len(mx.Messages()) != 1 {
		t.Errorf("TLS %v policy %q, %d messages", rs[0].TLS, rs[0].TLSPolicy, len(mx.Messages()))
	}
	if got := evs.results(); got != "tlsa:" {
		t.Errorf("TLS-RPT events %q, want one tlsa success", got)
	}
}

// TestDANEEEFullCertSHA512: selector 0 (full certificate), SHA-512.
func TestDANEEEFullCertSHA512(t *testing.T) {
	c := smtptest.SelfSigned(t, "mx.x.test")
	e, mx, _, mod := daneEnv(t, c.TLS, fmt.Sprintf("3 0 2 %x", sha512Of(c.X509.Raw)), true)
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 {
		t.Errorf("%d messages", len(mx.Messages()))
	}
}

// TestDANEEEMismatch: the TLSA record names another key: nothing is sent,
// not even in plain text; a soft 4.7.5 saying DANE refused, and TLS-RPT
// counts a validation failure.
func TestDANEEEMismatch(t *testing.T) {
	c := smtptest.SelfSigned(t, "mx.x.test")
	other := smtptest.SelfSigned(t, "mx.x.test")
	e, mx, evs, mod := daneEnv(t, c.TLS, "3 1 1 "+spkiSHA256(other.X509), true)
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
	wantText := fmt.Sprintf("DANE (_%d._tcp.mx.x.test): TLS handshake with mx.x.test", e.port)
	if !strings.HasPrefix(rs[0].Text, wantText) || !strings.Contains(rs[0].Text, "no TLSA record") {
		t.Errorf("text %q, want it to start %q and say no TLSA record matches", rs[0].Text, wantText)
	}
	if rs[0].TLSPolicy != SourceDANE || len(mx.Messages()) != 0 {
		t.Errorf("policy %q; %d messages delivered", rs[0].TLSPolicy, len(mx.Messages()))
	}
	if got := evs.results(); got != "tlsa:validation-failure" {
		t.Errorf("TLS-RPT events %q", got)
	}
}

// TestDANENoAD: the same mismatching record, but the resolver did not
// validate it (no AD): DANE is not attempted and the mail goes
// opportunistically.
func TestDANENoAD(t *testing.T) {
	c := smtptest.SelfSigned(t, "mx.x.test")
	other := smtptest.SelfSigned(t, "mx.x.test")
	e, mx, _, mod := daneEnv(t, c.TLS, "3 1 1 "+spkiSHA256(other.X509), false)
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].TLSPolicy != SourceOpportunistic || len(mx.Messages()) != 1 {
		t.Errorf("policy %q, %d messages", rs[0].TLSPolicy, len(mx.Messages()))
	}
	// The MX answer itself unvalidated: no TLSA lookup at all.
	e.dns.Secure("x.test", false)
	d := e.deliverer(mod)
	before := e.dns.Total()
	d.Deliver(ctxT(t), job("x.test", "b@x.test"))
	if q := e.dns.Queries(fmt.Sprintf("_%d._tcp.mx.x.test", e.port), 52); q != 1 || e.dns.Total() == before {
		t.Errorf("%d TLSA queries in all, want only the first Deliver's", q)
	}
}

// TestDANETA: a DANE-TA record naming the issuing CA: a leaf for the MX
// name is accepted; a leaf for another name is refused as a host
// mismatch.
func TestDANETA(t *testing.T) {
	ca, caKey := testCA(t)
	for _, tc := range []struct {
		name   string
		leaf   string
		ok     bool
		result string
	}{
		{"name matches", "mx.x.test", true, ""},
		{"name differs", "other.test", false, "certificate-host-mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := testLeaf(t, ca, caKey, tc.leaf)
			e, mx, evs, mod := daneEnv(t, cert, "2 1 1 "+spkiSHA256(ca), true)
			rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
			if tc.ok {
				wantAll(t, rs, 1, 250, "2.0.0", StageData)
			} else {
				wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
				if len(mx.Messages()) != 0 {
					t.Error("delivered to a certificate for another name")
				}
			}
			if got := evs.results(); got != "tlsa:"+tc.result {
				t.Errorf("TLS-RPT events %q", got)
			}
		})
	}
}

// TestDANEOverridesSTS: an enforce MTA-STS policy that does not list the
// MX, but the MX has a validated, matching TLSA record: DANE wins.
func TestDANEOverridesSTS(t *testing.T) {
	c := smtptest.SelfSigned(t, "mx.x.test")
	e, mx, _, mod := daneEnv(t, c.TLS, "3 1 1 "+spkiSHA256(c.X509), true)
	e.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=1"`)
	web := smtptest.SelfSigned(t, "mta-sts.x.test")
	h := newSTSHost(t, web, "version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 86400\n")
	d := e.deliverer(mod, func(o *Options) { o.MTASTS = true; o.STSClient = h.client(web.Pool()) })
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].TLSPolicy != SourceDANE || len(mx.Messages()) != 1 {
		t.Errorf("policy %q, %d messages", rs[0].TLSPolicy, len(mx.Messages()))
	}
}

// TestTLSAServFail: the MX answer is validated but the TLSA lookup fails:
// the host is not tried (it could be an attack) and TLS-RPT says
// dnssec-invalid.
func TestTLSAServFail(t *testing.T) {
	c := smtptest.SelfSigned(t, "mx.x.test")
	e, mx, evs, mod := daneEnv(t, c.TLS, "3 1 1 "+spkiSHA256(c.X509), true)
	e.dns.ServFail(fmt.Sprintf("_%d._tcp.mx.x.test", e.port))
	rs := e.deliverer(mod).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.7.5", StageTLS)
	if mx.Conns() != 0 || evs.results() != "tlsa:dnssec-invalid" {
		t.Errorf("%d connections; events %q", mx.Conns(), evs.results())
	}
}

func sha512Of(b []byte) []byte {
	sum := sha512.Sum512(b)
	return sum[:]
}

// testCA makes a self-signed CA certificate and its key.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// testLeaf makes a server certificate for name signed by ca, presented
// with the CA certificate in its chain (RFC 7672 3.1.2 asks servers to).
func testLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}
}
