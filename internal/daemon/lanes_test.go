package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestSlowDestinationDoesNotDelayOthers: an exchanger that holds MAIL until
// the test lets it go holds its own lane only; mail to another domain,
// sent after, is delivered meanwhile.
func TestSlowDestinationDoesNotDelayOthers(t *testing.T) {
	// Three parallel transactions at one exchanger IP: with 8 workers the
	// default per_ip_share (0.1) would allow one; the cap has its own test
	// (TestTarpitsDoNotStallDelivery), this one is about lanes.
	n := newInternet(t, func(c *conf.Config) { c.Delivery.PerIPShare = 1 })
	release := make(chan struct{})
	var atMail atomic.Int32
	slow := n.mx("slow.test", 10, "mx.slow.test", "127.0.0.2", smtptest.WithMail(func(string) error {
		atMail.Add(1)
		<-release
		return nil
	}))
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // before the servers and the daemon stop, should the test fail early
	fast := n.mx("fast.test", 10, "mx.fast.test", "127.0.0.3")
	var slowIDs []string
	for i := 0; i < 3; i++ {
		slowIDs = append(slowIDs, n.send("app@sender.test", fmt.Sprintf("u%d@slow.test", i)))
	}
	waitfor.True(t, "three transactions held at slow.test's MAIL", func() bool { return atMail.Load() == 3 })
	start := time.Now()
	id := n.send("app@sender.test", "v@fast.test")
	n.wait(id, 0, queue.Delivered)
	took := time.Since(start)
	t.Logf("fast.test delivered %v after submission while slow.test held every transaction at MAIL", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("fast.test waited %v behind slow.test", took)
	}
	let()
	for _, sid := range slowIDs {
		n.wait(sid, 0, queue.Delivered)
	}
	if len(fast.Messages()) != 1 || len(slow.Messages()) != 3 {
		t.Fatalf("fast got %d, slow got %d", len(fast.Messages()), len(slow.Messages()))
	}
}

// TestDeadDestinationBoundedConnections: 1000 messages to a destination
// whose only exchanger answers 421 at every greeting cost a bounded number
// of connections, not 1000; the rest wait parked, not bounced.
func TestDeadDestinationBoundedConnections(t *testing.T) {
	n := newInternet(t)
	dead := n.mx("dead.test", 10, "mx.dead.test", "127.0.0.4",
		smtptest.WithGreeting(func(int) *smtp.SMTPError { return smtptest.Reply(421, "4.3.2", "Service not available") }))
	const total, conns = 1000, 10
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			errs <- sendMany(n.d.Addrs()[0].String(), c, total/conns)
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Let time pass (each throttling pause holds new starts until it ends)
	// until the breaker opens and in-flight jobs have finished, then count.
	waitfor.NoError(t, func() error {
		st := destination(n, "dead.test")
		if st.State == "parked" && st.Active == 0 {
			return nil
		}
		n.advanceTo(n.clk.Now().Add(2 * time.Second))
		return fmt.Errorf("dead.test never parked: %+v", st)
	})
	ctx := context.Background()
	pending, bounced := 0, 0
	for after := ""; ; {
		ms, err := n.d.Store().List(ctx, queue.Filter{After: after, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if m.Recipients[0].State.Pending() {
				pending++
			} else {
				bounced++
			}
		}
		after = ms[len(ms)-1].ID
	}
	t.Logf("%d messages to a dead destination: %d connections; %d pending, %d final", total, dead.Conns(), pending, bounced)
	if dead.Conns() > 40 || pending != total {
		t.Fatalf("%d connections (want ≤ 40), %d of %d still pending", dead.Conns(), pending, total)
	}
}

func destination(n *internet, domain string) (st struct {
	State  string
	Active int
}) {
	for _, d := range n.d.Scheduler().Destinations() {
		if d.Domain == domain {
			st.State, st.Active = d.State, d.Active
		}
	}
	return st
}

// sendMany submits count messages over one SMTP connection.
func sendMany(addr string, c, count int) error {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	for i := 0; i < count; i++ {
		if err := cl.SendMail("app@sender.test", []string{fmt.Sprintf("r%d-%d@dead.test", c, i)},
			stringsReader(fmt.Sprintf("Subject: %d-%d\r\n\r\nx\r\n", c, i))); err != nil {
			return err
		}
	}
	return nil
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestRateLimitingDestinationRecovers: an exchanger answering "421 4.7.0
// too many connections" to its first three transactions has its
// concurrency limit cut; as deliveries succeed it climbs back to the
// configured 20.
func TestRateLimitingDestinationRecovers(t *testing.T) {
	n := newInternet(t)
	var mu sync.Mutex
	refused := 0
	n.mx("busy.test", 10, "mx.busy.test", "127.0.0.5", smtptest.WithMail(func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if refused < 3 {
			refused++
			return smtptest.Reply(421, "4.7.0", "Too many concurrent SMTP connections from this IP address; please try again later")
		}
		return nil
	}))
	limit := func() (int, string) {
		for _, d := range n.d.Scheduler().Destinations() {
			if d.Domain == "busy.test" {
				return d.Limit, d.State
			}
		}
		return 0, ""
	}
	var first []string
	for i := 0; i < 3; i++ {
		first = append(first, n.send("app@sender.test", fmt.Sprintf("a%d@busy.test", i)))
		r := n.wait(first[i], 0, queue.Deferred)
		n.advanceTo(r.Updated.Add(2 * time.Minute)) // past the pause, before the retry
	}
	low, state := limit()
	t.Logf("after three 421s: limit %d (%s)", low, state)
	if low >= 20 || state != "throttled" {
		t.Fatalf("limit %d (%s) after three 421s, want cut below 20", low, state)
	}
	n.advanceTo(n.clk.Now().Add(10 * time.Minute)) // the three retry and go through
	for _, id := range first {
		n.wait(id, 0, queue.Delivered)
	}
	for i := 0; i < 100; i++ {
		n.wait(n.send("app@sender.test", fmt.Sprintf("b%d@busy.test", i)), 0, queue.Delivered)
	}
	high, state := limit()
	t.Logf("after 103 deliveries: limit %d (%s)", high, state)
	if high != 20 || state != "ok" {
		t.Fatalf("limit %d (%s), want back to 20", high, state)
	}
}
