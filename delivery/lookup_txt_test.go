package delivery

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/mtaq/mtaq/internal/dnstest"
)

func TestLookupTXTJoinsStrings(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add(`x.test. 300 IN TXT "v=spf1 " "-all"`, `x.test. 300 IN TXT "other"`, `empty.test. 300 IN A 192.0.2.1`)
	r := resolver(t, srv)
	got, err := r.LookupTXT(ctxT(t), "x.test")
	if err != nil || !slices.Equal(got, []string{"v=spf1 -all", "other"}) {
		t.Errorf("TXT: %q %v", got, err)
	}
	if got, err := r.LookupTXT(ctxT(t), "empty.test"); err != nil || got != nil {
		t.Errorf("NODATA: %q %v", got, err)
	}
	if _, err := r.LookupTXT(ctxT(t), "none.test"); !errors.Is(err, ErrNXDomain) {
		t.Errorf("NXDOMAIN: %v", err)
	}
}

func TestLookupPTR(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add("1.2.0.192.in-addr.arpa. 300 IN PTR MTA.x.test.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR v6.x.test.")
	r := resolver(t, srv)
	if got, err := r.LookupPTR(ctxT(t), net.ParseIP("192.0.2.1")); err != nil || !slices.Equal(got, []string{"mta.x.test"}) {
		t.Errorf("v4: %q %v", got, err)
	}
	if got, err := r.LookupPTR(ctxT(t), net.ParseIP("2001:db8::1")); err != nil || !slices.Equal(got, []string{"v6.x.test"}) {
		t.Errorf("v6: %q %v", got, err)
	}
	if _, err := r.LookupPTR(ctxT(t), net.ParseIP("192.0.2.9")); !errors.Is(err, ErrNXDomain) {
		t.Errorf("none: %v", err)
	}
}
