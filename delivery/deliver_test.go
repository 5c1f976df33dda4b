package delivery

import (
	"bytes"
	"errors"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mtaq/mtaq/internal/smtptest"
)

func TestDeliverPlain(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx1.x.test")
	e.dns.A("mx1.x.test", "127.0.0.2")
	mx := e.smtp("127.0.0.2")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 250, "2.0.0", StageData)
	for i, r := range rs {
		if r.Rcpt != []string{"a@x.test", "b@x.test"}[i] || r.MX != "mx1.x.test" || r.IP != "127.0.0.2" ||
			r.TLS || r.Duration <= 0 || r.Err != nil {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	msgs := mx.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1 transaction", len(msgs))
	}
	m := msgs[0]
	if m.From != "app@sender.test" || len(m.To) != 2 || m.Helo != "out.mtaq.test" ||
		!bytes.Equal(m.Data, []byte("Subject: hi\r\n\r\nhello\r\n")) {
		t.Errorf("received %+v %q", m, m.Data)
	}
}

func TestFailoverPastGreeting421AndClosedPort(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "busy.x.test")
	e.dns.MX("x.test", 20, "down.x.test")
	e.dns.MX("x.test", 30, "ok.x.test")
	e.dns.A("busy.x.test", "127.0.0.2")
	e.dns.A("down.x.test", "127.0.0.3") // nothing listens there
	e.dns.A("ok.x.test", "127.0.0.4")
	busy := e.smtp("127.0.0.2", smtptest.WithGreeting(func(int) *smtp.SMTPError {
		return smtptest.Reply(421, "4.7.0", "try later")
	}))
	ok := e.smtp("127.0.0.4")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].MX != "ok.x.test" || rs[0].IP != "127.0.0.4" {
		t.Errorf("delivered via %s [%s], want ok.x.test", rs[0].MX, rs[0].IP)
	}
	if busy.Conns() != 1 || len(ok.Messages()) != 1 {
		t.Errorf("busy conns %d, ok messages %d; want 1, 1", busy.Conns(), len(ok.Messages()))
	}
	if n := e.logs.FilterMessage("delivery attempt").Len(); n != 3 {
		t.Errorf("%d attempt log lines, want 3 (one per host)", n)
	}
}

func TestEveryHostFailsReportsLastReply(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "busy.x.test")
	e.dns.MX("x.test", 20, "down.x.test")
	e.dns.A("busy.x.test", "127.0.0.2")
	e.dns.A("down.x.test", "127.0.0.3")
	e.smtp("127.0.0.2", smtptest.WithGreeting(func(int) *smtp.SMTPError {
		return smtptest.Reply(421, "4.7.0", "try later")
	}))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test"))
	wantAll(t, rs, 2, 421, "4.7.0", StageGreeting)
	if rs[0].MX != "busy.x.test" || rs[0].Text != "try later" {
		t.Errorf("got %+v", rs[0])
	}
}

func TestNobodyAnswers(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "down.x.test")
	e.dns.A("down.x.test", "127.0.0.2", "127.0.0.3")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.1", StageDial)
	if rs[0].Err == nil || rs[0].IP != "127.0.0.3" {
		t.Errorf("want the last address's dial error: %+v", rs[0])
	}
}

func TestImplicitMX(t *testing.T) {
	e := newEnv(t)
	e.dns.A("x.test", "127.0.0.2")
	mx := e.smtp("127.0.0.2")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].MX != "x.test" || len(mx.Messages()) != 1 {
		t.Errorf("got %+v, %d messages", rs[0], len(mx.Messages()))
	}
}

func TestImplicitMXWithoutAddress(t *testing.T) {
	e := newEnv(t)
	e.dns.Add(`x.test. 60 IN TXT "v=spf1 -all"`)
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "5.1.2", StageResolve)
}

func TestMXHostsWithoutAddressAreTemporary(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "gone.x.test")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.4", StageResolve)
}

func TestNoConnectionForNullMXAndNXDomain(t *testing.T) {
	e := newEnv(t)
	e.dns.NullMX("null.test")
	e.dns.A("null.test", "127.0.0.2")
	mx := e.smtp("127.0.0.2")
	d := e.deliverer()
	rs := d.Deliver(ctxT(t), job("null.test", "a@null.test", "b@null.test"))
	wantAll(t, rs, 2, 0, "5.1.10", StageResolve)
	if !errors.Is(rs[0].Err, ErrNullMX) || !bytes.Contains([]byte(rs[0].Text), []byte("null MX")) {
		t.Errorf("null MX result: %+v", rs[0])
	}
	rs = d.Deliver(ctxT(t), job("gone.test", "a@gone.test"))
	wantAll(t, rs, 1, 0, "5.1.2", StageResolve)
	if rs[0].Text != "domain gone.test does not exist (NXDOMAIN)" || !errors.Is(rs[0].Err, ErrNXDomain) {
		t.Errorf("NXDOMAIN result: %+v", rs[0])
	}
	if mx.Conns() != 0 {
		t.Errorf("%d connections; want none", mx.Conns())
	}
}

func TestServFailIsTemporary(t *testing.T) {
	e := newEnv(t)
	e.dns.ServFail("x.test")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.3", StageResolve)
	if !errors.Is(rs[0].Err, ErrServFail) {
		t.Errorf("err %v", rs[0].Err)
	}
}

func TestAddressLookupServFailIsTemporary(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.ServFail("mx.x.test")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.3", StageResolve)
}
