package doctor

import (
	"context"
	"fmt"
	"strings"
)

// checkBounceMX: asynchronous bounces and complaints are mailed to the
// return-path domain, so it needs an MX naming the host that runs the
// [bounce] listener. When mail keeps the sender's own domain (no
// return-path domain) they go to the sender's mailbox, not to mtaq.
func checkBounceMX(ctx context.Context, r Resolver, domain, rp, host string) Result {
	res := Result{Check: "bounce-mx"}
	if rp == domain {
		res.Status = Info
		res.Detail = "mail goes out with the sender's own address: asynchronous bounces and complaints reach that mailbox, not mtaq (set [bounce] return_path_domains, then --return-path-domain)"
		return res
	}
	if host == "" {
		host = "YOUR.MTAQ.HOST"
	}
	fix := fmt.Sprintf("publish %s. MX 10 %s. (the host running the [bounce] listener on port 25)", rp, host)
	mxs, err := r.LookupMX(ctx, rp)
	if err != nil {
		res.Status, res.Detail, res.Fix = Fail, fmt.Sprintf("MX of %s: %v: bounces and complaints cannot reach mtaq", rp, err), fix
		return res
	}
	if len(mxs) == 0 {
		if ips, _ := r.LookupIP(ctx, rp); len(ips) > 0 {
			res.Status, res.Fix = Warn, fix
			res.Detail = fmt.Sprintf("%s has no MX: reports go to its address %v, which must run the [bounce] listener", rp, ips[0])
			return res
		}
		res.Status, res.Detail, res.Fix = Fail, fmt.Sprintf("%s has no MX and no address: bounces and complaints are lost", rp), fix
		return res
	}
	hosts := make([]string, len(mxs))
	for i, m := range mxs {
		hosts[i] = m.Host
	}
	res.Status = Pass
	res.Detail = fmt.Sprintf("%s MX %s: reports reach the [bounce] listener there", rp, strings.Join(hosts, ", "))
	return res
}
