package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
)

// TestCacheRespectsTTL: a burst of lookups costs one query; after the TTL
// (300s in dnstest) the next lookup asks again; failures are not cached.
func TestCacheRespectsTTL(t *testing.T) {
	srv := dnstest.New(t)
	srv.MX("c.test", 10, "mx.c.test")
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := NewResolver([]string{srv.Addr()}, WithResolverClock(clk))
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if mxs, err := r.LookupMX(ctx, "c.test"); err != nil || len(mxs) != 1 {
			t.Fatalf("lookup %d: %v %v", i, mxs, err)
		}
	}
	if n := srv.Queries("c.test.", dns.TypeMX); n != 1 {
		t.Fatalf("50 lookups sent %d queries, want 1", n)
	}
	clk.Advance(299 * time.Second)
	r.LookupMX(ctx, "c.test")
	if n := srv.Queries("c.test.", dns.TypeMX); n != 1 {
		t.Fatalf("within the TTL: %d queries", n)
	}
	clk.Advance(time.Second)
	r.LookupMX(ctx, "c.test")
	if n := srv.Queries("c.test.", dns.TypeMX); n != 2 {
		t.Fatalf("after the TTL: %d queries, want 2", n)
	}

	srv.ServFail("bad.test")
	r.LookupMX(ctx, "bad.test")
	r.LookupMX(ctx, "bad.test")
	if n := srv.Queries("bad.test.", dns.TypeMX); n != 2 {
		t.Fatalf("SERVFAIL cached: %d queries for 2 lookups", n)
	}
}
