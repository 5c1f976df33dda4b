package verify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/postfixtest"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// The probe against real Postfix: one that accepts every local address at
// RCPT (no local_recipient_maps: a catch-all), one that knows its users
// (550 5.1.1 "User unknown in local recipient table"). Nothing is queued
// in either.
func TestProbeAgainstPostfix(t *testing.T) {
	postfixtest.Require(t)
	w := newWorld(t)
	port := smtptest.FreePort(t, "127.0.0.2", "127.0.0.3")
	open := postfixtest.Start(t, postfixtest.Options{Listen: fmt.Sprintf("127.0.0.2:%d", port),
		Relay: "127.0.0.1:9", LocalDomains: []string{"open.test"}})
	strict := postfixtest.Start(t, postfixtest.Options{Listen: fmt.Sprintf("127.0.0.3:%d", port),
		Relay: "127.0.0.1:9", LocalDomains: []string{"strict.test"}, LocalRecipients: []string{"ann"}})
	w.dns.MX("open.test", 10, "mx.open.test")
	w.dns.A("mx.open.test", "127.0.0.2")
	w.dns.MX("strict.test", 10, "mx.strict.test")
	w.dns.A("mx.strict.test", "127.0.0.3")
	res := delivery.NewResolver([]string{w.dns.Addr()}, delivery.WithQueryTimeout(2*time.Second))
	d := delivery.New(delivery.Options{Hostname: "out.mtaq.test", Port: port, Resolver: res,
		ConnectTimeout: 5 * time.Second, GreetingTimeout: 10 * time.Second, CommandTimeout: 10 * time.Second})
	t.Cleanup(d.Close)
	v := w.verifier(func(o *Options) {
		o.Resolver = res
		o.Probe = &ProbeOptions{Enabled: true, Prober: d, Skip: []string{}}
	})
	rs := w.verify(v, "x@open.test", "ann@strict.test", "zed@strict.test")
	expect(t, rs[0], Risky, CodeCatchAll)
	expect(t, rs[1], Valid, CodeMailboxExists)
	expect(t, rs[2], Invalid, CodeMailboxRejected)
	if r := reason(rs[2], CodeMailboxRejected); r == nil || r.Reply == nil || r.Reply.Code != 550 ||
		r.Reply.Enhanced != "5.1.1" || !strings.Contains(r.Reply.Text, "User unknown") {
		t.Errorf("Postfix's refusal: %+v", r)
	}
	for _, in := range []*postfixtest.Instance{open, strict} {
		log := in.Log()
		if !strings.Contains(log, "connect from") {
			t.Errorf("no connection in Postfix's log:\n%s", log)
		}
		if strings.Contains(log, "status=") || strings.Contains(log, "message-id=") {
			t.Errorf("the probe queued mail at Postfix:\n%s", log)
		}
	}
}
