package daemon

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestRestartPacesOverdue runs the catch-up through the daemon's own loop:
// 200 recipients deferred by 451, the daemon stopped, started again (same
// data_dir) two hours later on a fake clock. All 200 are overdue; the
// scheduler lets them through at 100 per second of fake time, so after
// each 250 ms step exactly the paced number has been delivered, never the
// whole backlog at once.
func TestRestartPacesOverdue(t *testing.T) {
	const n = 200
	dns := dnstest.New(t)
	port := smtptest.FreePort(t, "127.0.0.13")
	dns.MX("later.test", 10, "mx.later.test")
	dns.A("mx.later.test", "127.0.0.13")
	var open atomic.Bool
	sink := smtptest.New(t, fmt.Sprintf("127.0.0.13:%d", port), smtptest.WithRcpt(func(string) error {
		if !open.Load() {
			return smtptest.Reply(451, "4.3.0", "not now")
		}
		return nil
	}))
	c := conf.Defaults()
	c.Hostname = "mtaq.test"
	c.DataDir = t.TempDir()
	c.Submission.Listen = []string{"127.0.0.1:0"}
	c.Delivery.DNSServers = []string{dns.Addr()}
	c.Delivery.Port = port
	c.DSN.Enabled = false
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	start := func(clk clock.Clock) *Daemon {
		d, err := Start(Options{Config: c, Clock: clk, Rand: func() float64 { return 0.5 },
			ConnectTimeout: 2 * time.Second, CommandTimeout: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop(context.Background()) }) //nolint:errcheck // stopped twice is fine
		return d
	}
	d := start(clock.NewFake(t0))
	cl, err := smtp.Dial(d.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := cl.SendMail("app@sender.test", []string{fmt.Sprintf("u%d@later.test", i)},
			stringsReader(fmt.Sprintf("Subject: %d\r\n\r\nhi\r\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	cl.Quit() //nolint:errcheck // all sent
	deferred := func() int {
		ms, err := d.Store().List(context.Background(), queue.Filter{State: queue.Deferred})
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}
	waitfor.NoError(t, func() error {
		if got := deferred(); got < n {
			return fmt.Errorf("%d of %d deferred", got, n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	open.Store(true)
	clk := clock.NewFake(t0.Add(2 * time.Hour))
	start(clk)
	delivered := func() int { return len(sink.Messages()) }
	var steps []int
	for step := 0; delivered() < n && step < 20; step++ {
		// 100 per second, the first one at once: after step k (of 250 ms)
		// the budget is 25k+1.
		want := min(25*step+1, n)
		at := time.Duration(step) * 250 * time.Millisecond
		waitfor.NoError(t, func() error {
			if got := delivered(); got < want {
				return fmt.Errorf("at +%s fake: %d delivered, want %d", at, got, want)
			}
			return nil
		})
		// Anything beyond the budget would show up now. Not a signal: the
		// scheduler announces no "asleep with no wake-up pending", and a
		// wake-up left in its channel can start a pass that arms the next
		// timer after the Advance below, stalling the test.
		time.Sleep(100 * time.Millisecond)
		if got := delivered(); got != want {
			t.Fatalf("at +%s fake: %d delivered, the pacing allows %d", at, got, want)
		}
		steps = append(steps, delivered())
		clk.Advance(250 * time.Millisecond)
	}
	t.Logf("delivered after each 250 ms of fake time: %v", steps)
	if delivered() != n {
		t.Fatalf("%d of %d delivered after 5 s of fake time", delivered(), n)
	}
}
