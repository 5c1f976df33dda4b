package delivery

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ipLiteral parses an address-literal domain (RFC 5321 4.1.3): "[192.0.2.1]"
// or "[IPv6:2001:db8::1]". ok is false when domain is not a literal; err is
// set when it is one but does not parse.
func ipLiteral(domain string) (ip net.IP, ok bool, err error) {
	if !strings.HasPrefix(domain, "[") || !strings.HasSuffix(domain, "]") {
		return nil, false, nil
	}
	inner := domain[1 : len(domain)-1]
	v6 := false
	if len(inner) > 5 && strings.EqualFold(inner[:5], "ipv6:") {
		inner, v6 = inner[5:], true
	}
	a, perr := netip.ParseAddr(inner)
	if perr != nil || a.Is6() != v6 || a.Zone() != "" {
		return nil, true, fmt.Errorf("bad address literal %s", domain)
	}
	return net.IP(a.AsSlice()), true, nil
}

// selfSet answers "would dialling ip:port reach this daemon?", from the
// submission listeners mtaq serves. A listener on an unspecified address
// serves every local address.
type selfSet struct {
	exact map[netip.AddrPort]bool
	any   map[uint16]bool // ports listened on at 0.0.0.0 / [::]
	local map[netip.Addr]bool
}

func newSelfSet(listen []string) *selfSet {
	s := &selfSet{exact: map[netip.AddrPort]bool{}, any: map[uint16]bool{}, local: map[netip.Addr]bool{}}
	for _, l := range listen {
		host, port, err := net.SplitHostPort(l)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || perr != nil {
			continue
		}
		a, aerr := netip.ParseAddr(host)
		if host == "" || (aerr == nil && a.IsUnspecified()) {
			s.any[uint16(p)] = true
			continue
		}
		if aerr == nil {
			s.exact[netip.AddrPortFrom(a.Unmap(), uint16(p))] = true
		}
	}
	if len(s.any) > 0 {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if pfx, err := netip.ParsePrefix(a.String()); err == nil {
					s.local[pfx.Addr().Unmap()] = true
				}
			}
		}
	}
	return s
}

func (s *selfSet) has(ip net.IP, port int) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if s.exact[netip.AddrPortFrom(a, uint16(port))] {
		return true
	}
	return s.any[uint16(port)] && (a.IsLoopback() || s.local[a])
}

// loopResult is what every recipient gets when the best exchanger of a
// domain is this daemon itself: a 5.4.6 loop, not a retry storm.
func loopResult(domain, host string) Result {
	err := fmt.Errorf("mail for %s loops back to myself (MX host %s is this server)", domain, host)
	return localFail(StageResolve, "5.4.6", err)
}
