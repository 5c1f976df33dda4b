package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
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

// TestOnSuppressedRefuse: with on_suppressed = "refuse" a suppressed
// address gets 550 5.7.1 at RCPT and the others in the same message pass.
func TestOnSuppressedRefuse(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) { c.Suppression.OnSuppressed = "refuse" })
	n.mx("dest.test", 10, "mx.dest.test", "127.0.0.2")
	ctx := context.Background()
	if err := n.d.Store().Suppress(ctx, queue.Suppression{Address: "blocked@dest.test", Reason: "manual", Created: n.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(n.d.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("app@sender.test", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("Blocked@Dest.test", nil); !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("RCPT of a suppressed address: %v, want 550 5.7.1", err)
	}
	if err := c.Rcpt("fine@dest.test", nil); err != nil {
		t.Fatalf("RCPT of another address: %v", err)
	}
}

// TestTimelinesAsStored shows what the queue keeps for a recipient that was
// greylisted once then delivered, and for one that hard-bounced.
func TestTimelinesAsStored(t *testing.T) {
	n := newInternet(t)
	n.mx("grey.test", 10, "mx.grey.test", "127.0.0.2", smtptest.Greylist())
	n.mx("hard.test", 10, "mx.hard.test", "127.0.0.3", smtptest.WithRcpt(func(to string) error {
		return smtptest.Reply(550, "5.1.1", "The email account that you tried to reach does not exist.")
	}))
	grey := n.send("app@sender.test", "anna@grey.test")
	r := n.wait(grey, 0, queue.Deferred)
	n.advanceTo(r.NextAttempt)
	n.wait(grey, 0, queue.Delivered)
	hard := n.send("app@sender.test", "nobody@hard.test")
	n.wait(hard, 0, queue.Bounced)

	g, h := n.timeline(grey, 0), n.timeline(hard, 0)
	for name, tl := range map[string][]queue.Attempt{"greylisted then delivered": g, "hard bounce": h} {
		b, _ := json.MarshalIndent(tl, "", "  ")
		t.Logf("%s:\n%s", name, b)
	}
	if len(g) != 2 || g[0].Decision != "deferred" || g[0].Category != "greylisting" || g[0].MX != "mx.grey.test" ||
		g[0].IP != "127.0.0.2" || !g[0].NextAttempt.Equal(g[1].At) || g[1].Decision != "delivered" || g[1].Reply.Code != 250 {
		t.Errorf("greylisted timeline %+v", g)
	}
	if len(h) != 1 || h[0].Decision != "bounced" || !h[0].Suppressed || h[0].Category != "user_unknown" ||
		!strings.Contains(h[0].Reply.Text, "does not exist") || h[0].Stage != "rcpt" {
		t.Errorf("hard-bounce timeline %+v", h)
	}
}

// TestRetentionPurgesFinishedMessages: a delivered message's record stays
// for queue.retention and is then removed; a pending one is never purged.
func TestRetentionPurgesFinishedMessages(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) { c.Queue.Retention = conf.Duration{Duration: 24 * time.Hour} })
	n.mx("dest.test", 10, "mx.dest.test", "127.0.0.2")
	n.mx("grey.test", 10, "mx.grey.test", "127.0.0.3", smtptest.Greylist())
	done := n.send("app@sender.test", "a@dest.test")
	n.wait(done, 0, queue.Delivered)
	pending := n.send("app@sender.test", "b@grey.test")
	n.wait(pending, 0, queue.Deferred)
	ctx := context.Background()

	n.advanceTo(n.clk.Now().Add(23 * time.Hour))
	if _, err := n.d.Store().Message(ctx, done); err != nil {
		t.Fatalf("record gone before retention: %v", err)
	}
	waitfor.NoError(t, func() error {
		n.advanceTo(n.clk.Now().Add(purgeEvery))
		if _, err := n.d.Store().Message(ctx, done); !errors.Is(err, queue.ErrNotFound) {
			return fmt.Errorf("finished message not purged after retention: %v", err)
		}
		return nil
	})
	if _, err := n.d.Store().Message(ctx, pending); err != nil {
		t.Fatalf("pending message purged: %v", err)
	}
}

// TestTimelineRecordsTLS: an exchanger offering STARTTLS (self-signed, as
// most MX hosts in the wild are to an opportunistic sender) is used, and the
// timeline names the negotiated version and cipher.
func TestTimelineRecordsTLS(t *testing.T) {
	n := newInternet(t)
	certFile, keyFile := writeCert(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	mx := n.mx("tls.test", 10, "mx.tls.test", "127.0.0.2", smtptest.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	id := n.send("app@sender.test", "t@tls.test")
	n.wait(id, 0, queue.Delivered)
	tl := n.timeline(id, 0)
	a := tl[len(tl)-1]
	if !a.TLS || !strings.HasPrefix(a.TLSVersion, "TLS 1.") || a.TLSCipher == "" || a.TLSFallback {
		t.Fatalf("timeline entry %+v, want TLS with version and cipher", a)
	}
	if got := mx.Messages(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("server saw %+v", got)
	}
	t.Logf("delivered over %s with %s", a.TLSVersion, a.TLSCipher)
}
