package queue

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkEnqueueParallel measures synced acceptances on the real disk:
// parallel commits share fsyncs, so this is the queue's intake ceiling.
func BenchmarkEnqueueParallel(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 64) // 4 KiB
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(16) // like 16×GOMAXPROCS SMTP sessions: I/O-bound, not CPU-bound
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Enqueue(bg, msg(t0, "rcpt@example.test"), body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDueScan reads the first 100 due recipients from a queue of 10,000
// pending ones: the scheduler's per-tick cost.
func BenchmarkDueScan(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup // parallel so the synced setup shares fsyncs
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < 10_000; i += 50 {
				m := msg(t0, fmt.Sprintf("r%d@example.test", i))
				m.Recipients[0].NextAttempt = t0.Add(time.Duration(i) * time.Second)
				if err := s.Enqueue(bg, m, []byte("body")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	now := t0.Add(24 * time.Hour)
	b.ResetTimer()
	for b.Loop() {
		d, err := s.Due(bg, now, 100)
		if err != nil || len(d) != 100 {
			b.Fatalf("due: %d, %v", len(d), err)
		}
	}
}
