package conf

import (
	"fmt"
	"net/netip"
)

// Proxy is the PROXY protocol (v1 and v2) on a table's listeners, for
// mtaq behind a load balancer such as HAProxy: [submission] (listen,
// submission_listen, smtps_listen) and [http] each have their own.
type Proxy struct {
	// ProxyProtocol makes a connection from ProxyNetworks start with a
	// PROXY header, whose client address then counts for
	// trusted_networks, the per-IP limits, AUTH failures and Received. A
	// connection from ProxyNetworks without one is closed; a connection
	// from elsewhere is served as itself and its header, if it sends one,
	// is never believed.
	ProxyProtocol bool `toml:"proxy_protocol"`
	// ProxyNetworks are the load balancers' addresses (CIDR or IP).
	ProxyNetworks []string `toml:"proxy_networks"`
}

// ProxyPrefixes returns proxy_networks parsed when proxy_protocol is on,
// nil otherwise. Call it on a validated Config.
func (p Proxy) ProxyPrefixes() []netip.Prefix {
	if !p.ProxyProtocol {
		return nil
	}
	var out []netip.Prefix
	for _, s := range p.ProxyNetworks {
		if pr, err := parsePrefix(s); err == nil {
			out = append(out, pr)
		}
	}
	return out
}

func validateProxy(k *checker, table string, p Proxy) {
	for i, n := range p.ProxyNetworks {
		if _, err := parsePrefix(n); err != nil {
			k.add(fmt.Sprintf("%s.proxy_networks[%d]", table, i), "%q is not a CIDR prefix or IP address", n)
		}
	}
	switch {
	case p.ProxyProtocol && len(p.ProxyNetworks) == 0:
		k.add(table+".proxy_protocol", "needs %s.proxy_networks: the load balancers whose PROXY header is believed", table)
	case !p.ProxyProtocol && len(p.ProxyNetworks) > 0:
		k.add(table+".proxy_networks", "has no effect without %s.proxy_protocol = true", table)
	}
}
