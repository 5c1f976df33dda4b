package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestTarpitsDoNotStallDelivery: issue 22, defect 6. 160 messages to 8
// domains whose exchangers (127.0.0.2-9) accept TCP and never greet, with
// the default 100 workers and per_ip_share 0.1: each tarpit IP holds at
// most 10 connections, the other jobs wait as local deferrals (queued, no
// attempt counted), and mail to a healthy destination queued after them
// is delivered at once. Before the fix all 100 workers sat in the tarpits
// and the healthy message waited for a greeting timeout.
func TestTarpitsDoNotStallDelivery(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) { c.Delivery.Workers = 100 })
	var pits []*smtptest.Tarpit
	for i := range 8 {
		dom, host, ip := fmt.Sprintf("tarpit%d.test", i), fmt.Sprintf("mx.tarpit%d.test", i), mxIPs[i]
		n.dns.MX(dom, 10, host)
		n.dns.A(host, ip)
		pits = append(pits, smtptest.NewTarpit(t, fmt.Sprintf("%s:%d", ip, n.port)))
	}
	n.dns.MX("healthy.test", 10, "mx.sender.test") // the senders' server on 127.0.0.11 takes it
	cl, err := smtp.Dial(n.d.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 160 {
		rcpt := fmt.Sprintf("u%d@tarpit%d.test", i, i%8)
		if err := cl.SendMail("app@sender.test", []string{rcpt}, stringsReader("Subject: t\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	_ = cl.Close()
	held := func() (total, peak int) {
		for _, p := range pits {
			total += p.Open()
			peak = max(peak, p.Peak())
		}
		return total, peak
	}
	waitfor.NoError(t, func() error {
		if total, peak := held(); total < 80 {
			return fmt.Errorf("the tarpits hold %d connections (at most %d per IP), want 80", total, peak)
		}
		return nil
	})
	start := time.Now()
	id := n.send("app@sender.test", "v@healthy.test")
	waitfor.NoError(t, func() error {
		m, err := n.d.Store().Message(context.Background(), id)
		if err != nil {
			return err
		}
		if r := m.Recipients[0]; r.State != queue.Delivered {
			total, _ := held()
			return fmt.Errorf("healthy.test %s while the tarpits hold %d connections", r.State, total)
		}
		return nil
	})
	took := time.Since(start)
	total, peak := held()
	active, waiting := 0, 0
	for _, d := range n.d.Scheduler().Destinations() {
		if strings.HasPrefix(d.Domain, "tarpit") {
			active, waiting = active+d.Active, waiting+d.Waiting
		}
	}
	attempted := 0
	ms, err := n.d.Store().List(context.Background(), queue.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if r := m.Recipients[0]; strings.HasPrefix(r.Domain, "tarpit") && (r.Attempts != 0 || r.State != queue.Queued) {
			attempted++
		}
	}
	t.Logf("8 tarpits, 160 messages, 100 workers: tarpits hold %d connections (at most %d per IP) for %d jobs; %d jobs wait in their lanes (local deferral); %d tarpit recipients with an attempt counted; healthy.test delivered %v after it was queued",
		total, peak, active, waiting, attempted, took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("healthy.test not delivered within 5 s (took %v) while tarpits held %d connections", took, total)
	}
	if peak > 10 || active != total || waiting != 160-total || attempted != 0 {
		t.Fatalf("a tarpit IP held %d connections (cap 10); %d jobs running, %d waiting, %d attempted; want %d, %d, 0",
			peak, active, waiting, attempted, total, 160-total)
	}
}
