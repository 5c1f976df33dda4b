package delivery

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// oneMX points x.test at 127.0.0.2 and starts a server there with opts.
func oneMX(t *testing.T, opts ...smtptest.Option) (*env, *smtptest.Server) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	return e, e.smtp("127.0.0.2", opts...)
}

func TestPerRecipientResults(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithRcpt(func(to string) error {
		switch to {
		case "nobody@x.test":
			return smtptest.Reply(550, "5.1.1", "no such user")
		case "full@x.test":
			return smtptest.Reply(451, "4.2.2", "mailbox full, later")
		}
		return nil
	}), smtptest.WithData(func(string, []string, []byte) error {
		return smtptest.Reply(250, "2.6.0", "queued as ABC123")
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "nobody@x.test", "full@x.test", "ok@x.test"))
	if len(rs) != 3 {
		t.Fatalf("%d results", len(rs))
	}
	want(t, rs[0], 550, "5.1.1", StageRcpt)
	want(t, rs[1], 451, "4.2.2", StageRcpt)
	want(t, rs[2], 250, "2.6.0", StageData)
	if rs[0].Text != "no such user" || rs[2].Text != "queued as ABC123" {
		t.Errorf("texts %q, %q", rs[0].Text, rs[2].Text)
	}
	msgs := mx.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "ok@x.test" {
		t.Errorf("server got %+v; want one message to ok@x.test only", msgs)
	}
}

func TestNoAcceptedRecipientNoData(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(550, "5.1.1", "no such user")
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 550, "5.1.1", StageRcpt)
	if len(mx.Messages()) != 0 {
		t.Error("DATA was sent")
	}
}

func TestGreylistedRecipient(t *testing.T) {
	e, mx := oneMX(t, smtptest.Greylist())
	d := e.deliverer()
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 451, "4.7.1", StageRcpt)
	rs = d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(mx.Messages()) != 1 {
		t.Errorf("%d messages, want 1", len(mx.Messages()))
	}
}

func TestMailRejected(t *testing.T) {
	e, _ := oneMX(t, smtptest.WithMail(func(string) error {
		return smtptest.Reply(550, "5.7.1", "sender blocked")
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 550, "5.7.1", StageMail)
}

func TestMidSession421(t *testing.T) {
	n := 0
	e, mx := oneMX(t, smtptest.WithRcpt(func(to string) error {
		n++
		if to == "b@x.test" {
			return smtptest.Reply(421, "4.7.0", "too many, closing")
		}
		if to == "bad@x.test" {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "bad@x.test", "a@x.test", "b@x.test", "c@x.test"))
	want(t, rs[0], 550, "5.1.1", StageRcpt)
	for _, r := range rs[1:] {
		want(t, r, 421, "4.7.0", StageRcpt)
	}
	if n != 3 || len(mx.Messages()) != 0 {
		t.Errorf("%d RCPTs sent (want 3), %d messages (want 0)", n, len(mx.Messages()))
	}
}

func TestConnectionDroppedAfterFinalDot(t *testing.T) {
	e, _ := oneMX(t, smtptest.WithData(func(string, []string, []byte) error {
		return smtptest.ErrDrop
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 0, "4.4.2", StageData)
	if rs[0].Err == nil || !strings.Contains(rs[0].Text, "may have been delivered") {
		t.Errorf("got %+v", rs[0])
	}
}

func TestFinalDotTimeout(t *testing.T) {
	release := make(chan struct{})
	e, _ := oneMX(t, smtptest.WithData(func(string, []string, []byte) error {
		<-release
		return nil
	}))
	t.Cleanup(func() { close(release) })
	d := e.deliverer(func(o *Options) { o.DataTimeout = 300 * time.Millisecond })
	start := time.Now()
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.2", StageData)
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v with a 300ms data timeout", time.Since(start))
	}
}

func TestCancelClosesConnection(t *testing.T) {
	release := make(chan struct{})
	atRcpt := make(chan struct{}, 1)
	e, _ := oneMX(t, smtptest.WithRcpt(func(string) error {
		atRcpt <- struct{}{}
		<-release
		return nil
	}))
	t.Cleanup(func() { close(release) })
	// Cancel once the server holds the RCPT reply, not on a timer, so a
	// loaded machine cannot move the cancellation to another stage.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-atRcpt; cancel() }()
	done := make(chan []Result, 1)
	go func() { done <- e.deliverer().Deliver(ctx, job("x.test", "a@x.test")) }()
	select {
	case rs := <-done:
		// MAIL and RCPT are pipelined: the client may still be reading the
		// MAIL reply when the server sits on RCPT.
		if len(rs) != 1 || rs[0].Code != 0 || rs[0].Enhanced != "4.4.2" ||
			(rs[0].Stage != StageRcpt && rs[0].Stage != StageMail) || !errors.Is(rs[0].Err, context.Canceled) {
			t.Errorf("got %+v", rs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Deliver did not return after its context was cancelled while the server held RCPT")
	}
}

func TestBodyNormalised(t *testing.T) {
	e, mx := oneMX(t)
	j := job("x.test", "a@x.test")
	j.Body = []byte("Subject: x\n\nbare LF\nbare CR\rCRLF\r\n.leading dot\r\nno final newline")
	rs := e.deliverer().Deliver(ctxT(t), j)
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	got := mx.Messages()[0].Data
	want := "Subject: x\r\n\r\nbare LF\r\nbare CR\r\nCRLF\r\n.leading dot\r\nno final newline\r\n"
	if string(got) != want {
		t.Errorf("server got %q\nwant %q", got, want)
	}
}

// TestLongLinesAreBroken: a 2500-octet line (unwrapped HTML) is delivered,
// broken into lines of at most 998 octets with CRLF SPACE, nothing lost.
func TestLongLinesAreBroken(t *testing.T) {
	e, mx := oneMX(t)
	j := job("x.test", "a@x.test")
	long := bytes.Repeat([]byte("<b>x</b>"), 2500/8)
	j.Body = append([]byte("Subject: x\r\n\r\n"), long...)
	rs := e.deliverer().Deliver(ctxT(t), j)
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	got := mx.Messages()[0].Data
	for _, l := range bytes.Split(got, []byte("\r\n")) {
		if len(l) > 998 {
			t.Fatalf("a %d-octet line reached the server", len(l))
		}
	}
	if rejoined := bytes.ReplaceAll(got, []byte("\r\n "), nil); !bytes.Contains(rejoined, long) {
		t.Fatal("content changed beyond the inserted line breaks")
	}
}

func TestBadAddressesNotSent(t *testing.T) {
	e, mx := oneMX(t)
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test> NOTIFY=NEVER", "ok@x.test"))
	want(t, rs[0], 0, "5.1.3", StageRcpt)
	want(t, rs[1], 250, "2.0.0", StageData)
	if m := mx.Messages(); len(m) != 1 || len(m[0].To) != 1 {
		t.Errorf("server got %+v", m)
	}
}

func TestAttemptLogLine(t *testing.T) {
	e, _ := oneMX(t)
	e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	lines := e.logs.FilterMessage("delivery attempt").All()
	if len(lines) != 1 {
		t.Fatalf("%d attempt lines, want 1", len(lines))
	}
	f := lines[0].ContextMap()
	if f["domain"] != "x.test" || f["mx"] != "mx.x.test" || f["ip"] != "127.0.0.2" ||
		f["stage"] != "data" || f["code"] != int64(250) || f["enhanced"] != "2.0.0" {
		t.Errorf("log fields %v", f)
	}
}

func TestHelloRejectedFailsOver(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2", "127.0.0.3")
	// Drop at MAIL on the first address: nothing committed, try the next.
	first := e.smtp("127.0.0.2", smtptest.WithMail(func(string) error { return smtptest.ErrDrop }))
	second := e.smtp("127.0.0.3")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if first.Conns() != 1 || len(second.Messages()) != 1 || rs[0].IP != "127.0.0.3" {
		t.Errorf("first %d conns, second %d messages, via %s", first.Conns(), len(second.Messages()), rs[0].IP)
	}
}

func TestSMTPUTF8Recipient(t *testing.T) {
	e, mx := oneMX(t)
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "jörg@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if m := mx.Messages(); len(m) != 1 || m[0].To[0] != "jörg@x.test" {
		t.Errorf("server got %+v", m)
	}
}
