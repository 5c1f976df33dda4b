package delivery

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// fakeResponder answers the first query it gets with the packets built by
// answers, in order, and reports the query it saw.
func fakeResponder(t *testing.T, answers func(req *dns.Msg) []*dns.Msg) (string, <-chan *dns.Msg) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	seen := make(chan *dns.Msg, 1)
	go func() {
		buf := make([]byte, 4096)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		req := new(dns.Msg)
		if req.Unpack(buf[:n]) != nil {
			return
		}
		seen <- req
		for _, m := range answers(req) {
			p, _ := m.Pack()
			_, _ = pc.WriteTo(p, from)
		}
	}()
	return pc.LocalAddr().String(), seen
}

func mxAnswer(req *dns.Msg, owner, host string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Answer = []dns.RR{&dns.MX{
		Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
		Preference: 10, Mx: host,
	}}
	return m
}

func TestMismatchedAnswersIgnored(t *testing.T) {
	addr, seen := fakeResponder(t, func(req *dns.Msg) []*dns.Msg {
		wrongQ := mxAnswer(req, "evil.test.", "mx.evil.test.")
		wrongQ.Question[0].Name = "evil.test."
		wrongType := mxAnswer(req, "x.test.", "mx.type.test.")
		wrongType.Question[0].Qtype = dns.TypeA
		wrongID := mxAnswer(req, "x.test.", "mx.id.test.")
		wrongID.Id++
		right := mxAnswer(req, "x.test.", "mx.x.test.")
		return []*dns.Msg{wrongQ, wrongType, wrongID, right}
	})
	mxs, err := NewResolver([]string{addr}).LookupMX(ctxT(t), "x.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.x.test" {
		t.Fatalf("got %v, %v; want only the matching answer's MX", mxs, err)
	}
	req := <-seen
	opt := req.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 {
		t.Errorf("query EDNS0: %v, want UDP size 1232", opt)
	}
	if q := req.Question[0]; q.Name != "x.test." || q.Qtype != dns.TypeMX || q.Qclass != dns.ClassINET {
		t.Errorf("question %v", q)
	}
}

func TestAnswerCaseInsensitive(t *testing.T) {
	addr, _ := fakeResponder(t, func(req *dns.Msg) []*dns.Msg {
		m := mxAnswer(req, "X.Test.", "MX.X.test.")
		m.Question[0].Name = "X.TEST."
		return []*dns.Msg{m}
	})
	mxs, err := NewResolver([]string{addr}).LookupMX(ctxT(t), "x.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.x.test" {
		t.Fatalf("got %v, %v", mxs, err)
	}
}
