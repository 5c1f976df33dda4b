package delivery

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fuzzAnswer stands in for one server's reply: raw with the query's ID
// patched in, unpacked as conn.ReadMsg would, and put through the same
// acceptance as exchangeNet (a mismatched question is no answer). echo
// replaces the question with the query's, so the answer sections get
// exercised beyond the question check too. Each answer returned is
// recorded in sent (when not nil): with the query's ID patched in, a
// compression pointer into the header reads names that raw alone does not
// have, so the oracle is what was sent.
func fuzzAnswer(raw []byte, echo bool, sent *answers) func(context.Context, *dns.Msg, string) (*dns.Msg, error) {
	return func(_ context.Context, m *dns.Msg, _ string) (*dns.Msg, error) {
		b := append([]byte(nil), raw...)
		if len(b) >= 2 {
			b[0], b[1] = byte(m.Id>>8), byte(m.Id)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(b); err != nil {
			return nil, err
		}
		if echo {
			resp.Question = append([]dns.Question(nil), m.Question...)
			resp.Response = true
		}
		if !matches(m, resp) {
			return nil, errMismatch // over UDP: dropped until the deadline
		}
		if sent != nil {
			sent.add(resp)
		}
		return resp, nil
	}
}

// answers collects the records of every answer fuzzAnswer returned.
type answers struct {
	mu    sync.Mutex
	hosts map[string]bool
	ips   []net.IP
}

func (a *answers) add(m *dns.Msg) {
	h, ips := answerRecords(m)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hosts == nil {
		a.hosts = map[string]bool{}
	}
	for k := range h {
		a.hosts[k] = true
	}
	a.ips = append(a.ips, ips...)
}

// FuzzDNSAnswer: whatever bytes a DNS server answers with (truncated,
// compression loops, a foreign question, CNAME chains and loops), LookupMX
// and LookupIP return promptly without panicking, with either a *DNSError
// or hosts and addresses that are in the answer.
func FuzzDNSAnswer(f *testing.F) {
	for _, s := range dnsSeeds(f) {
		f.Add(s.raw, s.echo)
	}
	f.Fuzz(func(t *testing.T, raw []byte, echo bool) {
		r := NewResolver([]string{"127.0.0.1:1"}, WithShuffle(func(int) int { return 0 }))
		sent := &answers{}
		r.exch = fuzzAnswer(raw, echo, sent)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		mxs, err := r.LookupMX(ctx, "fuzz.test")
		checkErr(t, "MX", err)
		if len(mxs) > DefaultMaxMX {
			t.Fatalf("%d MX hosts, cap is %d", len(mxs), DefaultMaxMX)
		}
		for _, mx := range mxs {
			sent.mu.Lock()
			in := sent.hosts[mx.Host]
			sent.mu.Unlock()
			if !in {
				t.Fatalf("MX host %q is not in the answer", mx.Host)
			}
		}
		got, err := r.LookupIP(ctx, "mx.fuzz.test")
		checkErr(t, "A/AAAA", err)
		for _, ip := range got {
			sent.mu.Lock()
			in := containsIP(sent.ips, ip)
			sent.mu.Unlock()
			if !in {
				t.Fatalf("address %s is not in the answer", ip)
			}
		}
		if ctx.Err() != nil {
			t.Fatal("lookups ran into the 10 s bound")
		}
	})
}

func checkErr(t *testing.T, what string, err error) {
	t.Helper()
	var de *DNSError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("%s lookup: %T %v, want a *DNSError", what, err, err)
	}
}

// answerRecords lists the MX targets and addresses anywhere in the answer.
func answerRecords(m *dns.Msg) (map[string]bool, []net.IP) {
	hosts := map[string]bool{}
	var ips []net.IP
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.MX:
			hosts[strings.ToLower(strings.TrimSuffix(v.Mx, "."))] = true
		case *dns.A:
			ips = append(ips, v.A)
		case *dns.AAAA:
			ips = append(ips, v.AAAA)
		}
	}
	return hosts, ips
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

type dnsSeed struct {
	raw  []byte
	echo bool
}

// dnsSeeds builds meaningful answers: MX, null MX, A and AAAA, a CNAME
// chain and loop, NXDOMAIN, SERVFAIL, a truncated packet, a foreign
// question and a compression pointer pointing at itself.
func dnsSeeds(f *testing.F) []dnsSeed {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return r
	}
	msg := func(q string, qt uint16, rcode int, ans ...string) []byte {
		m := new(dns.Msg)
		m.SetQuestion(q, qt)
		m.Response, m.Rcode = true, rcode
		for _, a := range ans {
			m.Answer = append(m.Answer, rr(a))
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	mx := msg("fuzz.test.", dns.TypeMX, dns.RcodeSuccess,
		"fuzz.test. 60 IN MX 10 mx.fuzz.test.", "fuzz.test. 60 IN MX 20 mx2.fuzz.test.",
		"mx.fuzz.test. 60 IN A 192.0.2.1", "mx.fuzz.test. 60 IN AAAA 2001:db8::1")
	self := append([]byte(nil), mx[:12]...) // header, then a name that points at itself
	self = append(self, 0xc0, 12, 0, 15, 0, 1)
	return []dnsSeed{
		{mx, false},
		{mx, true},
		{msg("fuzz.test.", dns.TypeMX, dns.RcodeSuccess, "fuzz.test. 60 IN MX 0 ."), true},
		{msg("mx.fuzz.test.", dns.TypeA, dns.RcodeSuccess, "mx.fuzz.test. 60 IN A 192.0.2.7"), true},
		{msg("x.", dns.TypeA, dns.RcodeSuccess, "mx.fuzz.test. 60 IN CNAME a.fuzz.test.",
			"a.fuzz.test. 60 IN CNAME b.fuzz.test.", "b.fuzz.test. 60 IN A 192.0.2.9"), true},
		{msg("x.", dns.TypeMX, dns.RcodeSuccess, "fuzz.test. 60 IN CNAME fuzz.test.",
			"mx.fuzz.test. 60 IN CNAME mx.fuzz.test."), true},
		{msg("fuzz.test.", dns.TypeMX, dns.RcodeNameError), true},
		{msg("fuzz.test.", dns.TypeMX, dns.RcodeServerFailure), true},
		{mx[:len(mx)-7], true},
		{msg("other.test.", dns.TypeMX, dns.RcodeSuccess, "other.test. 60 IN MX 10 evil.test."), false},
		{self, false},
		{nil, true},
	}
}

// TestDNSAnswerSeeds pins what the seeds mean, so the fuzz target's checks
// are known to see hosts and addresses, not only errors.
func TestDNSAnswerSeeds(t *testing.T) {
	seeds := dnsSeeds(&testing.F{})
	ctx := context.Background()
	type res struct {
		mxs   []MX
		errMX error
		ips   []net.IP
		errIP error
	}
	lookup := func(s dnsSeed) res {
		r := NewResolver([]string{"127.0.0.1:1"}, WithShuffle(func(int) int { return 0 }))
		r.exch = fuzzAnswer(s.raw, s.echo, nil)
		var o res
		o.mxs, o.errMX = r.LookupMX(ctx, "fuzz.test")
		o.ips, o.errIP = r.LookupIP(ctx, "mx.fuzz.test")
		return o
	}
	o := lookup(seeds[0])
	mxs, err, ips := o.mxs, o.errMX, o.ips
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx.fuzz.test" || len(ips) != 0 {
		t.Errorf("plain MX answer: %v %v, addresses %v (the A is for a foreign question)", mxs, err, ips)
	}
	err = lookup(seeds[2]).errMX
	var de *DNSError
	if !errors.As(err, &de) || de.Kind != KindNullMX {
		t.Errorf("null MX: %v", err)
	}
	o = lookup(seeds[4])
	ips, err = o.ips, o.errIP
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.0.2.9")) {
		t.Errorf("CNAME chain: %v %v, want 192.0.2.9 at its end", ips, err)
	}
	err = lookup(seeds[5]).errMX
	if !errors.As(err, &de) || de.Permanent {
		t.Errorf("CNAME loop: %v, want a temporary *DNSError", err)
	}
	err = lookup(seeds[9]).errMX
	if !errors.Is(err, errMismatch) {
		t.Errorf("foreign question: %v, want it refused as a mismatch", err)
	}
}
