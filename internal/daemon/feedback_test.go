package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/postfixtest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// feedbackInternet is the fake Internet with the feedback loop on: mail
// from sender.test goes out with a token at bounce.sender.test, reports
// come back to the bounce listener, events go to a webhook receiver.
func feedbackInternet(t *testing.T, tweak ...func(*conf.Config)) (*internet, *hookReceiver, *smtptest.Server) {
	n, rcv, corp, _ := feedbackInternetAdmin(t, tweak...)
	return n, rcv, corp
}

// feedbackInternetAdmin is feedbackInternet plus a client of the admin API.
func feedbackInternetAdmin(t *testing.T, tweak ...func(*conf.Config)) (*internet, *hookReceiver, *smtptest.Server, admin.API) {
	t.Helper()
	rcv := &hookReceiver{secret: "s", got: map[uint64]int{}, kinds: map[string]int{}, bodies: map[uint64]map[string]any{}}
	hs := httptest.NewServer(rcv)
	t.Cleanup(hs.Close)
	var sock string
	n := newInternet(t, append([]func(*conf.Config){func(c *conf.Config) {
		sock = c.AdminSocketPath()
		c.Webhooks = []conf.Webhook{{URL: hs.URL, Secret: "s"}}
		c.Bounce.Listen = []string{"127.0.0.1:0"}
		c.Bounce.ReturnPathDomains = map[string]string{"sender.test": "bounce.sender.test"}
		c.Bounce.FeedbackAddresses = []string{"fbl@bounce.sender.test"}
	}}, tweak...)...)
	corp := n.mx("corp.test", 10, "mx.corp.test", "127.0.0.2")
	return n, rcv, corp, admin.NewClient(sock)
}

// report sends one report to the bounce listener as a remote MTA would,
// and returns when the final dot was answered, or the refusal.
func (n *internet) report(from string, to []string, data string) (time.Time, error) {
	n.t.Helper()
	c, err := smtp.Dial(n.d.BounceAddrs()[0].String())
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.corp.test"); err != nil {
		n.t.Fatal(err)
	}
	if err := c.Mail(from, nil); err != nil {
		return time.Time{}, err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return time.Time{}, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return time.Time{}, err
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(data, "\n", "\r\n"))); err != nil {
		return time.Time{}, err
	}
	err = w.Close()
	return time.Now(), err
}

// dsnFor is a gateway's later bounce (RFC 3464) of the message m for
// rcpt: what Exchange or a hosted filter sends after its 250.
func dsnFor(m smtptest.Received, rcpt, status, diag string) string {
	hdr, _, _ := strings.Cut(strings.ReplaceAll(string(m.Data), "\r\n", "\n"), "\n\n")
	return fmt.Sprintf(`From: MAILER-DAEMON@mx.corp.test
To: %s
Subject: Undeliverable: e2e
Date: Mon, 23 Nov 2026 09:30:00 +0000
Message-ID: <dsn-1@mx.corp.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Delivery has failed to these recipients:
%s

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; gw.corp.test
Arrival-Date: Mon, 23 Nov 2026 09:00:01 +0000

Final-Recipient: rfc822; %s
Action: failed
Status: %s
Diagnostic-Code: smtp; %s

--b1
Content-Type: text/rfc822-headers

%s

--b1--
`, m.From, rcpt, rcpt, status, diag, hdr)
}

// arfFor is a mailbox provider's complaint (RFC 5965) about m, sent to
// the feedback address; rcptShown is what the report reveals of the
// recipient ("" redacts it, as Microsoft and Yahoo do).
func arfFor(m smtptest.Received, rcptShown string) string {
	hdr, _, _ := strings.Cut(strings.ReplaceAll(string(m.Data), "\r\n", "\n"), "\n\n")
	orig := "Return-Path: <" + m.From + ">\n" + hdr
	rcptLine := ""
	if rcptShown != "" {
		rcptLine = "Original-Rcpt-To: " + rcptShown + "\n"
	} else {
		orig = regexp.MustCompile(`(?m)^To: .*$`).ReplaceAllString(orig, "To: redacted@corp.test")
	}
	return fmt.Sprintf(`From: feedback@corp.test
To: fbl@bounce.sender.test
Subject: complaint about message from 127.0.0.1
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <arf-%d@corp.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b2"

--b2
Content-Type: text/plain

This is an email abuse report for an email message received from IP 127.0.0.1.

--b2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: CorpFBL/1.0
Version: 1
Original-Mail-From: <%s>
%sArrival-Date: Mon, 23 Nov 2026 09:00:01 +0000
Source-IP: 127.0.0.1

--b2
Content-Type: text/rfc822-headers

%s

--b2--
`, len(rcptShown), m.From, rcptLine, orig)
}

// webhookFor waits for the webhook body of the first event of kind for
// rcpt and returns it with when it arrived.
func (h *hookReceiver) waitFor(t *testing.T, kind, rcpt string) (map[string]any, time.Time) {
	t.Helper()
	var got map[string]any
	waitfor.True(t, kind+" webhook for "+rcpt, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, b := range h.bodies {
			if b["event"] == kind && b["recipient"] == rcpt {
				got = b
				return true
			}
		}
		return false
	})
	return got, time.Now()
}

var tokenRE = regexp.MustCompile(`^b-[0-9a-z]{16}-[0-9a-z]{10}@bounce\.sender\.test$`)

// TestAsyncBounceEndToEnd: a message delivered with 250, then the
// destination's gateway sends a DSN to the bounce listener: the address
// is suppressed, the app hears of it within a second, and the next
// message to it is not sent.
func TestAsyncBounceEndToEnd(t *testing.T) {
	n, rcv, corp := feedbackInternet(t)
	id := n.send("app@sender.test", "ann@corp.test", "bob@corp.test")
	n.wait(id, 0, queue.Delivered)
	n.wait(id, 1, queue.Delivered)
	msgs := corp.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 2 {
		t.Fatalf("%d transactions at corp.test, want 1 with both recipients (batching stays)", len(msgs))
	}
	if !tokenRE.MatchString(msgs[0].From) || !strings.Contains(msgs[0].From, strings.ToLower(id)) {
		t.Fatalf("MAIL FROM %q, want a token for %s at bounce.sender.test", msgs[0].From, id)
	}
	m, err := n.d.Store().Message(context.Background(), id)
	if err != nil || m.Sender != "app@sender.test" {
		t.Fatalf("queue keeps sender %q (%v), want the original", m.Sender, err)
	}

	at, err := n.report("", []string{msgs[0].From}, dsnFor(msgs[0], "ann@corp.test", "5.1.1",
		"550 5.1.1 <ann@corp.test>: Recipient address rejected: User unknown in virtual mailbox table"))
	if err != nil {
		t.Fatalf("the DSN was refused: %v", err)
	}
	body, arrived := rcv.waitFor(t, "bounced", "ann@corp.test")
	if d := arrived.Sub(at); d > time.Second {
		t.Errorf("webhook %v after the DSN's 250, want within 1s", d)
	} else {
		t.Logf("bounced webhook %v after the DSN's 250", d)
	}
	if body["async"] != true || body["Type"] != "HardBounce" || body["Inactive"] != true || body["queue_id"] != id {
		t.Errorf("webhook body %v, want an async HardBounce for %s, inactive", body, id)
	}
	n.wait(id, 0, queue.Bounced)
	if r := n.wait(id, 1, queue.Delivered); r.State != queue.Delivered {
		t.Fatal("bob changed")
	}
	tl := n.timeline(id, 0)
	if last := tl[len(tl)-1]; last.Stage != "async" || last.MX != "gw.corp.test" || last.Reply.Enhanced != "5.1.1" ||
		!last.Suppressed {
		t.Errorf("last timeline entry %+v, want the async bounce from gw.corp.test", last)
	}
	sup, err := n.d.Store().Suppression(context.Background(), "ann@corp.test", n.clk.Now())
	if err != nil || sup == nil || sup.Reason != "hard_bounce" {
		t.Fatalf("suppression %+v (%v), want hard_bounce", sup, err)
	}
	if sup, _ := n.d.Store().Suppression(context.Background(), "bob@corp.test", n.clk.Now()); sup != nil {
		t.Fatalf("bob suppressed: %+v", sup)
	}
	next := n.send("app@sender.test", "ann@corp.test")
	n.wait(next, 0, queue.Rejected)
	if len(corp.Messages()) != 1 {
		t.Fatalf("the suppressed address was mailed again")
	}
}

// TestComplaintEndToEnd: an ARF report to the feedback address suppresses
// the recipient with reason complaint and sends Postmark's SpamComplaint
// record; a redacted report is matched through the original message.
func TestComplaintEndToEnd(t *testing.T) {
	n, rcv, corp, api := feedbackInternetAdmin(t)
	for _, c := range []struct {
		rcpt, shown string
	}{{"carol@corp.test", "carol@corp.test"}, {"dave@corp.test", ""}} {
		id := n.send("app@sender.test", c.rcpt)
		n.wait(id, 0, queue.Delivered)
		var m smtptest.Received
		for _, r := range corp.Messages() {
			if r.To[0] == c.rcpt {
				m = r
			}
		}
		at, err := n.report("feedback@corp.test", []string{"fbl@bounce.sender.test"}, arfFor(m, c.shown))
		if err != nil {
			t.Fatalf("%s: the complaint was refused: %v", c.rcpt, err)
		}
		body, arrived := rcv.waitFor(t, "complained", c.rcpt)
		if d := arrived.Sub(at); d > time.Second {
			t.Errorf("%s: webhook %v after the report's 250, want within 1s", c.rcpt, d)
		} else {
			t.Logf("%s: complained webhook %v after the report's 250", c.rcpt, d)
		}
		if body["RecordType"] != "SpamComplaint" || body["TypeCode"] != 512.0 || body["queue_id"] != id {
			t.Errorf("%s: webhook %v, want a SpamComplaint record for %s", c.rcpt, body, id)
		}
		sup, _ := n.d.Store().Suppression(context.Background(), c.rcpt, n.clk.Now().AddDate(5, 0, 0))
		if sup == nil || sup.Reason != "complaint" || !sup.Expires.IsZero() {
			t.Fatalf("%s: suppression %+v, want complaint, never expiring", c.rcpt, sup)
		}
		next := n.send("app@sender.test", c.rcpt)
		n.wait(next, 0, queue.Rejected)
		n.advanceTo(n.clk.Now().Add(time.Minute))
	}
	// Two complaints on two delivered: stats flags the sending domain.
	st, err := api.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := admin.ComplaintStat{Domain: "sender.test", Delivered24h: 2, Complaints24h: 2, Rate24h: 1, Delivered7d: 2,
		Complaints7d: 2, Rate7d: 1, Level: admin.LevelCritical}
	if len(st.Complaints) != 1 || st.Complaints[0] != want {
		t.Fatalf("stats complaints %+v, want %+v", st.Complaints, want)
	}
	recs, err := api.ListReports(context.Background(), admin.ReportFilter{Kind: "complaint"})
	if err != nil || len(recs.Reports) != 2 || !recs.Reports[0].Matched || recs.Reports[0].Rcpt != "dave@corp.test" {
		t.Fatalf("bounce ls: %+v (%v), want both complaints, newest (dave) first", recs, err)
	}
}

// TestReportAbuse: what a stranger can send to the listener changes
// nothing it may not.
func TestReportAbuse(t *testing.T) {
	cert := smtptest.SelfSigned(t, "mtaq.test")
	n, _, corp := feedbackInternet(t, func(c *conf.Config) {
		c.Bounce.MaxReportsPerIP = 6
		c.Metrics.Listen = "127.0.0.1:0"
		c.Submission.TLSCert, c.Submission.TLSKey = cert.WriteFiles(t, t.TempDir())
	})
	id := n.send("app@sender.test", "erin@corp.test")
	n.wait(id, 0, queue.Delivered)
	m := corp.Messages()[0]
	store := n.d.Store()
	count := func() int {
		c, err := store.SuppressionCount(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// A forged token: refused at RCPT; so is anything but a token or a
	// feedback address (never a relay).
	forged := regexp.MustCompile(`-[0-9a-z]{10}@`).ReplaceAllString(m.From, "-aaaaaaaaaa@")
	for _, to := range []string{forged, "postmaster@bounce.sender.test", "someone@elsewhere.test"} {
		_, err := n.report("", []string{to}, "Subject: x\n\nx\n")
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("RCPT %s: %v, want 550 5.1.1", to, err)
		}
	}
	// A valid token, but a DSN naming someone who was not a recipient.
	if _, err := n.report("", []string{m.From}, dsnFor(m, "ceo@corp.test", "5.1.1", "550 5.1.1 no such user")); err != nil {
		t.Fatal(err)
	}
	// A bounce of a bounce: a DSN from the null sender about a message
	// that itself had the null sender. It gets 250 and nothing is sent.
	loop := dsnFor(smtptest.Received{From: "", Data: []byte("From: MAILER-DAEMON@mtaq.test\r\nSubject: Undelivered\r\n\r\n")},
		"app@sender.test", "5.1.1", "550 5.1.1 user unknown")
	if _, err := n.report("", []string{m.From}, loop); err != nil {
		t.Fatal(err)
	}
	if c := count(); c != 0 {
		t.Fatalf("%d suppressions after forged and misdirected reports, want 0", c)
	}
	if r := n.wait(id, 0, queue.Delivered); r.State != queue.Delivered {
		t.Fatal("changed")
	}
	page, err := store.List(context.Background(), queue.Filter{})
	if err != nil || len(page) != 1 {
		t.Fatalf("%d messages in the queue (%v): a report made mail", len(page), err)
	}
	unmatched, err := n.d.store.Feedbacks(context.Background(), queue.FeedbackFilter{Unmatched: true})
	if err != nil || len(unmatched) != 2 {
		t.Fatalf("%d unmatched reports kept (%v), want 2", len(unmatched), err)
	}
	// A flood from one address: after max_reports_per_ip in an hour, 451.
	for i := 0; ; i++ {
		_, err := n.report("", []string{m.From}, fmt.Sprintf("Subject: flood %d\n\nx\n", i))
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code == 451 && se.EnhancedCode == (smtp.EnhancedCode{4, 7, 1}) {
			if i != 4 {
				t.Errorf("refused after %d more reports, want 4 (6 an hour)", i)
			}
			break
		}
		if err != nil || i > 10 {
			t.Fatalf("report %d: %v, want 250 until the limit, then 451 4.7.1", i, err)
		}
	}
	if c := count(); c != 0 {
		t.Fatalf("%d suppressions after the flood", c)
	}
	// Every report was counted, none as matched.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(scrape(t, n.d.MetricsAddr().String())))
	if err != nil {
		t.Fatal(err)
	}
	f := fams["mtaq_feedback_reports_total"]
	if v, _ := sample(f, map[string]string{"matched": "true"}); v != 0 {
		t.Errorf("%v reports counted as matched, want 0", v)
	}
	if v, _ := sample(f, map[string]string{"kind": "dsn", "matched": "false"}); v != 2 {
		t.Errorf("%v unmatched DSNs counted, want 2", v)
	}
	if v, _ := sample(f, map[string]string{"kind": "not_bounce", "matched": "false"}); v != 4 {
		t.Errorf("%v not_bounce reports counted, want 4 (the flood's)", v)
	}
	// STARTTLS with the submission certificate, and no AUTH after it.
	c, err := smtp.DialStartTLS(n.d.BounceAddrs()[0].String(), &tls.Config{RootCAs: cert.Pool(), ServerName: "mtaq.test"})
	if err != nil {
		t.Fatalf("STARTTLS with the submission certificate: %v", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("the bounce listener offers AUTH")
	}
}

// TestPostfixDSNEndToEnd: Debian's Postfix plays corp.test's MX. It
// answers 250, then finds no such user and sends a real DSN to the
// message's return path, which it relays to mtaq's bounce listener: mtaq
// parses it, bounces the delivered recipient and suppresses the address.
func TestPostfixDSNEndToEnd(t *testing.T) {
	postfixtest.Require(t)
	rcv := &hookReceiver{secret: "s", got: map[uint64]int{}, kinds: map[string]int{}, bodies: map[uint64]map[string]any{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	n := newInternet(t, func(c *conf.Config) {
		c.Webhooks = []conf.Webhook{{URL: hs.URL, Secret: "s"}}
		c.Bounce.Listen = []string{"127.0.0.1:0"}
		c.Bounce.ReturnPathDomains = map[string]string{"sender.test": "bounce.sender.test"}
	})
	pf := postfixtest.Start(t, postfixtest.Options{Listen: fmt.Sprintf("127.0.0.2:%d", n.port),
		Relay: n.d.BounceAddrs()[0].String(), Hostname: "mx.corp.test", LocalDomains: []string{"corp.test"}})
	n.dns.MX("corp.test", 10, "mx.corp.test")
	n.dns.A("mx.corp.test", "127.0.0.2")

	id := n.send("app@sender.test", "nosuchuser@corp.test")
	n.wait(id, 0, queue.Delivered)
	var r queue.Recipient
	waitfor.NoError(t, func() error {
		m, err := n.d.Store().Message(context.Background(), id)
		if err != nil {
			return err
		}
		if r = m.Recipients[0]; r.State != queue.Bounced {
			return fmt.Errorf("recipient %s, want bounced by Postfix's DSN; Postfix's log:\n%s", r.State, pf.Log())
		}
		return nil
	})
	tl := n.timeline(id, 0)
	last := tl[len(tl)-1]
	if last.Stage != "async" || last.MX != "mx.corp.test" || last.Reply.Enhanced != "5.1.1" || !last.Suppressed {
		t.Errorf("timeline entry %+v, want the async bounce reported by mx.corp.test, 5.1.1, suppressed", last)
	}
	sup, err := n.d.Store().Suppression(context.Background(), "nosuchuser@corp.test", n.clk.Now())
	if err != nil || sup == nil || sup.Reason != "hard_bounce" {
		t.Fatalf("suppression %+v (%v), want hard_bounce", sup, err)
	}
	body, _ := rcv.waitFor(t, "bounced", "nosuchuser@corp.test")
	if body["async"] != true || body["Type"] != "HardBounce" {
		t.Errorf("webhook %v, want an async HardBounce", body)
	}
	t.Logf("Postfix's DSN: %s %s %q", last.Reply.Enhanced, last.MX, last.Reply.Text)
}
