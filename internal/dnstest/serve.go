package dnstest

import (
	"net"
	"time"

	"github.com/miekg/dns"
)

// maxChase bounds how far ChaseCNAME follows a chain (loops in test data).
const maxChase = 16

// serve answers one query.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	_, overUDP := w.RemoteAddr().(*net.UDPAddr)
	delay := s.answer(m, q, overUDP)
	if delay > 0 {
		time.Sleep(delay)
	}
	_ = w.WriteMsg(m)
}

// answer fills m for question q and returns how long to wait before sending.
func (s *Server) answer(m *dns.Msg, q dns.Question, overUDP bool) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fqdn(q.Name)
	s.queries[qkey{name, q.Qtype}]++
	n := s.names[name]
	switch {
	case n == nil:
		m.Rcode = dns.RcodeNameError
		return 0
	case n.rcode != 0:
		m.Rcode = n.rcode
		return n.delay
	case n.typeCode[q.Qtype] != 0:
		m.Rcode = n.typeCode[q.Qtype]
		return n.delay
	case n.truncate && overUDP:
		m.Truncated = true
		return n.delay
	}
	m.Answer = s.records(name, q.Qtype)
	return n.delay
}

// records returns the answer section for (name, qtype): the records of that
// type, or the CNAME of name followed, when chasing, by the target's answer.
// Callers hold s.mu.
func (s *Server) records(name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for range maxChase {
		n := s.names[name]
		if n == nil || n.rcode != 0 {
			return out
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range n.rrs {
			if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
				out = append(out, dns.Copy(rr))
				found = true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil || qtype == dns.TypeCNAME {
			return out
		}
		out = append(out, dns.Copy(cname))
		if !s.chase {
			return out
		}
		name = cname.Target
	}
	return out
}
