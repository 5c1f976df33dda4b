package delivery

import (
	"strings"
	"sync"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// A probe asks RCPT for each address, never sends DATA, and does not keep
// the connection: the next probe opens its own.
func TestProbeStopsAfterRcpt(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		name := "pipelining"
		if !pipelining {
			name = "lockstep"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.dns.MX("probe.test", 10, "mx.probe.test")
			e.dns.A("mx.probe.test", mxIPs[0])
			var mu sync.Mutex
			var rcpts, froms []string
			datas := 0
			opts := []smtptest.Option{
				smtptest.WithMail(func(from string) error { mu.Lock(); froms = append(froms, from); mu.Unlock(); return nil }),
				smtptest.WithRcpt(func(to string) error {
					mu.Lock()
					rcpts = append(rcpts, to)
					mu.Unlock()
					if strings.HasPrefix(to, "nobody@") {
						return smtptest.Reply(550, "5.1.1", "no such user")
					}
					return nil
				}),
				smtptest.WithData(func(string, []string, []byte) error { mu.Lock(); datas++; mu.Unlock(); return nil }),
			}
			if !pipelining {
				opts = append(opts, smtptest.WithoutExtension("PIPELINING"))
			}
			srv := e.smtp(mxIPs[0], opts...)
			d := e.deliverer()
			rs := d.Probe(ctxT(t), "probe.test", []string{"nobody@probe.test", "ann@probe.test"})
			if len(rs) != 2 {
				t.Fatalf("%d results", len(rs))
			}
			want(t, rs[0], 550, "5.1.1", StageRcpt)
			want(t, rs[1], 250, "2.0.0", StageRcpt)
			if rs[1].Rcpt != "ann@probe.test" || rs[1].MX != "mx.probe.test" {
				t.Errorf("result %+v", rs[1])
			}
			d.Probe(ctxT(t), "probe.test", []string{"bob@probe.test"})
			mu.Lock()
			defer mu.Unlock()
			if datas != 0 || len(srv.Messages()) != 0 {
				t.Errorf("a probe sent DATA (%d) or a message (%d)", datas, len(srv.Messages()))
			}
			if len(froms) != 2 || froms[0] != "" {
				t.Errorf("MAIL FROM %q, want the null sender twice", froms)
			}
			if strings.Join(rcpts, ",") != "nobody@probe.test,ann@probe.test,bob@probe.test" {
				t.Errorf("RCPTs %q", rcpts)
			}
			if srv.Conns() != 2 {
				t.Errorf("%d connections, want one per probe (never pooled)", srv.Conns())
			}
		})
	}
}

// A relay would answer for the domain: no probe goes through one.
func TestProbeRefusedThroughRelay(t *testing.T) {
	e := newEnv(t)
	d := e.deliverer(func(o *Options) { o.Relay = &Relay{Addr: "127.0.0.9:25"} })
	rs := d.Probe(ctxT(t), "probe.test", []string{"ann@probe.test"})
	want(t, rs[0], 0, "4.3.5", StageRcpt)
}
