package tlsrpt

import (
	"context"
	"fmt"
	"testing"

	"github.com/mtaq/mtaq/internal/clock"
)

// BenchmarkObserve: the cost delivery pays per session (in memory).
func BenchmarkObserve(b *testing.B) {
	c := NewCounter(nil, clock.NewFake(day0), nil)
	ev := Event{Domain: "x.test", PolicyType: "sts", PolicyString: testingPolicy, Result: "validation-failure", MX: "mx.x.test"}
	b.ReportAllocs()
	for b.Loop() {
		c.Observe(ev)
	}
}

// BenchmarkFlush1000Domains: one minute's flush after sessions to 1,000
// domains, into an existing day (read, merge, one synced batch).
func BenchmarkFlush1000Domains(b *testing.B) {
	clk := clock.NewFake(day0)
	q := openQueue(b, b.TempDir(), clk)
	defer q.Close()
	c := NewCounter(q, clk, nil)
	for b.Loop() {
		for i := range 1000 {
			c.Observe(Event{Domain: fmt.Sprintf("d%d.test", i), PolicyType: "no-policy-found"})
		}
		if err := c.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
