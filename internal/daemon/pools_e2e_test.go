package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestPoolsChosenByRule: two pools on two loopback source addresses; a
// sender_domain rule sends news.test mail (and its subdomains') from
// the bulk pool, the rest from the default pool. The destination sees
// each message come from its pool's address with its pool's EHLO name,
// and the timeline names both.
func TestPoolsChosenByRule(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) {
		c.Delivery.Pools = []conf.Pool{
			{Name: "default", SourceIPs: []string{"127.0.0.20"}, EHLO: "tx.mtaq.test"},
			{Name: "bulk", SourceIPs: []string{"127.0.0.21"}, EHLO: "bulk.mtaq.test"},
		}
		c.Delivery.PoolRules = []conf.PoolRule{{SenderDomain: "news.test", Pool: "bulk"}}
	})
	x := n.mx("x.test", 10, "mx.x.test", "127.0.0.2")
	tx := n.send("app@sender.test", "a@x.test")
	bulk := n.send("letters@mail.news.test", "b@x.test")
	n.wait(tx, 0, queue.Delivered)
	n.wait(bulk, 0, queue.Delivered)
	from := map[string]string{}
	for _, m := range x.Messages() {
		from[m.From] = strings.Split(m.Peer, ":")[0] + " " + m.Helo
	}
	if got := from["app@sender.test"]; got != "127.0.0.20 tx.mtaq.test" {
		t.Errorf("default pool's mail came from %q", got)
	}
	if got := from["letters@mail.news.test"]; got != "127.0.0.21 bulk.mtaq.test" {
		t.Errorf("bulk pool's mail came from %q", got)
	}
	for id, want := range map[string]string{tx: "default 127.0.0.20", bulk: "bulk 127.0.0.21"} {
		tl := n.timeline(id, 0)
		if len(tl) != 1 || tl[0].Pool+" "+tl[0].SourceIP != want {
			t.Errorf("%s timeline %+v, want %s", id, tl, want)
		}
	}
}

// TestWarmupCapOnTheFakeClock: a pool warming up at 20 a day. 100
// messages: 20 go today, 30 tomorrow (x1.5), the rest later; the others
// wait with the reason in their timeline, none bounces or expires, and
// `mtaq stats` (the admin API) shows the day's count against the cap.
func TestWarmupCapOnTheFakeClock(t *testing.T) {
	var sock string
	n := newInternet(t, func(c *conf.Config) {
		sock = c.AdminSocketPath()
		c.Delivery.Pools = []conf.Pool{{Name: "fresh", SourceIPs: []string{"127.0.0.22"}, EHLO: "fresh.mtaq.test",
			Warmup: conf.Duration{Duration: 720 * time.Hour}, WarmupStart: 20}}
	})
	api := admin.NewClient(sock)
	x := n.mx("x.test", 10, "mx.x.test", "127.0.0.2")
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = n.send("app@sender.test", fmt.Sprintf("r%d@x.test", i))
	}
	day0 := queue.Day(n.clk.Now())
	settled := func(delivered int, next time.Time) {
		t.Helper()
		waitfor.NoError(t, func() error {
			got, waiting := 0, 0
			for _, id := range ids {
				m, err := n.d.Store().Message(context.Background(), id)
				if err != nil {
					return err
				}
				switch r := m.Recipients[0]; {
				case r.State == queue.Delivered:
					got++
				case r.State == queue.Queued && !r.NextAttempt.Before(next) && r.Attempts == 0:
					waiting++
				default:
					return fmt.Errorf("%s: %+v", id, r)
				}
			}
			if got != delivered || got+waiting != len(ids) {
				return fmt.Errorf("%d delivered, %d waiting; want %d delivered", got, waiting, delivered)
			}
			return nil
		})
		if len(x.Messages()) != delivered {
			t.Fatalf("the destination has %d messages, want %d", len(x.Messages()), delivered)
		}
	}
	settled(20, queue.DayStart(day0+1))
	var waiting string
	for _, id := range ids {
		if m, _ := n.d.Store().Message(context.Background(), id); m.Recipients[0].State == queue.Queued {
			waiting = id
			break
		}
	}
	tl := n.timeline(waiting, 0)
	if len(tl) != 1 || tl[0].Pool != "fresh" || tl[0].Reply.Enhanced != "4.4.5" ||
		!strings.Contains(tl[0].Reply.Text, "warm-up: pool fresh has reached today's cap for x.test (127.0.0.22 20/20)") {
		t.Errorf("timeline of a waiting message: %+v", tl)
	}
	st, err := api.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 1 || st.Sources[0].SourceIP != "127.0.0.22" || st.Sources[0].Sent != 20 ||
		st.Sources[0].Cap != 20 || st.Sources[0].WarmupDay != 0 {
		t.Errorf("stats sources %+v", st.Sources)
	}

	n.advanceTo(queue.DayStart(day0 + 1).Add(15 * time.Minute))
	settled(50, queue.DayStart(day0+2))
	n.advanceTo(queue.DayStart(day0 + 2).Add(15 * time.Minute))
	settled(95, queue.DayStart(day0+3))
	n.advanceTo(queue.DayStart(day0 + 3).Add(15 * time.Minute))
	settled(100, time.Time{})
	for _, m := range x.Messages() {
		if !strings.HasPrefix(m.Peer, "127.0.0.22:") || m.Helo != "fresh.mtaq.test" {
			t.Fatalf("a message came from %s as %q", m.Peer, m.Helo)
		}
	}
}
