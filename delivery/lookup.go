package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

func randIntN(n int) int { return rand.IntN(n) }

// LookupMX returns the domain's exchangers sorted by preference, equal
// preferences shuffled, at most the configured number (default 5). No MX
// records: (nil, nil). NXDOMAIN and null MX are permanent *DNSErrors. A
// CNAME at the domain is followed (at most 8 links).
func (r *DNSResolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	mxs, _, err := r.LookupMXSecure(ctx, domain)
	return mxs, err
}

// LookupMXSecure is LookupMX, and whether every answer on the way (CNAMEs
// included) carried the AD bit: the resolver validated it with DNSSEC.
func (r *DNSResolver) LookupMXSecure(ctx context.Context, domain string) ([]MX, bool, error) {
	if isLocalhost(domain) {
		return nil, false, nil // implicit MX: the loopback host itself
	}
	rrs, secure, err := r.resolveSec(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var out []MX
	null := false
	for _, rr := range rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		if mx.Mx == "." {
			null = true // RFC 7505: no other MX may sit beside it; ignore any
			continue
		}
		out = append(out, MX{Host: strings.ToLower(strings.TrimSuffix(mx.Mx, ".")), Pref: mx.Preference})
	}
	if null && len(out) == 0 {
		return nil, secure, newDNSError(domain, "MX", KindNullMX, nil)
	}
	return r.order(out), secure, nil
}

// order sorts by preference, shuffles each group of equal preference and
// cuts the list to maxMX.
func (r *DNSResolver) order(mxs []MX) []MX {
	r.shuffle(mxs)
	slices.SortStableFunc(mxs, func(a, b MX) int { return int(a.Pref) - int(b.Pref) })
	if r.maxMX > 0 && len(mxs) > r.maxMX {
		mxs = mxs[:r.maxMX]
	}
	return mxs
}

// shuffle is Fisher-Yates over the whole list; the stable sort that follows
// keeps the random order within each preference.
func (r *DNSResolver) shuffle(mxs []MX) {
	for i := len(mxs) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		mxs[i], mxs[j] = mxs[j], mxs[i]
	}
}

// LookupIP returns the host's IPv4 then IPv6 addresses, asking for A and
// AAAA in parallel. One family failing is fine when the other answers. No
// address in either (NODATA): (nil, nil). When neither gives an address and
// one failed, a temporary failure wins over NXDOMAIN: a wrong temporary
// costs one retry, a wrong permanent loses mail. An IP literal is returned
// as is.
func (r *DNSResolver) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	if isLocalhost(host) {
		return []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}, nil
	}
	type res struct {
		ips []net.IP
		err error
	}
	v6 := make(chan res, 1)
	go func() {
		ips, err := r.lookupAddrs(ctx, host, dns.TypeAAAA)
		v6 <- res{ips, err}
	}()
	ips4, err4 := r.lookupAddrs(ctx, host, dns.TypeA)
	r6 := <-v6
	ips := append(ips4, r6.ips...)
	if len(ips) > 0 {
		return ips, nil
	}
	return nil, pickErr(err4, r6.err)
}

// pickErr prefers a temporary error over a permanent one.
func pickErr(a, b error) error {
	var da *DNSError
	if a != nil && errors.As(a, &da) && da.Permanent && b != nil {
		return b
	}
	if a != nil {
		return a
	}
	return b
}

func (r *DNSResolver) lookupAddrs(ctx context.Context, host string, qtype uint16) ([]net.IP, error) {
	rrs, err := r.resolve(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A)
		case *dns.AAAA:
			out = append(out, v.AAAA)
		}
	}
	return out, nil
}

// resolve returns the records of qtype for name, following CNAMEs: first
// through the answer in hand, then by asking for the target, at most
// maxCNAME links in all. NODATA is (nil, nil); NXDOMAIN is a permanent
// *DNSError naming the name first asked about.
func (r *DNSResolver) resolve(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	rrs, _, err := r.resolveSec(ctx, name, qtype)
	return rrs, err
}

// resolveSec is resolve, and whether every answer used had the AD bit set.
func (r *DNSResolver) resolveSec(ctx context.Context, name string, qtype uint16) ([]dns.RR, bool, error) {
	tname := dns.TypeToString[qtype]
	orig := name
	name, err := ASCIIDomain(name)
	if err != nil {
		return nil, false, newDNSError(orig, tname, KindNXDomain, err) // no such name can exist
	}
	name = dns.Fqdn(name)
	resp, err := r.query(ctx, name, qtype)
	if err != nil {
		return nil, false, err
	}
	secure := resp.AuthenticatedData
	for hops := 0; ; hops++ {
		rrs, target := pick(resp.Answer, name, qtype)
		switch {
		case len(rrs) > 0:
			return rrs, secure, nil
		case target == "" && resp.Rcode == dns.RcodeNameError:
			return nil, secure, newDNSError(orig, tname, KindNXDomain, nil)
		case target == "":
			return nil, secure, nil
		case hops >= maxCNAME:
			return nil, false, newDNSError(orig, tname, KindTemporary, errors.New("CNAME chain too long"))
		}
		name = target
		if !hasOwner(resp.Answer, name) {
			if resp, err = r.query(ctx, name, qtype); err != nil {
				return nil, false, err
			}
			secure = secure && resp.AuthenticatedData
		}
	}
}

// pick returns the answer records of qtype owned by name or, when there are
// none, the target of name's CNAME.
func pick(answer []dns.RR, name string, qtype uint16) (rrs []dns.RR, target string) {
	for _, rr := range answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) || h.Class != dns.ClassINET {
			continue
		}
		if h.Rrtype == qtype {
			rrs = append(rrs, rr)
		} else if c, ok := rr.(*dns.CNAME); ok {
			target = strings.ToLower(c.Target)
		}
	}
	if len(rrs) > 0 {
		return rrs, ""
	}
	return nil, target
}

func hasOwner(answer []dns.RR, name string) bool {
	for _, rr := range answer {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// isLocalhost: RFC 6761 6.3 reserves localhost and *.localhost for the
// loopback host; they are answered here, never sent to a DNS server.
func isLocalhost(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}
