package queue

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
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

// BenchmarkApplySameAddress is 100 delivery workers recording deliveries
// to one address, each its own message: the bench/ relay's load, and an app
// that mails one inbox. Every Apply merges into the address's history
// under one stripe, so what that stripe waits for bounds the rate.
func BenchmarkApplySameAddress(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MinFreeBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make(chan string, b.N)
	var wg sync.WaitGroup // parallel so the synced setup shares fsyncs
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < b.N; i += 50 {
				m := msg(t0, "inbox@example.test")
				if err := s.Enqueue(bg, m, []byte("body")); err != nil {
					b.Error(err)
					return
				}
				ids <- m.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	b.ResetTimer()
	b.SetParallelism(50) // 100 workers on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := Update{ID: <-ids, State: Delivered, Attempt: attempt(time.Minute, "delivered", reply(250, "", "ok"))}
			if err := s.Apply(bg, []Update{u}); err != nil {
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

// fillDue loads n single-recipient messages arriving, and due, from t0
// onwards, one per millisecond, in synced batches of 1000 (EnqueueMany).
func fillDue(b *testing.B, s *PebbleStore, n int) {
	b.Helper()
	const batch = 1000
	body := []byte("Subject: x\r\n\r\nbody\r\n")
	for i := 0; i < n; i += batch {
		var ms []*Message
		var bodies [][]byte
		for j := i; j < min(i+batch, n); j++ {
			// Distinct arrival milliseconds: NewID is only collision-free
			// for bursts of a few thousand IDs in one millisecond.
			m := msg(t0.Add(time.Duration(j)*time.Millisecond), fmt.Sprintf("r%d@example.test", j))
			ms, bodies = append(ms, m), append(bodies, body)
		}
		if err := s.EnqueueMany(bg, ms, bodies); err != nil {
			b.Fatal(err)
		}
	}
}

// churn does what the scheduler does to every due recipient, in waves of
// 1000: Due, Lease an hour ahead, Apply a counted deferral two hours ahead.
// Each wave leaves two due-key tombstones per recipient below the live keys.
func churn(b *testing.B, s *PebbleStore, now time.Time) {
	b.Helper()
	r := reply(451, "4.7.1", "greylisted")
	for {
		due, err := s.Due(bg, now, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(due) == 0 {
			return
		}
		leases := make([]Lease, len(due))
		ups := make([]Update, len(due))
		for i, d := range due {
			leases[i] = Lease{ID: d.ID, Rcpt: d.Rcpt, Until: now.Add(time.Hour)}
			ups[i] = Update{ID: d.ID, Rcpt: d.Rcpt, State: Deferred, NextAttempt: now.Add(2*time.Hour + time.Duration(i)),
				CountAttempt: true, Reply: r, Attempt: &Attempt{At: now, Reply: *r, Decision: "deferred"}}
		}
		if err := s.Lease(bg, leases); err != nil {
			b.Fatal(err)
		}
		if err := s.Apply(bg, ups); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDueAfterChurn times the scheduler's two scans after every one of
// n due recipients was leased and deferred: NextDue (the first live key)
// and Due at a time when nothing is due (the common idle tick). Without a
// seek past the dead head of the index both walk every tombstone.
func BenchmarkDueAfterChurn(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{MinFreeBytes: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			fillDue(b, s, n)
			now := t0.Add(time.Hour)
			churn(b, s, now)
			b.Run("NextDue", func(b *testing.B) {
				for b.Loop() {
					at, ok, err := s.NextDue(bg, time.Time{})
					if err != nil || !ok || !at.After(now) {
						b.Fatalf("next due %v %v %v", at, ok, err)
					}
				}
			})
			b.Run("DueNone", func(b *testing.B) {
				for b.Loop() {
					if d, err := s.Due(bg, now, 100); err != nil || len(d) != 0 {
						b.Fatalf("due: %d, %v", len(d), err)
					}
				}
			})
		})
	}
}

// BenchmarkApplyDeferral is the outcome path of a failed attempt: one
// synced Apply per job (a counted deferral with its timeline entry and
// event), 16×GOMAXPROCS jobs in parallel as delivery workers report back.
// Each op re-defers one of 1000 pending recipients.
func BenchmarkApplyDeferral(b *testing.B) {
	// A clock at t0, so the outcomes fall inside the rollup's 35 days and
	// are counted (R1) like live ones.
	s, err := Open(b.TempDir(), Options{MinFreeBytes: -1, Clock: clock.NewFake(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 1000
	fillDue(b, s, n)
	due, err := s.Due(bg, t0.Add(time.Hour), n)
	if err != nil || len(due) != n {
		b.Fatalf("due: %d, %v", len(due), err)
	}
	r := reply(451, "4.7.1", "greylisted")
	var next sync.Mutex
	i := 0
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			d, k := due[i%n], i
			i++
			next.Unlock()
			at := t0.Add(time.Hour + time.Duration(k)*time.Millisecond)
			u := Update{ID: d.ID, Rcpt: d.Rcpt, State: Deferred, NextAttempt: at.Add(5 * time.Minute),
				CountAttempt: true, Reply: r, Attempt: &Attempt{At: at, Reply: *r, Decision: "deferred"}}
			if err := s.Apply(bg, []Update{u}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyDelivered is the outcome path of a delivery: one synced
// Apply per message, making its one recipient delivered (the body goes,
// the message enters the final index and, since issue 23, the address's
// history is merged under its stripe). 16×GOMAXPROCS in parallel.
func BenchmarkApplyDelivered(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MinFreeBytes: -1, Clock: clock.NewFake(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillDue(b, s, b.N)
	due, err := s.Due(bg, t0.Add(time.Duration(b.N)*time.Millisecond+time.Hour), b.N)
	if err != nil || len(due) != b.N {
		b.Fatalf("due: %d, %v", len(due), err)
	}
	addrs := map[string]string{} // what the scheduler has in hand
	for _, d := range due {
		m, err := s.Message(bg, d.ID)
		if err != nil {
			b.Fatal(err)
		}
		addrs[d.ID] = m.Recipients[d.Rcpt].Address
	}
	r := reply(250, "2.0.0", "ok")
	var next sync.Mutex
	i := 0
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			d := due[i]
			i++
			next.Unlock()
			u := Update{ID: d.ID, Rcpt: d.Rcpt, Address: addrs[d.ID], State: Delivered, CountAttempt: true, Reply: r,
				Attempt: &Attempt{At: t0.Add(time.Hour), Reply: *r, Decision: "delivered"}}
			if err := s.Apply(bg, []Update{u}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRollupOutcome is the rollup's own CPU per outcome (R1): the
// merge operands one Apply adds for a job of n recipients of one domain,
// without the commit.
func BenchmarkRollupOutcome(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("rcpts=%d", n), func(b *testing.B) {
			db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Merger: rollupMerger})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			evs := make([]Event, n)
			for i := range evs {
				evs[i] = Event{Kind: EventDelivered, At: t0, Rcpt: fmt.Sprintf("r%d@example.test", i), domain: "example.test"}
			}
			wait := waitDelta{}
			b.ReportAllocs()
			for b.Loop() {
				batch := db.NewBatch()
				for range n {
					wait.change("example.test", Deferred, Delivered)
				}
				if err := addOutcomes(batch, evs, t0); err != nil {
					b.Fatal(err)
				}
				if err := wait.write(batch); err != nil {
					b.Fatal(err)
				}
				clear(wait)
				batch.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/outcome")
		})
	}
}

// BenchmarkListRcptSearch is the console's recipient search on a queue of
// 200,000 messages: one page examining 20,000 messages for an address no
// recipient has, newest first (the Activity page) and oldest first. A
// seek into the recipient records per message took 225 ms a page here
// (every seek read its blocks again: Pebble's 8 MB block cache holds
// nothing beside a 64 MB memtable); walking them in step, 15 ms.
func BenchmarkListRcptSearch(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MinFreeBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillDue(b, s, 200_000)
	if err := s.db.Flush(); err != nil { // all of it in tables, as in a store of millions
		b.Fatal(err)
	}
	if err := s.db.Compact(bg, []byte{0}, []byte{0xff}, false); err != nil {
		b.Fatal(err)
	}
	for _, newest := range []bool{true, false} {
		b.Run(fmt.Sprintf("newest=%v", newest), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.ListPage(bg, Filter{Newest: newest, Rcpt: "nobody@nowhere.test", Scan: 20_000, Limit: 50})
				if err != nil || len(p.Messages) != 0 || p.Resume == "" {
					b.Fatalf("page: %v, %v", p, err)
				}
			}
		})
	}
}

// BenchmarkLifecycle is one message's whole way through the store, as the
// daemon takes it on the relay path: the suppression lookup at RCPT, the
// synced Enqueue, the scheduler's Message and synced Lease, delivery's
// Body, and the synced Apply that makes it delivered. 16×GOMAXPROCS
// messages at once, so commits share fsyncs as they do under load.
// cpu-ns/op is the process's CPU (user + system, Pebble's goroutines and
// the fsyncs included) per message: unlike ns/op, it hardly moves with
// what else runs on the machine.
func BenchmarkLifecycle(b *testing.B) {
	s, err := Open(b.TempDir(), Options{MinFreeBytes: -1, Clock: clock.NewFake(t0)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte("Received: from app (app [127.0.0.1])\r\n\tby mtaq.example.org with ESMTP id 0123456789ABCDEF\r\n\tfor <rcpt@example.test>; Mon, 07 Dec 2026 09:00:00 +0000\r\n" +
		"From: app@example.org\r\nTo: rcpt@example.test\r\nSubject: bench\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n" +
		"Message-ID: <0123456789@example.org>\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 48))
	r := reply(250, "2.0.0", "ok")
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := seq.Add(1)
			addr := fmt.Sprintf("r%d@example.test", k)
			if _, err := s.Suppression(bg, addr, t0); err != nil {
				b.Error(err)
				return
			}
			m := msg(t0.Add(time.Duration(k)*time.Millisecond), addr)
			if err := s.Enqueue(bg, m, body); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Message(bg, m.ID); err != nil {
				b.Error(err)
				return
			}
			if err := s.Lease(bg, []Lease{{ID: m.ID, Rcpt: 0, Until: t0.Add(time.Hour)}}); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Body(bg, m.ID); err != nil {
				b.Error(err)
				return
			}
			u := Update{ID: m.ID, Rcpt: 0, Address: addr, State: Delivered, CountAttempt: true, Reply: r,
				Attempt: &Attempt{At: t0.Add(time.Minute), Reply: *r, Decision: "delivered"}}
			if err := s.Apply(bg, []Update{u}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user + system CPU so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
