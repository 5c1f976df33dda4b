package main

import (
	"context"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// TestCrashWhileFinalDotPending: the destination takes the message and
// holds its reply to the final dot; the daemon is killed with SIGKILL while
// it waits. The destination then finishes that transaction (it has the
// message: the first copy) and answers normally from then on. After a
// restart the message is sent once more (the expected duplicate: mtaq
// cannot know the first copy arrived), at the time leased before the
// attempt, and not again: over a window past the redelivery the
// destination sees one transaction, not a retry loop.
func TestCrashWhileFinalDotPending(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes")
	}
	const first = 3 * time.Second // retry.first: the lease of a first attempt
	w := newCrashWorld(t, first.String())
	var holding atomic.Bool
	holding.Store(true)
	atDot := make(chan struct{}, 1)
	release := make(chan struct{})
	var mails atomic.Int32
	sink := w.mx("hold.test", "127.0.0.10",
		smtptest.WithMail(func(string) error { mails.Add(1); return nil }),
		smtptest.WithData(func(string, []string, []byte) error {
			if holding.Load() {
				select {
				case atDot <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-time.After(time.Minute):
				}
			}
			return nil
		}))

	p := w.start()
	defer func() { p.kill(syscall.SIGTERM) }()
	submitted := time.Now()
	id := smtptest.Submit(t, w.listen, "app@sender.test", "rcpt@hold.test")
	select {
	case <-atDot:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon never reached the final dot\nlog tail:\n%s", w.logTail())
	}
	p.kill(syscall.SIGKILL)
	killed := time.Now()
	holding.Store(false)
	close(release) // the destination finishes the held transaction: copy 1
	waitCount(t, w, sink, 1, 10*time.Second)
	leased := leasedUntil(t, w, id)

	conns0, mails0 := sink.Conns(), mails.Load()
	p = w.start()
	restarted := time.Now()
	redelivered := waitCount(t, w, sink, 2, 30*time.Second)
	// A window of two lease lengths past the redelivery: a retry loop
	// would show dozens of transactions.
	time.Sleep(2 * first)
	conns, txs := sink.Conns()-conns0, int(mails.Load()-mails0)
	copies := len(sink.Messages())
	t.Logf("queue id %s: final dot held %v after submission; SIGKILL; restart took %v; redelivered %v after the kill "+
		"(%v after the restart; leased to %v after arrival, retry.first = %v); after the restart, over %v: %d connections, %d transactions; "+
		"copies at the destination: %d (1 expected duplicate)",
		id, killed.Sub(submitted).Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond),
		redelivered.Sub(killed).Round(time.Millisecond), redelivered.Sub(restarted).Round(time.Millisecond), leased, first,
		time.Since(restarted).Round(time.Millisecond), conns, txs, copies)
	if copies != 2 || txs != 1 || conns > 2 {
		t.Fatalf("want 2 copies from 1 transaction after the restart; got %d copies, %d transactions, %d connections\n%s",
			copies, txs, conns, w.logTail())
	}
	for _, m := range sink.Messages() {
		if !strings.Contains(string(m.Data), "Subject: e2e") || len(m.To) != 1 || m.To[0] != "rcpt@hold.test" {
			t.Fatalf("unexpected message at the destination: %v\n%s", m.To, m.Data)
		}
	}
	p.kill(syscall.SIGTERM)
	if st := w.checkStore(); st[queue.Delivered] != 1 || len(st) != 1 {
		t.Fatalf("queue after stop: %v, want the one recipient delivered", st)
	}
}

// leasedUntil reads the killed daemon's queue: the recipient of id must
// still be queued, unattempted, with its due time moved to the lease (Q2):
// arrival plus at least retry.first. It returns that distance.
func leasedUntil(t *testing.T, w *crashWorld, id string) time.Duration {
	t.Helper()
	s, err := queue.Open(w.dataDir(), queue.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Recipients[0]
	lease := r.NextAttempt.Sub(m.Arrived)
	if r.State != queue.Queued || r.Attempts != 0 || lease < 3*time.Second {
		t.Fatalf("after the kill: %+v, arrived %v: want queued, no attempt counted, due >= 3s after arrival", r, m.Arrived)
	}
	return lease.Round(time.Millisecond)
}

// waitCount waits (bounded) until the destination holds n messages and
// returns when it saw the n-th.
func waitCount(t *testing.T, w *crashWorld, sink *smtptest.Server, n int, bound time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	for len(sink.Messages()) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages at the destination after %v, want %d\nlog tail:\n%s",
				len(sink.Messages()), bound, n, w.logTail())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Now()
}
