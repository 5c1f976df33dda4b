package conf

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultPoolName is the pool that takes mail no pool_rule matched; when
// no pool has this name, the first pool does.
const DefaultPoolName = "default"

// DefaultWarmupStart is a warming pool's first-day cap per source IP and
// destination domain when warmup_start is not set.
const DefaultWarmupStart = 50

// Pool is one [[delivery.pool]] table: source addresses mail leaves from,
// and the EHLO name they announce.
type Pool struct {
	Name string `toml:"name"`
	// SourceIPs are local addresses to bind outgoing connections to, used
	// in turn (least sent today first). Each should have a PTR record
	// naming EHLO.
	SourceIPs []string `toml:"source_ips"`
	// EHLO is the name the pool's connections announce; default hostname.
	EHLO string `toml:"ehlo"`
	// Warmup, when set, caps what each source IP sends to one destination
	// domain per UTC day, from WarmupStart on its first day, 1.5 times as
	// much each day after, until Warmup has passed since the IP's first
	// day (docs/OPERATIONS.md: IP pools and warm-up).
	Warmup      Duration `toml:"warmup"`
	WarmupStart int      `toml:"warmup_start"`
}

// PoolRule is one [[delivery.pool_rule]] table. Rules are tried in order;
// the first whose every set key matches names the message's pool.
type PoolRule struct {
	// SenderDomain matches the envelope sender's domain and its
	// subdomains.
	SenderDomain string `toml:"sender_domain"`
	// User matches the submission user (SMTP AUTH, or the HTTP API key's
	// user).
	User string `toml:"user"`
	// Tag matches the message's X-Mtaq-Tag.
	Tag  string `toml:"tag"`
	Pool string `toml:"pool"`
}

// DefaultPool is the name of the pool that takes the rest: "default" if
// there is one, else the first; "" without pools.
func (d Delivery) DefaultPool() string {
	for _, p := range d.Pools {
		if p.Name == DefaultPoolName {
			return p.Name
		}
	}
	if len(d.Pools) > 0 {
		return d.Pools[0].Name
	}
	return ""
}

func validatePools(k *checker, d Delivery) {
	names := map[string]bool{}
	ips := map[netip.Addr]string{}
	for i, p := range d.Pools {
		key := fmt.Sprintf("delivery.pool[%d]", i)
		switch {
		case p.Name == "":
			k.add(key+".name", "must be set")
		case names[p.Name]:
			k.add(key+".name", "pool %q is defined twice", p.Name)
		}
		names[p.Name] = true
		if len(p.SourceIPs) == 0 {
			k.add(key+".source_ips", "needs at least one IP address")
		}
		for j, s := range p.SourceIPs {
			ik := fmt.Sprintf("%s.source_ips[%d]", key, j)
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil || a.Zone() != "":
				k.add(ik, "%q is not an IP address", s)
			case a.IsUnspecified() || a.IsMulticast():
				k.add(ik, "%s cannot be a source address", s)
			case ips[a.Unmap()] != "":
				k.add(ik, "%s is already in pool %q", s, ips[a.Unmap()])
			default:
				ips[a.Unmap()] = p.Name
			}
		}
		if p.EHLO != "" && !isHostname(p.EHLO) {
			k.add(key+".ehlo", "%q is not a valid DNS name", p.EHLO)
		}
		if p.Warmup.Duration < 0 {
			k.add(key+".warmup", "must not be negative (0: no warm-up), got %v", p.Warmup.Duration)
		}
		if p.WarmupStart < 0 {
			k.add(key+".warmup_start", "must be a positive number of messages per day, got %d", p.WarmupStart)
		}
	}
	if len(d.Pools) > 0 && d.Relay != "" {
		k.add("delivery.pool", "source pools do not apply with delivery.relay (the smarthost picks its own addresses)")
	}
	for i, r := range d.PoolRules {
		key := fmt.Sprintf("delivery.pool_rule[%d]", i)
		switch {
		case r.Pool == "":
			k.add(key+".pool", "must name a [[delivery.pool]]")
		case !names[r.Pool]:
			k.add(key+".pool", "unknown pool %q", r.Pool)
		}
		if r.SenderDomain == "" && r.User == "" && r.Tag == "" {
			k.add(key, "needs sender_domain, user or tag (a rule matching everything is the default pool's job)")
		}
		if r.SenderDomain != "" && !isHostname(strings.TrimPrefix(r.SenderDomain, ".")) {
			k.add(key+".sender_domain", "%q is not a domain name", r.SenderDomain)
		}
	}
}
