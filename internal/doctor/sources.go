package doctor

import (
	"context"
	"net"
	"strings"
)

// Source is one [[delivery.pool]] address and the EHLO name its
// connections announce.
type Source struct {
	Pool string
	IP   net.IP
	EHLO string
}

// checkSources: each pool address has a PTR that resolves back to it and
// is its pool's EHLO name (the same check as for hostname and --ip).
func checkSources(ctx context.Context, r Resolver, sources []Source) []Result {
	var out []Result
	for _, s := range sources {
		for _, res := range checkPTRs(ctx, r, []net.IP{s.IP}, normal(s.EHLO)) {
			res.Check += " (pool " + s.Pool + ")"
			res.Fix = strings.Replace(res.Fix, "set hostname = ", "set the pool's ehlo = ", 1)
			out = append(out, res)
		}
	}
	return out
}

// sourceIPs are the pool addresses not already among ips.
func sourceIPs(ips []net.IP, sources []Source) []net.IP {
	out := append([]net.IP(nil), ips...)
	for _, s := range sources {
		dup := false
		for _, ip := range out {
			dup = dup || ip.Equal(s.IP)
		}
		if !dup {
			out = append(out, s.IP)
		}
	}
	return out
}
