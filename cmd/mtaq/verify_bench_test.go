package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// BenchmarkVerifyFile is issue 23's figure: `mtaq verify --file` on
// 100,000 generated addresses over 5,000 fake domains, through the admin
// socket of a daemon running in-process. cold: a new daemon per run, so
// every domain is asked once; warm: the same daemon again, the DNS cache
// answering. Reported: addresses per second and DNS queries per run.
func BenchmarkVerifyFile(b *testing.B) {
	const addrs, domains = 100_000, 5_000
	path := filepath.Join(b.TempDir(), "list.csv")
	var sb strings.Builder
	sb.WriteString("email\n")
	for i := range addrs {
		fmt.Fprintf(&sb, "user%d@d%d.test\n", i, i%domains)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	setup := func(b *testing.B) *cliNet {
		n := newCLINet(b)
		for d := range domains {
			name := fmt.Sprintf("d%d.test", d)
			n.dns.MX(name, 10, "mx."+name)
		}
		return n
	}
	run := func(b *testing.B, n *cliNet) (time.Duration, int) {
		q0 := n.dns.Total()
		start := clock.Real{}.Now()
		out, errs, code := n.run(nil, "verify", "--file", path)
		d := clock.Real{}.Now().Sub(start)
		if code != 0 || strings.Count(out, "\n") != addrs+1 {
			b.Fatalf("exit %d, %d lines: %s", code, strings.Count(out, "\n"), errs)
		}
		return d, n.dns.Total() - q0
	}
	report := func(b *testing.B, total time.Duration, queries int) {
		b.ReportMetric(float64(addrs*b.N)/total.Seconds(), "addrs/s")
		b.ReportMetric(float64(queries)/float64(b.N), "dns-queries/op")
	}
	b.Run("cold", func(b *testing.B) {
		var total time.Duration
		queries := 0
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			n := setup(b)
			b.StartTimer()
			d, q := run(b, n)
			b.StopTimer()
			total, queries = total+d, queries+q
			stopCLINet(b, n)
		}
		report(b, total, queries)
	})
	b.Run("warm", func(b *testing.B) {
		b.StopTimer()
		n := setup(b)
		run(b, n)
		b.StartTimer()
		var total time.Duration
		queries := 0
		for i := 0; i < b.N; i++ {
			d, q := run(b, n)
			total, queries = total+d, queries+q
		}
		report(b, total, queries)
	})
}

// stopCLINet stops n's daemon now rather than when the benchmark ends.
func stopCLINet(b *testing.B, n *cliNet) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.d.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}
