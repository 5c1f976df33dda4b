// Package dnstest runs an in-process authoritative DNS server (miekg/dns) on
// loopback for tests. Zone data can be changed while the server runs. Names
// the server knows nothing about answer NXDOMAIN; known names without records
// of the asked type answer NOERROR with an empty answer (NODATA).
//
// The server is authoritative for everything and never recurses. By default a
// CNAME is answered alone, as a server that does not host the target would;
// ChaseCNAME(true) makes it append the in-zone chain, as most servers do.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a running DNS server; its methods are safe for concurrent use.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server

	mu      sync.Mutex
	names   map[string]*node
	queries map[qkey]int
	chase   bool
}

type node struct {
	rrs      []dns.RR
	rcode    int            // forced response code, 0 when the node answers normally
	typeCode map[uint16]int // forced response code for one query type
	delay    time.Duration
	truncate bool // answer UDP queries with TC set and no records
	secure   bool // set AD on answers, as a validating resolver does for signed data
}

type qkey struct {
	name  string
	qtype uint16
}

// New starts a server on 127.0.0.1, UDP and TCP on the same OS-chosen port,
// and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{names: map[string]*node{}, queries: map[qkey]int{}}
	pc, l, err := listenPair()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: l, Handler: h}
	start(t, s.udp)
	start(t, s.tcp)
	t.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	return s
}

// listenPair finds a port free for both UDP and TCP on 127.0.0.1.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, lastErr
}

func start(t testing.TB, srv *dns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("dnstest: server did not start")
	}
}

// Addr returns "127.0.0.1:PORT", the same for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// fqdn lower-cases name and adds the root dot.
func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

// get returns the node for name, creating it. Callers hold s.mu.
func (s *Server) get(name string) *node {
	n := s.names[fqdn(name)]
	if n == nil {
		n = &node{}
		s.names[fqdn(name)] = n
	}
	return n
}

// Add adds records in zone-file syntax, e.g. "x.test. 300 IN MX 10 mx.x.test.".
// It panics on a syntax error: tests pass literals.
func (s *Server) Add(records ...string) {
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			panic("dnstest: " + err.Error())
		}
		s.addRR(rr)
	}
}

func (s *Server) addRR(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rr.Header().Name = fqdn(rr.Header().Name)
	n := s.get(rr.Header().Name)
	n.rrs = append(n.rrs, rr)
}

func hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: fqdn(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
}

// MX adds an MX record for domain pointing at host.
func (s *Server) MX(domain string, pref uint16, host string) {
	s.addRR(&dns.MX{Hdr: hdr(domain, dns.TypeMX), Preference: pref, Mx: fqdn(host)})
}

// NullMX publishes "MX 0 ." for domain (RFC 7505).
func (s *Server) NullMX(domain string) {
	s.addRR(&dns.MX{Hdr: hdr(domain, dns.TypeMX), Preference: 0, Mx: "."})
}

// A adds IPv4 addresses for host.
func (s *Server) A(host string, ips ...string) {
	for _, ip := range ips {
		s.addRR(&dns.A{Hdr: hdr(host, dns.TypeA), A: net.ParseIP(ip).To4()})
	}
}

// AAAA adds IPv6 addresses for host.
func (s *Server) AAAA(host string, ips ...string) {
	for _, ip := range ips {
		s.addRR(&dns.AAAA{Hdr: hdr(host, dns.TypeAAAA), AAAA: net.ParseIP(ip)})
	}
}

// CNAME makes name an alias of target.
func (s *Server) CNAME(name, target string) {
	s.addRR(&dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: fqdn(target)})
}

// NXDomain makes name answer NXDOMAIN even if records were added for it.
func (s *Server) NXDomain(name string) { s.setRcode(name, dns.RcodeNameError) }

// ServFail makes every query for name answer SERVFAIL.
func (s *Server) ServFail(name string) { s.setRcode(name, dns.RcodeServerFailure) }

// Refused makes every query for name answer REFUSED.
func (s *Server) Refused(name string) { s.setRcode(name, dns.RcodeRefused) }

func (s *Server) setRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).rcode = rcode
}

// FailType makes queries for (name, qtype) answer rcode (e.g.
// dns.RcodeServerFailure) while other types answer normally.
func (s *Server) FailType(name string, qtype uint16, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.get(name)
	if n.typeCode == nil {
		n.typeCode = map[uint16]int{}
	}
	n.typeCode[qtype] = rcode
}

// Delay makes the server wait d before answering queries for name.
func (s *Server) Delay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).delay = d
}

// Truncate makes UDP answers for name come back with the TC bit set and no
// records, so the client has to ask again over TCP. TCP answers are whole.
func (s *Server) Truncate(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).truncate = on
}

// ChaseCNAME sets whether an answer that starts with a CNAME also carries
// the records of the target (and of its targets) when the server has them.
func (s *Server) ChaseCNAME(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chase = on
}

// Secure makes answers for name carry the AD bit, as a validating
// resolver's do when the data is DNSSEC-signed and verified (RFC 4035
// 3.2.3). The server signs nothing: it stands in for unbound on loopback.
func (s *Server) Secure(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(name).secure = on
}

// Reset forgets every record and forced behaviour for name.
func (s *Server) Reset(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, fqdn(name))
}

// Queries returns how many queries for (name, qtype) arrived, over UDP and
// TCP together.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[qkey{fqdn(name), qtype}]
}

// Total returns how many queries arrived for any name, UDP and TCP
// together.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

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
	m.AuthenticatedData = n.secure
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
