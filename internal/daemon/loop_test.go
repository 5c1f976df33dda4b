package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// loopPeer is one mtaq whose DNS says loop.test is served by the other.
type loopPeer struct {
	d    *Daemon
	dns  *dnstest.Server
	sink *smtptest.Server // sender.test's MX, where bounces arrive
}

func startLoopPeer(t *testing.T, ip string, port int, peerIP string, peerPort int) *loopPeer {
	t.Helper()
	p := &loopPeer{dns: dnstest.New(t)}
	p.dns.MX("loop.test", 10, "mx.loop.test")
	p.dns.A("mx.loop.test", peerIP)
	p.dns.MX("sender.test", 10, "mx.sender.test")
	p.dns.A("mx.sender.test", "127.0.0.22")
	p.sink = smtptest.New(t, fmt.Sprintf("127.0.0.22:%d", peerPort))
	c := conf.Defaults()
	c.Hostname = "mtaq-" + ip + ".test"
	c.DataDir = t.TempDir()
	c.Submission.Listen = []string{fmt.Sprintf("%s:%d", ip, port)}
	c.Delivery.DNSServers = []string{p.dns.Addr()}
	c.Delivery.Port = peerPort // every MX on the peer's port: loop.test's, and the sink's
	c.Delivery.Workers = 4
	// Both trust 127.0.0.0/8 (the default): each relays for the other.
	p.d = startDaemon(t, Options{Config: c, Clock: clock.NewFake(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)),
		Rand: func() float64 { return 0.5 }})
	return p
}

// messages returns the queue's copies of the looping message, oldest
// first (not the DSN, which has another recipient).
func (p *loopPeer) messages(t *testing.T) []*queue.Message {
	t.Helper()
	ms, err := p.d.Store().List(context.Background(), queue.Filter{Rcpt: "x@loop.test"})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// settled fails while any message p holds, the looping copies and the
// DSN alike, has a recipient in an open state.
func (p *loopPeer) settled() error {
	ms, err := p.d.Store().List(context.Background(), queue.Filter{})
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return fmt.Errorf("no messages")
	}
	for _, m := range ms {
		for _, r := range m.Recipients {
			if !r.State.Final() {
				return fmt.Errorf("%s to %s still %s", m.ID, r.Address, r.State)
			}
		}
	}
	return nil
}

// TestMailLoopStopsAtHopLimit: two instances whose MX for loop.test is each
// other pass a message back and forth. Every pass adds a Received field;
// the pass that would carry the 31st is refused with 554 5.4.6 (intake's
// hop limit), so the loop ends after exactly 30 relays, the last holder
// fails the message
// (hard, no suppression: the address did nothing wrong), and the sender
// gets one DSN.
func TestMailLoopStopsAtHopLimit(t *testing.T) {
	portA := smtptest.FreePort(t, "127.0.0.20", "127.0.0.22")
	portB := smtptest.FreePort(t, "127.0.0.21", "127.0.0.22")
	a := startLoopPeer(t, "127.0.0.20", portA, "127.0.0.21", portB)
	b := startLoopPeer(t, "127.0.0.21", portB, "127.0.0.20", portA)

	smtptest.Submit(t, fmt.Sprintf("127.0.0.20:%d", portA), "app@sender.test", "x@loop.test")

	// 1 submission + 30 relays: 16 messages end at A, 15 at B; the 31st
	// relay (A to B) is refused. While the loop runs one copy is always
	// open (its holder records the peer's 250 after the peer queued the
	// next copy), so once every message on both sides, the DSN included,
	// is final, no relay is in flight and none can start: the counts below
	// are the last word, with no sleep to let stragglers show up.
	waitfor.NoError(t, func() error {
		if err := a.settled(); err != nil {
			return fmt.Errorf("A: %w (A holds %d copies, B %d)", err, len(a.messages(t)), len(b.messages(t)))
		}
		if err := b.settled(); err != nil {
			return fmt.Errorf("B: %w (A holds %d copies, B %d)", err, len(a.messages(t)), len(b.messages(t)))
		}
		if len(a.sink.Messages()) == 0 {
			return fmt.Errorf("no DSN at the sender's MX yet")
		}
		return nil
	})
	msA, msB := a.messages(t), b.messages(t)
	if len(msA) == 0 {
		t.Fatal("A holds no copy")
	}
	last := msA[len(msA)-1]
	relays := len(msA) + len(msB) - 1
	t.Logf("relays: %d (A holds %d, B %d); last reply %+v", relays, len(msA), len(msB), last.Recipients[0].LastReply)
	if len(msA) != 16 || len(msB) != 15 {
		t.Fatalf("A holds %d messages, B %d: want 16 and 15 (30 relays)", len(msA), len(msB))
	}
	r := last.Recipients[0]
	// Failed, not Bounced: permanent for this message, but the address is
	// kept (policy's mail-loop rule); a loop is a routing fault, and
	// suppressing the address as unknown would lose its later mail.
	if r.State != queue.Failed || r.LastReply == nil || r.LastReply.Code != 554 || r.LastReply.Enhanced != "5.4.6" {
		t.Fatalf("last holder's recipient %s, reply %+v: want failed on 554 5.4.6", r.State, r.LastReply)
	}
	tl, err := a.d.Store().Timeline(context.Background(), last.ID, 0)
	if err != nil || len(tl) != 1 || tl[0].Class != "hard" || tl[0].Suppressed {
		t.Fatalf("timeline %+v %v: want one hard attempt, nothing suppressed", tl, err)
	}
	t.Logf("last attempt: class %s, category %s, decision %s", tl[0].Class, tl[0].Category, tl[0].Decision)
	for _, ms := range [][]*queue.Message{msA[:15], msB} {
		for _, m := range ms {
			if st := m.Recipients[0].State; st != queue.Delivered {
				t.Fatalf("%s: %s, every relay before the last was accepted", m.ID, st)
			}
		}
	}
	if sup, err := a.d.Store().Suppression(context.Background(), "x@loop.test", time.Now()); err != nil || sup != nil {
		t.Errorf("a loop suppressed the recipient: %+v %v", sup, err)
	}
	dsns := a.sink.Messages()
	if len(dsns) != 1 || dsns[0].From != "" || !strings.Contains(string(dsns[0].Data), "5.4.6") {
		t.Fatalf("sender got %d DSNs (%+v), want one failure report with 5.4.6", len(dsns), dsns)
	}
	if n := len(b.sink.Messages()); n != 0 {
		t.Errorf("B sent %d DSNs; only the bouncing instance reports", n)
	}
}
