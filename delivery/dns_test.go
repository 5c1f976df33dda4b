package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mtaq/mtaq/internal/dnstest"
)

func resolver(t *testing.T, srv *dnstest.Server, opts ...ResolverOption) *DNSResolver {
	t.Helper()
	opts = append([]ResolverOption{WithQueryTimeout(2 * time.Second)}, opts...)
	return NewResolver([]string{srv.Addr()}, opts...)
}

func TestLookupMXSortedAndCapped(t *testing.T) {
	srv := dnstest.New(t)
	for i, pref := range []uint16{50, 10, 40, 20, 70, 30, 60} {
		srv.MX("x.test", pref, fmt.Sprintf("mx%d.x.test", i))
	}
	mxs, err := resolver(t, srv).LookupMX(ctxT(t), "x.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 5 {
		t.Fatalf("got %d MX, want 5 (capped): %v", len(mxs), mxs)
	}
	for i, want := range []uint16{10, 20, 30, 40, 50} {
		if mxs[i].Pref != want {
			t.Errorf("mx[%d] pref %d, want %d (%v)", i, mxs[i].Pref, want, mxs)
		}
	}
	if mxs[0].Host != "mx1.x.test" {
		t.Errorf("host %q: want no trailing dot, lower case", mxs[0].Host)
	}
}

func TestLookupMXShufflesEqualPreferences(t *testing.T) {
	srv := dnstest.New(t)
	srv.MX("x.test", 10, "a.x.test")
	srv.MX("x.test", 10, "b.x.test")
	srv.MX("x.test", 5, "first.x.test")
	srv.MX("x.test", 20, "last.x.test")
	r := resolver(t, srv)
	seen := map[string]int{}
	for range 100 {
		mxs, err := r.LookupMX(ctxT(t), "x.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(mxs) != 4 || mxs[0].Host != "first.x.test" || mxs[3].Host != "last.x.test" {
			t.Fatalf("preference order broken: %v", mxs)
		}
		seen[mxs[1].Host+","+mxs[2].Host]++
	}
	if seen["a.x.test,b.x.test"] == 0 || seen["b.x.test,a.x.test"] == 0 {
		t.Errorf("equal preferences not shuffled over 100 lookups: %v", seen)
	}
}

func TestLookupMXFailures(t *testing.T) {
	srv := dnstest.New(t)
	srv.NullMX("null.test")
	srv.ServFail("broken.test")
	srv.Refused("refused.test")
	srv.A("nomx.test", "192.0.2.1")
	r := resolver(t, srv)
	for _, tc := range []struct {
		domain    string
		kind      DNSErrorKind
		sentinel  error
		permanent bool
	}{
		{"null.test", KindNullMX, ErrNullMX, true},
		{"missing.test", KindNXDomain, ErrNXDomain, true},
		{"broken.test", KindServFail, ErrServFail, false},
		{"refused.test", KindRefused, ErrRefused, false},
	} {
		mxs, err := r.LookupMX(ctxT(t), tc.domain)
		var de *DNSError
		if !errors.As(err, &de) || de.Kind != tc.kind || de.Permanent != tc.permanent ||
			!errors.Is(err, tc.sentinel) || de.Name != tc.domain {
			t.Errorf("%s: got %v, %#v; want kind %s permanent %v", tc.domain, mxs, err, tc.kind, tc.permanent)
		}
	}
	mxs, err := r.LookupMX(ctxT(t), "nomx.test")
	if mxs != nil || err != nil {
		t.Errorf("NOERROR without MX: got %v, %v; want nil, nil (implicit MX)", mxs, err)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv := dnstest.New(t)
	srv.MX("big.test", 10, "mx.big.test")
	srv.Truncate("big.test", true)
	mxs, err := resolver(t, srv).LookupMX(ctxT(t), "big.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.big.test" {
		t.Fatalf("got %v, %v; want the MX from the TCP answer", mxs, err)
	}
	if n := srv.Queries("big.test", dns.TypeMX); n != 2 {
		t.Errorf("%d queries, want 2 (UDP truncated, then TCP)", n)
	}
}

func TestCNAMEChain(t *testing.T) {
	for _, chase := range []bool{false, true} {
		t.Run(fmt.Sprintf("chase=%v", chase), func(t *testing.T) {
			srv := dnstest.New(t)
			srv.ChaseCNAME(chase)
			srv.CNAME("alias.test", "alias2.test")
			srv.CNAME("alias2.test", "real.test")
			srv.MX("real.test", 10, "mx.real.test")
			srv.CNAME("mx.real.test", "host.real.test")
			srv.A("host.real.test", "192.0.2.7")
			r := resolver(t, srv)
			mxs, err := r.LookupMX(ctxT(t), "alias.test")
			if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.real.test" {
				t.Fatalf("got %v, %v", mxs, err)
			}
			ips, err := r.LookupIP(ctxT(t), "mx.real.test")
			if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.0.2.7")) {
				t.Fatalf("LookupIP through CNAME: %v, %v", ips, err)
			}
			wantQ := map[bool]int{false: 1, true: 0}[chase]
			if n := srv.Queries("real.test", dns.TypeMX); n != wantQ {
				t.Errorf("%d MX queries for the target, want %d", n, wantQ)
			}
		})
	}
}

func TestCNAMELoopIsTemporary(t *testing.T) {
	srv := dnstest.New(t)
	srv.CNAME("a.test", "b.test")
	srv.CNAME("b.test", "a.test")
	_, err := resolver(t, srv).LookupMX(ctxT(t), "a.test")
	var de *DNSError
	if !errors.As(err, &de) || de.Permanent || de.Kind != KindTemporary {
		t.Fatalf("got %v, want a temporary *DNSError", err)
	}
	if n := srv.Queries("a.test", dns.TypeMX); n > maxCNAME {
		t.Errorf("%d queries: the chain is not capped", n)
	}
}

func TestLookupIP(t *testing.T) {
	srv := dnstest.New(t)
	srv.A("dual.test", "192.0.2.1")
	srv.AAAA("dual.test", "2001:db8::1")
	srv.AAAA("v6.test", "2001:db8::2")
	srv.Add("txt.test. 60 IN TXT \"no address\"")
	r := resolver(t, srv)
	ips, err := r.LookupIP(ctxT(t), "dual.test")
	if err != nil || len(ips) != 2 || !ips[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("dual: %v, %v", ips, err)
	}
	if ips, err = r.LookupIP(ctxT(t), "v6.test"); err != nil || len(ips) != 1 {
		t.Errorf("v6 only: %v, %v", ips, err)
	}
	if ips, err = r.LookupIP(ctxT(t), "txt.test"); err != nil || len(ips) != 0 {
		t.Errorf("NODATA: got %v, %v; want nil, nil", ips, err)
	}
	if _, err = r.LookupIP(ctxT(t), "gone.test"); !errors.Is(err, ErrNXDomain) {
		t.Errorf("NXDOMAIN: got %v", err)
	}
	if ips, err = r.LookupIP(ctxT(t), "192.0.2.9"); err != nil || len(ips) != 1 {
		t.Errorf("IP literal: %v, %v", ips, err)
	}
}

func TestLookupIPOneFamilyFailing(t *testing.T) {
	srv := dnstest.New(t)
	srv.A("half.test", "192.0.2.1")
	srv.FailType("half.test", dns.TypeAAAA, dns.RcodeServerFailure)
	srv.AAAA("half6.test", "2001:db8::1")
	srv.FailType("half6.test", dns.TypeA, dns.RcodeRefused)
	srv.Add("nodata.test. 60 IN TXT \"x\"")
	srv.FailType("nodata.test", dns.TypeAAAA, dns.RcodeServerFailure)
	r := resolver(t, srv)
	for _, host := range []string{"half.test", "half6.test"} {
		if ips, err := r.LookupIP(ctxT(t), host); err != nil || len(ips) != 1 {
			t.Errorf("%s: got %v, %v; want the family that answered", host, ips, err)
		}
	}
	// No address at all and one family failed: temporary, not "no address".
	if _, err := r.LookupIP(ctxT(t), "nodata.test"); !errors.Is(err, ErrServFail) {
		t.Errorf("NODATA + SERVFAIL: got %v, want the SERVFAIL", err)
	}
	srv.ServFail("sf.test")
	if _, err := r.LookupIP(ctxT(t), "sf.test"); !errors.Is(err, ErrServFail) {
		t.Errorf("both families SERVFAIL: got %v", err)
	}
}

// silentServer is a UDP socket that reads nothing and answers nothing.
func silentServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestTimeoutTriesNextServer(t *testing.T) {
	srv := dnstest.New(t)
	srv.MX("x.test", 10, "mx.x.test")
	dead := silentServer(t)
	r := NewResolver([]string{dead, srv.Addr()}, WithQueryTimeout(200*time.Millisecond))
	mxs, err := r.LookupMX(ctxT(t), "x.test")
	if err != nil || len(mxs) != 1 {
		t.Fatalf("got %v, %v; want the second server's answer", mxs, err)
	}
	r = NewResolver([]string{dead}, WithQueryTimeout(200*time.Millisecond))
	_, err = r.LookupMX(ctxT(t), "x.test")
	var de *DNSError
	if !errors.As(err, &de) || de.Kind != KindTimeout || de.Permanent || !errors.Is(err, ErrDNSTimeout) {
		t.Fatalf("got %v, want a temporary timeout", err)
	}
}

func TestContextCancelStopsLookup(t *testing.T) {
	r := NewResolver([]string{silentServer(t)}, WithQueryTimeout(10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := r.LookupMX(ctx, "x.test"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDNSTimeout) {
			t.Errorf("got %v, want a timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("lookup ignored the context")
	}
}

// TestLocalhostNeverQueriesDNS: RFC 6761 names resolve to loopback locally.
func TestLocalhostNeverQueriesDNS(t *testing.T) {
	srv := dnstest.New(t)
	r := NewResolver([]string{srv.Addr()})
	mxs, err := r.LookupMX(context.Background(), "Mail.LocalHost.")
	if err != nil || mxs != nil {
		t.Fatalf("LookupMX = %v, %v; want implicit MX", mxs, err)
	}
	ips, err := r.LookupIP(context.Background(), "localhost")
	if err != nil || len(ips) != 2 || !ips[0].IsLoopback() || !ips[1].IsLoopback() {
		t.Fatalf("LookupIP = %v, %v", ips, err)
	}
	if n := srv.Queries("localhost.", dns.TypeA) + srv.Queries("mail.localhost.", dns.TypeMX); n != 0 {
		t.Fatalf("%d queries reached the DNS server", n)
	}
}
