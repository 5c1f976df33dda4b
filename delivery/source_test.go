package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
)

// Jobs with a Source leave from that address and announce their EHLO;
// an idle connection from one source never carries another's mail.
func TestSourceAddressAndEHLO(t *testing.T) {
	e := newEnv(t)
	srv := e.smtp("127.0.0.2")
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	d := e.deliverer()
	for _, src := range []struct{ ip, ehlo string }{
		{"127.0.0.20", "a.out.test"}, {"127.0.0.21", "b.out.test"}, {"127.0.0.20", "a.out.test"}, {"", ""},
	} {
		j := job("x.test", "r@x.test")
		j.Source, j.EHLO = net.ParseIP(src.ip), src.ehlo
		want(t, d.Deliver(ctxT(t), j)[0], 250, "2.0.0", StageData)
	}
	got := srv.Messages()
	if len(got) != 4 {
		t.Fatalf("%d messages", len(got))
	}
	for i, w := range []struct{ peer, ehlo string }{
		{"127.0.0.20:", "a.out.test"}, {"127.0.0.21:", "b.out.test"}, {"127.0.0.20:", "a.out.test"}, {"127.0.0.1:", "out.mtaq.test"},
	} {
		if !strings.HasPrefix(got[i].Peer, w.peer) || got[i].Helo != w.ehlo {
			t.Errorf("message %d from %s as %q, want %s as %q", i, got[i].Peer, got[i].Helo, w.peer, w.ehlo)
		}
	}
	if got[2].Conn != got[0].Conn || got[1].Conn == got[0].Conn || got[3].Conn == got[0].Conn {
		t.Errorf("connections %d %d %d %d: reuse only within one source", got[0].Conn, got[1].Conn, got[2].Conn, got[3].Conn)
	}
}

type plainDialer struct{}

func (plainDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// A dialer that cannot bind fails the attempt instead of leaving from
// another address.
func TestSourceNeedsABindingDialer(t *testing.T) {
	e := newEnv(t)
	srv := e.smtp("127.0.0.2")
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	d := e.deliverer(func(o *Options) { o.Dialer = plainDialer{} })
	j := job("x.test", "r@x.test")
	j.Source = net.ParseIP("127.0.0.20")
	r := d.Deliver(ctxT(t), j)[0]
	want(t, r, 0, "4.4.1", StageDial)
	if !strings.Contains(r.Text, "cannot bind source address 127.0.0.20") || len(srv.Messages()) != 0 {
		t.Errorf("%q, %d messages", r.Text, len(srv.Messages()))
	}
}

// An exchanger address of the other family than the source is skipped,
// not dialled: the next address takes the mail, and with none left the
// failure is soft.
func TestSourceSkipsOtherFamily(t *testing.T) {
	e := newEnv(t)
	srv := e.smtp("127.0.0.2")
	e.dns.MX("x.test", 10, "mx6.x.test")
	e.dns.MX("x.test", 20, "mx.x.test")
	e.dns.Add("mx6.x.test. 300 IN AAAA 2001:db8::25")
	e.dns.A("mx.x.test", "127.0.0.2")
	e.dns.MX("v6.test", 10, "mx6.x.test")
	d := e.deliverer()
	j := job("x.test", "r@x.test")
	j.Source = net.ParseIP("127.0.0.20")
	want(t, d.Deliver(ctxT(t), j)[0], 250, "2.0.0", StageData)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
	j = job("v6.test", "r@v6.test")
	j.Source = net.ParseIP("127.0.0.20")
	r := d.Deliver(ctxT(t), j)[0]
	want(t, r, 0, "4.4.1", StageDial)
	if !strings.Contains(r.Text, "other IP family") {
		t.Errorf("text %q", r.Text)
	}
}

// A source address the host does not have fails the attempt softly and
// does not open the exchanger's breaker for everyone else.
func TestSourceNotLocal(t *testing.T) {
	e := newEnv(t)
	srv := e.smtp("127.0.0.2")
	e.dns.MX("x.test", 10, "mx.x.test")
	e.dns.A("mx.x.test", "127.0.0.2")
	d := e.deliverer()
	for range 5 { // more than DownAfter
		j := job("x.test", "r@x.test")
		j.Source = net.ParseIP("192.0.2.99") // TEST-NET-1: not on this host
		r := d.Deliver(ctxT(t), j)[0]
		want(t, r, 0, "4.4.1", StageDial)
	}
	want(t, d.Deliver(ctxT(t), job("x.test", "r@x.test"))[0], 250, "2.0.0", StageData)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}
