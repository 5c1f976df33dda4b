package delivery

import (
	"fmt"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
)

func TestIPLiteralRecipient(t *testing.T) {
	e, _ := oneMX(t)
	lit := smtptest.New(t, fmt.Sprintf("127.0.0.3:%d", e.port))
	rs := e.deliverer().Deliver(ctxT(t), job("[127.0.0.3]", "u@[127.0.0.3]"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if len(lit.Messages()) != 1 {
		t.Fatal("the literal address got nothing")
	}
	rs = e.deliverer().Deliver(ctxT(t), job("[IPv6:127.0.0.3]", "u@[IPv6:127.0.0.3]"))
	wantAll(t, rs, 1, 0, "5.1.2", StageResolve)
}

// TestMXPointingAtMyselfIsALoop: the best MX resolves to our own listener:
// 5.4.6 at once, no connection anywhere.
func TestMXPointingAtMyselfIsALoop(t *testing.T) {
	e, mx := oneMX(t)
	d := e.deliverer()
	d.self = newSelfSet([]string{fmt.Sprintf("0.0.0.0:%d", e.port)})
	rs := d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "5.4.6", StageResolve)
	if mx.Conns() != 0 {
		t.Fatalf("%d connections made for a loop", mx.Conns())
	}
	d.self = newSelfSet(nil)
	d.opts.Hostname = "MX.x.test"
	rs = d.Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "5.4.6", StageResolve)
}
