package delivery

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/mtaq/mtaq/internal/smtptest"
)

func TestASCIIDomain(t *testing.T) {
	for in, want := range map[string]string{
		"bücher.test":        "xn--bcher-kva.test",
		"BÜCHER.Test":        "xn--bcher-kva.test",
		"xn--bcher-kva.test": "xn--bcher-kva.test",
		"Example.TEST":       "example.test",
		"ab--c.test":         "ab--c.test", // ASCII is only lower-cased
		"例え.jp":              "xn--r8jz45g.jp",
	} {
		if got, err := ASCIIDomain(in); err != nil || got != want {
			t.Errorf("ASCIIDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := ASCIIDomain("a\u2028b.test"); err == nil {
		t.Errorf("a line separator converted to %q", got)
	}
}

// TestIDNRecipientUsesALabel: issue 22, defect 8. A recipient at bücher.test
// is looked up as xn--bcher-kva.test (the raw UTF-8 name was sent to DNS and
// never resolved), and its ASCII local part goes without SMTPUTF8 to a
// server that lacks it, the domain an A-label in RCPT.
func TestIDNRecipientUsesALabel(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("xn--bcher-kva.test", 10, "mx.xn--bcher-kva.test")
	e.dns.A("mx.xn--bcher-kva.test", "127.0.0.2")
	mx := e.smtp("127.0.0.2", smtptest.WithoutExtension("SMTPUTF8"))
	rs := e.deliverer().Deliver(ctxT(t), job("bücher.test", "u@bücher.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if rs[0].Rcpt != "u@bücher.test" || rs[0].MX != "mx.xn--bcher-kva.test" {
		t.Errorf("result for %q via %q", rs[0].Rcpt, rs[0].MX)
	}
	if n := e.dns.Queries("xn--bcher-kva.test", dns.TypeMX); n != 1 {
		t.Errorf("DNS saw %d MX queries for xn--bcher-kva.test, want 1", n)
	}
	m := mx.Messages()
	if len(m) != 1 || m[0].To[0] != "u@xn--bcher-kva.test" || m[0].UTF8 {
		t.Fatalf("server got %+v", m)
	}
}

// TestUTF8RecipientFailsAlone: issue 22, defect 8. At a server without
// SMTPUTF8 one recipient whose local part is not ASCII fails 5.6.7; its five
// ASCII co-recipients are delivered (they all failed 5.6.7 before).
func TestUTF8RecipientFailsAlone(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithoutExtension("SMTPUTF8"))
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "a@x.test", "b@x.test", "jörg@x.test", "c@x.test", "d@x.test", "e@x.test"))
	delivered := 0
	for i, r := range rs {
		if i == 2 {
			want(t, r, 0, "5.6.7", StageRcpt)
			continue
		}
		want(t, r, 250, "2.0.0", StageData)
		delivered++
	}
	m := mx.Messages()
	if len(m) != 1 || len(m[0].To) != 5 || m[0].UTF8 {
		t.Fatalf("server got %+v", m)
	}
	t.Logf("6 recipients, one needing SMTPUTF8, at a server without it: %d delivered, 1 failed %s", delivered, rs[2].Enhanced)
}

// TestUTF8SenderFailsTransaction: a sender needing SMTPUTF8 is the whole
// transaction's matter: every recipient fails 5.6.7, nothing is sent.
func TestUTF8SenderFailsTransaction(t *testing.T) {
	e, mx := oneMX(t, smtptest.WithoutExtension("SMTPUTF8"))
	j := job("x.test", "a@x.test", "b@x.test")
	j.Sender = "jörg@sender.test"
	wantAll(t, e.deliverer().Deliver(ctxT(t), j), 2, 0, "5.6.7", StageMail)
	if mx.Conns() != 1 || len(mx.Messages()) != 0 {
		t.Errorf("%d connections, %d messages", mx.Conns(), len(mx.Messages()))
	}
}

// TestUTF8OnlyRecipientsFailOver: when every recipient needs SMTPUTF8 and
// the best exchanger lacks it, the next one that offers it is tried.
func TestUTF8OnlyRecipientsFailOver(t *testing.T) {
	e := newEnv(t)
	e.dns.MX("x.test", 10, "old.x.test")
	e.dns.MX("x.test", 20, "new.x.test")
	e.dns.A("old.x.test", "127.0.0.2")
	e.dns.A("new.x.test", "127.0.0.3")
	old := e.smtp("127.0.0.2", smtptest.WithoutExtension("SMTPUTF8"))
	next := e.smtp("127.0.0.3")
	rs := e.deliverer().Deliver(ctxT(t), job("x.test", "jörg@x.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if old.Conns() != 1 || len(next.Messages()) != 1 || !next.Messages()[0].UTF8 {
		t.Errorf("old %d conns, new got %+v", old.Conns(), next.Messages())
	}
}
