package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/queue"
)

// BenchmarkImportPropagation: an import of 1000 addresses on one node
// (one local batch) until the other node's copy has all of them: the
// shared list's bulk rate (push, NOTIFY, catch-up).
func BenchmarkImportPropagation(b *testing.B) {
	dsn := pgtest.DSN(b, pgtest.Addr)
	open := func() *queue.PebbleStore {
		s, err := queue.Open(b.TempDir(), queue.Options{SharedOutbox: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	a, other := open(), open()
	for i, s := range []*queue.PebbleStore{a, other} {
		n, err := Start(Options{DSN: dsn, Node: fmt.Sprintf("n%d", i), Store: s})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(n.Stop)
	}
	const batch = 1000
	b.ResetTimer()
	for i := range b.N {
		sups := make([]queue.Suppression, batch)
		for j := range sups {
			sups[j] = queue.Suppression{Address: fmt.Sprintf("u%d-%d@example.test", i, j), Reason: "manual"}
		}
		if err := a.SuppressMany(bg, sups); err != nil {
			b.Fatal(err)
		}
		last := sups[batch-1].Address
		for {
			// The pusher sends in seq order, so the last one arrives last.
			got, err := other.Suppression(bg, last, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if got != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "addresses/s")
}
