package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/queue"
)

// TestDANEConfigured: with [delivery] dane = true and a resolver that
// validates (AD), a TLSA record that matches the MX's key lets mail
// through, marked dane in the timeline; one that does not defers it with
// a soft 4.7.5 saying so, and nothing reaches that MX.
func TestDANEConfigured(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) { c.Delivery.DANE = true })
	good := smtptest.SelfSigned(t, "mx.good.test")
	bad := smtptest.SelfSigned(t, "mx.bad.test")
	other := smtptest.SelfSigned(t, "mx.bad.test")
	goodMX := n.mx("good.test", 10, "mx.good.test", "127.0.0.2", smtptest.WithTLS(good.ServerConfig()))
	badMX := n.mx("bad.test", 10, "mx.bad.test", "127.0.0.3", smtptest.WithTLS(bad.ServerConfig()))
	for host, c := range map[string]smtptest.Cert{"mx.good.test": good, "mx.bad.test": other} {
		sum := sha256.Sum256(c.X509.RawSubjectPublicKeyInfo)
		name := fmt.Sprintf("_%d._tcp.%s", n.port, host)
		n.dns.Add(name + ". 300 IN TLSA 3 1 1 " + hex.EncodeToString(sum[:]))
		n.dns.Secure(name, true)
	}
	n.dns.Secure("good.test", true)
	n.dns.Secure("bad.test", true)

	ok := n.send("app@sender.test", "a@good.test")
	n.wait(ok, 0, queue.Delivered)
	if a := n.timeline(ok, 0)[0]; a.TLSPolicy != "dane" || !a.TLS || len(goodMX.Messages()) != 1 {
		t.Errorf("timeline %+v, %d messages", a, len(goodMX.Messages()))
	}
	no := n.send("app@sender.test", "b@bad.test")
	r := n.waitAttempts(no, 0, 1)
	a := n.timeline(no, 0)[0]
	if r.State != queue.Deferred || a.Reply.Enhanced != "4.7.5" || a.TLSPolicy != "dane" ||
		!strings.Contains(a.Reply.Text, "no TLSA record") {
		t.Errorf("state %s, timeline %+v", r.State, a)
	}
	if len(badMX.Messages()) != 0 {
		t.Error("delivered to an MX whose certificate its TLSA record does not name")
	}
}
