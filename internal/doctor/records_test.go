package doctor

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/dkim"
	"github.com/mtaq/mtaq/internal/dnstest"
)

// TestCheckDKIM: a record matches when its k= and p= are the configured
// key, whether p= holds SubjectPublicKeyInfo or bare PKCS#1.
func TestCheckDKIM(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := dkim.Record(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := "v=DKIM1; p=" + base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	cases := []struct {
		name    string
		records []string
		key     DKIMKey
		want    Status
		detail  string
	}{
		{"spki", []string{spki}, DKIMKey{Public: &priv.PublicKey}, Pass, "k=rsa, matches"},
		{"pkcs1, no k=", []string{pkcs1}, DKIMKey{Public: &priv.PublicKey}, Pass, "k=rsa, matches"},
		{"ed25519 key, rsa record", []string{spki}, DKIMKey{Public: edKey(1)}, Fail, "says k=rsa"},
		{"revoked", []string{"v=DKIM1; k=rsa; p="}, DKIMKey{Public: &priv.PublicKey}, Fail, "revoked"},
		{"two", []string{spki, pkcs1}, DKIMKey{Public: &priv.PublicKey}, Fail, "2 key records"},
		{"no tag value", []string{"v=DKIM1; k=rsa; p"}, DKIMKey{Public: &priv.PublicKey}, Fail, "does not parse"},
		{"v=DKIM2", []string{"v=DKIM2; p=AAAA"}, DKIMKey{Public: &priv.PublicKey}, Fail, "does not parse"},
		{"none", nil, DKIMKey{Public: &priv.PublicKey}, Fail, "not published"},
		{"key unreadable", []string{spki}, DKIMKey{LoadErr: errors.New("permission denied")}, Warn, "not compared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := dnstest.New(t)
			for _, r := range c.records {
				srv.Add(txt("sel._domainkey.example.test", r))
			}
			c.key.Domain, c.key.Selector = "example.test", "sel"
			res := CheckDKIM(ctxT(t), NewResolver([]string{srv.Addr()}), c.key)
			if res.Status != c.want || !strings.Contains(res.Detail, c.detail) {
				t.Errorf("%s %q, want %s containing %q", res.Status, res.Detail, c.want, c.detail)
			}
			if c.want == Fail && c.key.Public != nil && !strings.Contains(res.Fix, "publish sel._domainkey.example.test. TXT \"v=DKIM1; k=") {
				t.Errorf("fix %q", res.Fix)
			}
		})
	}
}

// TestCheckDMARC: the organisational domain's record applies (its sp=
// first) when the domain has none; two records are an error.
func TestCheckDMARC(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add(txt("_dmarc.example.test", "v=DMARC1; p=none; sp=reject; aspf=s"),
		txt("_dmarc.two.test", "v=DMARC1; p=reject"), txt("_dmarc.two.test", "v=DMARC1; p=none"))
	for domain, want := range map[string]string{
		"example.test":        "WARN p=none s",
		"mail.example.test":   "PASS p=reject (organisational domain example.test) s",
		"a.mail.example.test": "FAIL no v=DMARC1 record at _dmarc.a.mail.example.test ",
		"two.test":            "FAIL _dmarc.two.test has 2 v=DMARC1 records; receivers ignore them all ",
	} {
		res, aspf := checkDMARC(ctxT(t), NewResolver([]string{srv.Addr()}), domain)
		if got := string(res.Status) + " " + strings.SplitN(res.Detail, ":", 2)[0] + " " + aspf; got != want {
			t.Errorf("%s: %q, want %q", domain, got, want)
		}
	}
}
