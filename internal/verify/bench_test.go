package verify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/queue"
)

// benchList is n addresses over domains fake domains, each with an MX.
func benchList(b *testing.B, srv *dnstest.Server, n, domains int) []string {
	for d := range domains {
		name := fmt.Sprintf("d%d.test", d)
		srv.MX(name, 10, "mx."+name)
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%d@d%d.test", i, i%domains)
	}
	return addrs
}

// BenchmarkAddresses verifies 100,000 addresses over 5,000 domains: cold
// (a new resolver each time, so every domain is asked) and warm (the DNS
// cache answers). Reported: addresses per second and DNS queries per run.
func BenchmarkAddresses(b *testing.B) {
	srv := dnstest.New(b)
	addrs := benchList(b, srv, 100_000, 5_000)
	store, err := queue.Open(b.TempDir(), queue.Options{MinFreeBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	clk := clock.NewFake(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	newV := func() *Verifier {
		return New(Options{Store: store, Clock: clk,
			Resolver: delivery.NewResolver([]string{srv.Addr()}, delivery.WithResolverClock(clk))})
	}
	run := func(b *testing.B, v func() *Verifier) {
		q0 := srv.Total()
		start := clock.Real{}.Now()
		for b.Loop() {
			res, err := v().Addresses(context.Background(), addrs)
			if err != nil || len(res) != len(addrs) || res[0].Verdict != Valid {
				b.Fatalf("%v %d %+v", err, len(res), res[0])
			}
		}
		secs := clock.Real{}.Now().Sub(start).Seconds()
		b.ReportMetric(float64(len(addrs)*b.N)/secs, "addrs/s")
		b.ReportMetric(float64(srv.Total()-q0)/float64(b.N), "dns-queries/op")
	}
	b.Run("cold", func(b *testing.B) { run(b, newV) })
	warm := newV()
	if _, err := warm.Addresses(context.Background(), addrs); err != nil {
		b.Fatal(err)
	}
	b.Run("warm", func(b *testing.B) { run(b, func() *Verifier { return warm }) })
}
