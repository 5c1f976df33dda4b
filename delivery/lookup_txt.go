package delivery

import (
	"context"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXT returns name's TXT records, each record's character-strings
// joined into one value (RFC 7208 §3.3, RFC 6376 §3.6.2.2 read them so).
// No TXT records: (nil, nil). NXDOMAIN is a permanent *DNSError. Delivery
// itself does not need it: it is here so that mtaq doctor asks DNS the way
// delivery does (same servers, EDNS0, TCP on truncation, cache).
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.resolve(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// LookupPTR returns the names ip's reverse record points at, without the
// trailing dot. No PTR: (nil, nil); NXDOMAIN is a permanent *DNSError.
func (r *DNSResolver) LookupPTR(ctx context.Context, ip net.IP) ([]string, error) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return nil, newDNSError(ip.String(), "PTR", KindTemporary, err)
	}
	rrs, err := r.resolve(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, strings.ToLower(strings.TrimSuffix(p.Ptr, ".")))
		}
	}
	return out, nil
}
