package delivery

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

func deliverN(t *testing.T, d *Deliverer, n int) {
	t.Helper()
	for i := range n {
		rs := d.Deliver(ctxT(t), job("x.test", fmt.Sprintf("u%d@x.test", i)))
		wantAll(t, rs, 1, 250, "2.0.0", StageData)
	}
}

// TestReuseOneConnection: 20 jobs in a row to one domain share one
// connection; with MaxMessagesPerConn 5 they take 4.
func TestReuseOneConnection(t *testing.T) {
	e, mx := oneMX(t)
	deliverN(t, e.deliverer(), 20)
	if mx.Conns() != 1 || len(mx.Messages()) != 20 {
		t.Errorf("%d connections, %d messages; want 1, 20", mx.Conns(), len(mx.Messages()))
	}
	lines := e.logs.FilterMessage("delivery attempt").All()
	if len(lines) != 20 || lines[19].ContextMap()["reused"] != true || lines[19].ContextMap()["conn_txns"] != int64(20) {
		t.Errorf("%d attempt lines; last %v", len(lines), lines[len(lines)-1].ContextMap())
	}
}

func TestMaxMessagesPerConn(t *testing.T) {
	e, mx := oneMX(t)
	deliverN(t, e.deliverer(func(o *Options) { o.MaxMessagesPerConn = 5 }), 20)
	if mx.Conns() != 4 || len(mx.Messages()) != 20 {
		t.Errorf("%d connections, %d messages; want 4, 20", mx.Conns(), len(mx.Messages()))
	}
	for i, m := range mx.Messages() {
		if m.Conn != i/5+1 {
			t.Errorf("message %d on connection %d, want %d", i, m.Conn, i/5+1)
		}
	}
}

func TestReuseDisabled(t *testing.T) {
	e, mx := oneMX(t)
	deliverN(t, e.deliverer(func(o *Options) { o.IdleTimeout = -1 }), 3)
	if mx.Conns() != 3 {
		t.Errorf("%d connections, want 3", mx.Conns())
	}
}

// TestStaleIdleConnection: a pooled connection the server dropped
// silently is discarded and a new one opened, transparently.
func TestStaleIdleConnection(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer()
	deliverN(t, d, 1)
	mx.DropConns()
	deliverN(t, d, 1)
	if mx.Conns() != 2 || len(mx.Messages()) != 2 {
		t.Errorf("%d connections, %d messages; want 2, 2", mx.Conns(), len(mx.Messages()))
	}
}

// TestIdle421: the server timed the idle connection out with a 421 (sent
// unasked, then closed): that 421 is nobody's result.
func TestIdle421(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithIdleTimeout(200*time.Millisecond))
	d := e.deliverer()
	deliverN(t, d, 1)
	// The server's idle timer is wall time and announces nothing: wait it
	// out (twice over) so the pooled connection holds the 421.
	time.Sleep(400 * time.Millisecond)
	deliverN(t, d, 1)
	if mx.Conns() != 2 {
		t.Errorf("%d connections, want 2", mx.Conns())
	}
}

// TestIdleExpiry: past IdleTimeout the connection is closed by the
// sweeper and the next job opens a new one.
func TestIdleExpiry(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer(func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	deliverN(t, d, 1)
	waitfor.NoError(t, func() error {
		if n := idle(d); n != 0 {
			return fmt.Errorf("%d idle connections after expiry", n)
		}
		return nil
	})
	deliverN(t, d, 1)
	if mx.Conns() != 2 {
		t.Errorf("%d connections, want 2", mx.Conns())
	}
}

func idle(d *Deliverer) int {
	d.pool.mu.Lock()
	defer d.pool.mu.Unlock()
	n := 0
	for _, l := range d.pool.conns {
		n += len(l)
	}
	return n
}

// TestCloseQuitsIdle: Close empties the pool; Deliver still works after,
// without keeping anything.
func TestCloseQuitsIdle(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer()
	deliverN(t, d, 1)
	if idle(d) != 1 {
		t.Fatalf("%d idle, want 1", idle(d))
	}
	d.Close()
	if idle(d) != 0 {
		t.Fatalf("%d idle after Close", idle(d))
	}
	deliverN(t, d, 1)
	if idle(d) != 0 || mx.Conns() != 2 {
		t.Errorf("%d idle, %d connections after Close", idle(d), mx.Conns())
	}
}

// TestConcurrentReuse: parallel jobs to one domain never share a
// connection at once and never open more than there are workers.
func TestConcurrentReuse(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 5 {
				rs := d.Deliver(ctxT(t), job("x.test", fmt.Sprintf("w%d-%d@x.test", w, i)))
				wantAll(t, rs, 1, 250, "2.0.0", StageData)
			}
		})
	}
	wg.Wait()
	if len(mx.Messages()) != 30 || mx.Conns() > 6 {
		t.Errorf("%d messages on %d connections; want 30 on at most 6", len(mx.Messages()), mx.Conns())
	}
}

// TestNoReuseAcrossDomains: the pool is per destination domain.
func TestNoReuseAcrossDomains(t *testing.T) {
	e, mx := oneMX(t)
	e.dns.MX("y.test", 10, "mx.x.test")
	d := e.deliverer()
	deliverN(t, d, 1)
	wantAll(t, d.Deliver(ctxT(t), job("y.test", "a@y.test")), 1, 250, "2.0.0", StageData)
	if mx.Conns() != 2 {
		t.Errorf("%d connections, want 2", mx.Conns())
	}
}

// TestMaxIdlePerDest: four jobs on four connections at once leave at most
// MaxIdlePerDest of them idle; the rest are closed.
func TestMaxIdlePerDest(t *testing.T) {
	for _, tc := range []struct{ max, idle int }{{2, 2}, {4, 4}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			const n = 4
			arrived := make(chan struct{}, n)
			all := make(chan struct{})
			var once sync.Once
			e, mx := oneMX(t, smtptest.WithData(func(string, []string, []byte) error {
				// Hold each DATA until all n are in, so n connections are open at once.
				arrived <- struct{}{}
				if len(arrived) == n {
					once.Do(func() { close(all) })
				}
				select {
				case <-all:
				case <-time.After(10 * time.Second):
				}
				return nil
			}))
			d := e.deliverer(func(o *Options) { o.MaxIdlePerDest = tc.max })
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					wantAll(t, d.Deliver(ctxT(t), job("x.test", fmt.Sprintf("u%d@x.test", i))), 1, 250, "2.0.0", StageData)
				})
			}
			wg.Wait()
			if mx.Conns() != n || idle(d) != tc.idle {
				t.Errorf("%d connections, %d idle; want %d, %d", mx.Conns(), idle(d), n, tc.idle)
			}
		})
	}
}
