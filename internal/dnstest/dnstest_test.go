package dnstest

import (
	"testing"

	"github.com/miekg/dns"
)

func ask(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := (&dns.Client{Net: network}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAnswers(t *testing.T) {
	s := New(t)
	s.MX("X.test", 10, "mx.x.test")
	s.A("mx.x.test", "192.0.2.1")
	s.ServFail("sf.test")
	if r := ask(t, s, "udp", "x.test", dns.TypeMX); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 ||
		r.Question[0].Name != "x.test." {
		t.Errorf("MX: %v", r)
	}
	if r := ask(t, s, "tcp", "x.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("NODATA over TCP: %v", r)
	}
	if r := ask(t, s, "udp", "nope.test", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: %v", r)
	}
	if r := ask(t, s, "udp", "sf.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("SERVFAIL: %v", r)
	}
	if n := s.Queries("x.test", dns.TypeMX); n != 1 {
		t.Errorf("queries %d", n)
	}
}

func TestTruncateOnlyOverUDP(t *testing.T) {
	s := New(t)
	s.A("big.test", "192.0.2.1")
	s.Truncate("big.test", true)
	if r := ask(t, s, "udp", "big.test", dns.TypeA); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: %v", r)
	}
	if r := ask(t, s, "tcp", "big.test", dns.TypeA); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP: %v", r)
	}
}
