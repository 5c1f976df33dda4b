package submission

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/queue"
)

func TestAcceptFromTrusted(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("app@sender.test", "X@Example.TEST")
	got := c.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
	if got != "250 2.0.0 Ok: queued as Q0001" {
		t.Fatalf("reply %q", got)
	}
	c.cmd("NOOP", "250 ") // the session goes on after a 250 carried as SMTPError
	msgs, bodies := e.store.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	want := queue.Recipient{Index: 0, Address: "X@Example.TEST", Domain: "example.test",
		State: queue.Queued, NextAttempt: t0, Updated: t0}
	if m.Sender != "app@sender.test" || !m.Arrived.Equal(t0) || m.ClientAddr != "127.0.0.1" ||
		m.Helo != "client.test" || len(m.Recipients) != 1 || m.Recipients[0] != want {
		t.Fatalf("message %+v", m)
	}
	// A trusted client's message without From, Date and Message-ID gets
	// them under the Received field (intake's fix-up).
	wantBody := "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (mtaq) with ESMTP id Q0001\r\n" +
		"\tfor <X@Example.TEST>;\r\n\tTue, 04 Mar 2025 05:06:07 +0000\r\n" +
		"From: <app@sender.test>\r\nDate: Tue, 04 Mar 2025 05:06:07 +0000\r\nMessage-ID: <Q0001@mx.test>\r\n" +
		"Subject: hi\r\n\r\nhello\r\n"
	if string(bodies[0]) != wantBody {
		t.Fatalf("body %q", bodies[0])
	}
	if m.Size != int64(len(wantBody)) {
		t.Fatalf("size %d", m.Size)
	}
	if q := e.onQueued(); len(q) != 1 || q[0] != "Q0001" {
		t.Fatalf("OnQueued %v", q)
	}
}

func TestGoSMTPClientAndNewID(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *Options) {
		o.NewID = func(now time.Time) string { return "ID" + now.Format("150405") }
	})
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, ok := c.MaxMessageSize(); !ok || n != 4096 {
		t.Fatalf("SIZE %d %v", n, ok)
	}
	if err := c.Mail("", nil); err != nil { // null sender
		t.Fatal(err)
	}
	for _, r := range []string{"a@x.test", "b@y.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: two\n\nbody\n"))
	resp, err := w.CloseWithResponse()
	if err != nil || resp.StatusText != "2.0.0 Ok: queued as ID050607" {
		t.Fatalf("close: %+v %v", resp, err)
	}
	msgs, bodies := e.store.messages()
	if msgs[0].ID != "ID050607" || msgs[0].Sender != "" || len(msgs[0].Recipients) != 2 {
		t.Fatalf("message %+v", msgs[0])
	}
	if !strings.Contains(string(bodies[0]), "with ESMTP id ID050607;\r\n") ||
		strings.Contains(string(bodies[0]), "for <") {
		t.Fatalf("received field: %q", bodies[0])
	}
}

func TestUntrustedRelayDenied(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *Options) { o.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<app@sender.test>", "250 ")
	c.cmd("RCPT TO:<x@example.test>", "554 5.7.1 Relay access denied")
	c.cmd("DATA", "502 ")
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

func TestSizeLimits(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<a@b.test> SIZE=5000", "552 5.3.4")
	c.cmd("MAIL FROM:<a@b.test> SIZE=4000", "250 ")
	c.cmd("RCPT TO:<x@example.test>", "250 ")
	if got := c.send(strings.Repeat("0123456789abcdef\r\n", 1000) + ".\r\n"); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("body too big: %q", got)
	}
	// Bare LFs double on normalisation: 3000 raw bytes become 6000.
	c.envelope("a@b.test", "x@example.test")
	got := c.send(strings.Repeat("\n", 3000) + "\r\n.\r\n")
	if !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("normalised too big: %q", got)
	}
	c.cmd("NOOP", "250 ")
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

func TestTooManyRecipients(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<a@b.test>", "250 ")
	var b strings.Builder
	for i := range 1001 {
		b.WriteString("RCPT TO:<r" + strings.Repeat("x", i%7) + "." + strconv.Itoa(i) + "@example.test>\r\n")
	}
	c.write(b.String()) // pipelined
	for i := range 1000 {
		if got := c.read(); !strings.HasPrefix(got, "250 ") {
			t.Fatalf("rcpt %d: %q", i, got)
		}
	}
	c.expectReply("452 4.5.3")
	if got := c.send("\r\n.\r\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("data: %q", got)
	}
	if msgs, _ := e.store.messages(); len(msgs[0].Recipients) != 1000 {
		t.Fatalf("recipients %d", len(msgs[0].Recipients))
	}
}

func TestBadAddresses(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	for _, from := range []string{`<"a b"@x.test>`, `<a@-x.test>`, `<a@1.2.3.4>`, `<a.@x.test>`, `<üser@x.test>`} {
		c.cmd("MAIL FROM:"+from, "501 5.1.7 Bad sender address syntax")
	}
	c.cmd("MAIL FROM:<>", "250 ")
	for _, to := range []string{
		`<"a> NOTIFY=NEVER"@x.test>`, `<a..b@x.test>`, `<a@x..test>`, `<a@[1.2.3]>`,
		"<" + strings.Repeat("l", 65) + "@x.test>", "<a@" + strings.Repeat("d.", 130) + "test>",
		`<a@x_y.test>`, `<"a\"b"@x.test>`, `<üser@x.test>`,
	} {
		c.cmd("RCPT TO:"+to, "501 5.1.3 Bad recipient address syntax")
	}
	for _, to := range []string{`<a@[192.0.2.1]>`, `<a@[IPv6:2001:db8::1]>`, `<"plain"@x.test>`, `<a+tag@x.test>`} {
		c.cmd("RCPT TO:"+to, "250 ")
	}
	c.cmd("RSET", "250 ")
	c.cmd("MAIL FROM:<üser@x.test> SMTPUTF8", "250 ")
	c.cmd("RCPT TO:<ü@bücher.test>", "250 ")
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{queue.ErrNoSpace, "452 4.3.1 Insufficient system storage"},
		{errors.New("disk on fire"), "451 4.3.0 Temporary storage failure, try again later"},
		{context.DeadlineExceeded, "451 4.3.0"},
	} {
		e := start(t, nil)
		e.store.fail = tt.err
		c := e.dial(t)
		c.envelope("a@b.test", "x@example.test")
		if got := c.send("hi\r\n.\r\n"); !strings.HasPrefix(got, tt.want) {
			t.Fatalf("%v: reply %q", tt.err, got)
		}
		if len(e.onQueued()) != 0 {
			t.Fatal("OnQueued called after failure")
		}
	}
}

func TestSuppressedRecorded(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.store.suppressed["gone@example.test"] = true
	c := e.dial(t)
	c.envelope("a@b.test", "Gone@Example.test", "ok@example.test")
	c.send("hi\r\n.\r\n")
	c.envelope("a@b.test", "gone@example.test") // all suppressed: still accepted
	if got := c.send("hi\r\n.\r\n"); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as Q0002") {
		t.Fatalf("reply %q", got)
	}
	msgs, _ := e.store.messages()
	r := msgs[0].Recipients
	if r[0].State != queue.Rejected || !r[0].NextAttempt.IsZero() || r[1].State != queue.Queued {
		t.Fatalf("recipients %+v", r)
	}
	if msgs[1].Recipients[0].State != queue.Rejected {
		t.Fatalf("all-suppressed %+v", msgs[1].Recipients)
	}
}

func TestRefuseSuppressed(t *testing.T) {
	t.Parallel()
	e := start(t, func(o *Options) { o.RefuseSuppressed = true })
	e.store.suppressed["gone@example.test"] = true
	c := e.dial(t)
	c.envelope("a@b.test")
	c.cmd("RCPT TO:<gone@example.test>", "550 5.7.1")
	c.cmd("RCPT TO:<ok@example.test>", "250 ")
	e.store.mu.Lock()
	e.store.lookupErr = errors.New("pebble closed")
	e.store.mu.Unlock()
	if got := c.cmd("RCPT TO:<new@example.test>", "451 4.3.0"); strings.Contains(got, "pebble") {
		t.Fatalf("leaked: %q", got)
	}
}

func TestDuplicateRecipient(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test", "X@EXAMPLE.test")
	c.send("hi\r\n.\r\n")
	if msgs, _ := e.store.messages(); len(msgs[0].Recipients) != 1 {
		t.Fatalf("recipients %+v", msgs[0].Recipients)
	}
}

func TestTooManyReceived(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	if got := c.send(strings.Repeat("Received: x\r\n", 31) + "\r\n.\r\n"); !strings.HasPrefix(got, "554 5.4.6") {
		t.Fatalf("31: %q", got)
	}
	c.envelope("a@b.test", "x@example.test")
	if got := c.send(strings.Repeat("received : x\r\n", 30) + "\r\nReceived: in body\r\n.\r\n"); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("30: %q", got)
	}
}

func TestStartErrorNamesAddress(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err := New(Options{Hostname: "mx.test", Listen: []string{"127.0.0.1:0", busy.Addr().String()}, Store: &fakeStore{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("got %v", err)
	}
	if _, err := New(Options{Hostname: "mx.test"}); err == nil {
		t.Fatal("New without Store/Listen succeeded")
	}
}

func TestShutdownClosesIdleSessions(t *testing.T) {
	e := start(t, nil)
	c := e.dial(t)
	c.cmd("EHLO client.test", "250 ")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got := c.untilEOF(); len(got) != 1 || !strings.HasPrefix(got[0], "421 4.") {
		t.Fatalf("after Shutdown: %q, want one 421 then the close", got)
	}
}
