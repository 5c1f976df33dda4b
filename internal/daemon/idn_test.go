package daemon

import (
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// submitUTF8 submits one message with MAIL ... SMTPUTF8 and returns its
// queue ID.
func submitUTF8(t *testing.T, n *internet, from string, to ...string) string {
	t.Helper()
	return smtptest.SubmitMessage(t, n.d.Addrs()[0].String(), from, &smtp.MailOptions{UTF8: true},
		"Subject: idn\r\n\r\nhello\r\n", to...)
}

// TestIDNEndToEnd: issue 22, defect 8, through the daemon. u@bücher.test,
// submitted with SMTPUTF8, is looked up as xn--bcher-kva.test and
// delivered; at a server without SMTPUTF8 one recipient with a UTF-8 local
// part fails 5.6.7 (failed, not suppressed) and its five ASCII
// co-recipients are delivered.
func TestIDNEndToEnd(t *testing.T) {
	n := newInternet(t)
	idn := n.mx("xn--bcher-kva.test", 10, "mx.xn--bcher-kva.test", "127.0.0.2", smtptest.WithoutExtension("SMTPUTF8"))
	id := submitUTF8(t, n, "app@sender.test", "u@bücher.test")
	n.wait(id, 0, queue.Delivered)
	if q := n.dns.Queries("xn--bcher-kva.test", dns.TypeMX); q == 0 {
		t.Error("the DNS server saw no MX query for xn--bcher-kva.test")
	}
	if m := idn.Messages(); len(m) != 1 || m[0].To[0] != "u@xn--bcher-kva.test" || m[0].UTF8 {
		t.Fatalf("bücher.test's exchanger got %+v", m)
	}

	mixed := n.mx("mixed.test", 10, "mx.mixed.test", "127.0.0.3", smtptest.WithoutExtension("SMTPUTF8"))
	rcpts := []string{"a@mixed.test", "b@mixed.test", "jörg@mixed.test", "c@mixed.test", "d@mixed.test", "e@mixed.test"}
	id = submitUTF8(t, n, "app@sender.test", rcpts...)
	delivered := 0
	for i := range rcpts {
		if i == 2 {
			if r := n.wait(id, i, queue.Failed); r.LastReply == nil || r.LastReply.Enhanced != "5.6.7" {
				t.Errorf("jörg: %+v", r)
			}
			continue
		}
		n.wait(id, i, queue.Delivered)
		delivered++
	}
	if m := mixed.Messages(); len(m) != 1 || len(m[0].To) != 5 {
		t.Fatalf("mixed.test's exchanger got %+v", m)
	}
	t.Logf("bücher.test delivered via its A-label MX; 6 recipients at a server without SMTPUTF8: %d delivered, 1 failed 5.6.7", delivered)
}
