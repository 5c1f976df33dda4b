package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// TestGreetingTimeout: an exchanger that accepts and never greets is left
// after GreetingTimeout, not CommandTimeout, and the next host is tried.
func TestGreetingTimeout(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "tarpit.x.test")
	e.dns.MX("x.test", 20, "ok.x.test")
	e.dns.A("tarpit.x.test", "127.0.0.2")
	e.dns.A("ok.x.test", "127.0.0.3")
	tp := smtptest.NewTarpit(t, fmt.Sprintf("127.0.0.2:%d", e.port))
	ok := e.smtp("127.0.0.3")
	d := e.deliverer(func(o *Options) { o.GreetingTimeout, o.CommandTimeout = 300*time.Millisecond, time.Minute })
	start := time.Now()
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	took := time.Since(start)
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if tp.Conns() != 1 || len(ok.Messages()) != 1 || took > 20*time.Second {
		t.Errorf("tarpit %d conns, ok %d messages, %v", tp.Conns(), len(ok.Messages()), took)
	}
	t.Logf("silent greeter left after %v (greeting timeout 300ms, command timeout 1m)", took.Round(time.Millisecond))
}

// TestTarpitIPSharedCap: issue 22, defect 6. Ten domains whose exchangers
// (ten host names) all resolve to one tarpit address share one cap: with
// MaxConnsPerIP 3, three Delivers wait at the greeting and the other seven
// return at once, Busy, without connecting. The control without a cap
// (the old behaviour) has all ten held.
func TestTarpitIPSharedCap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cap        int
		held, busy int
	}{{"cap 3", 3, 3, 7}, {"no cap (control)", 0, 10, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for i := range 10 {
				e.dns.MX(fmt.Sprintf("d%d.test", i), 10, fmt.Sprintf("mx.d%d.test", i))
				e.dns.A(fmt.Sprintf("mx.d%d.test", i), "127.0.0.4")
			}
			tp := smtptest.NewTarpit(t, fmt.Sprintf("127.0.0.4:%d", e.port))
			d := e.deliverer(func(o *Options) { o.MaxConnsPerIP, o.GreetingTimeout = tc.cap, time.Minute })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			results := make(chan Result, 10)
			for i := range 10 {
				go func() {
					results <- d.Deliver(ctx, job(fmt.Sprintf("d%d.test", i), fmt.Sprintf("u@d%d.test", i)))[0]
				}()
			}
			busy := 0
			deadline := time.After(5 * time.Second)
		wait:
			for busy < tc.busy || tp.Conns() < tc.held {
				select {
				case r := <-results:
					if !r.Busy || r.Enhanced != "4.4.5" || r.Stage != StageDial {
						t.Fatalf("a Deliver returned while the tarpit held it: %+v", r)
					}
					busy++
				case <-deadline:
					break wait
				case <-time.After(10 * time.Millisecond):
				}
			}
			if busy != tc.busy || tp.Conns() != tc.held || d.ips.inUse("127.0.0.4") != tc.held && tc.cap > 0 {
				t.Fatalf("%d busy, tarpit holds %d connections; want %d and %d", busy, tp.Conns(), tc.busy, tc.held)
			}
			t.Logf("10 domains on one tarpit IP, cap %d: %d connections held, %d returned at once (Busy)", tc.cap, tp.Conns(), busy)
			cancel()
			for range tc.held {
				if r := <-results; r.Busy {
					t.Errorf("a held Deliver came back Busy: %+v", r)
				}
			}
			if n := d.ips.inUse("127.0.0.4"); n != 0 {
				t.Errorf("%d slots still taken after every Deliver returned", n)
			}
		})
	}
}

// TestTarpitIPBreaker: issue 22, defect 6. Three greeting timeouts at one
// address open its breaker for every domain that names it: the next seven
// deliveries, to other domains, return at once with 4.4.1 and no
// connection. After the skip period one probe goes; its failure doubles
// the period; a greeting closes the breaker.
func TestTarpitIPBreaker(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.dns.MX(fmt.Sprintf("d%d.test", i), 10, fmt.Sprintf("mx.d%d.test", i))
		e.dns.A(fmt.Sprintf("mx.d%d.test", i), "127.0.0.4")
	}
	addr := fmt.Sprintf("127.0.0.4:%d", e.port)
	tp := smtptest.NewTarpit(t, addr)
	clk := clock.NewFake(time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC))
	d := e.deliverer(func(o *Options) { o.Clock, o.GreetingTimeout = clk, 100*time.Millisecond })
	deliver := func(i int) Result {
		return d.Deliver(ctxT(t), job(fmt.Sprintf("d%d.test", i), fmt.Sprintf("u@d%d.test", i)))[0]
	}
	for i := range 3 {
		want(t, deliver(i), 0, "4.4.1", StageGreeting)
	}
	start := time.Now()
	for i := 3; i < 10; i++ {
		r := deliver(i)
		want(t, r, 0, "4.4.1", StageDial)
		if r.IP != "127.0.0.4" {
			t.Errorf("skipped result names %q", r.IP)
		}
	}
	if tp.Conns() != 3 {
		t.Fatalf("tarpit got %d connections, want 3 before its breaker opened", tp.Conns())
	}
	t.Logf("10 domains on one tarpit IP: 3 connections, then 7 deliveries skipped it in %v", time.Since(start).Round(time.Millisecond))
	clk.Advance(DefaultDownFirst)
	want(t, deliver(0), 0, "4.4.1", StageGreeting) // the probe
	want(t, deliver(1), 0, "4.4.1", StageDial)
	clk.Advance(DefaultDownFirst)
	want(t, deliver(1), 0, "4.4.1", StageDial) // the period doubled
	if tp.Conns() != 4 {
		t.Fatalf("tarpit got %d connections, want 4 (one probe)", tp.Conns())
	}
	tp.Close()
	e.smtp("127.0.0.4")
	clk.Advance(DefaultDownFirst)
	want(t, deliver(2), 250, "2.0.0", StageData)
	want(t, deliver(3), 250, "2.0.0", StageData)
}
