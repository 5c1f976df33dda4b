package daemon

import (
	"net"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/scheduler"
)

// schedulerPools translates [[delivery.pool]]: an EHLO left empty is the
// hostname, warmup_start 0 its default.
func schedulerPools(c conf.Config, log *zap.Logger) []scheduler.Pool {
	warnForeignSources(c, log)
	var out []scheduler.Pool
	for _, p := range c.Delivery.Pools {
		sp := scheduler.Pool{Name: p.Name, Warmup: policy.Warmup{Start: p.WarmupStart, Period: p.Warmup.Duration}}
		if sp.Warmup.Start == 0 {
			sp.Warmup.Start = conf.DefaultWarmupStart
		}
		ehlo := p.EHLO
		if ehlo == "" {
			ehlo = c.Hostname
		}
		for _, ip := range p.SourceIPs {
			sp.Sources = append(sp.Sources, scheduler.Source{IP: net.ParseIP(ip), EHLO: ehlo})
		}
		out = append(out, sp)
	}
	return out
}

// intakePools translates [[delivery.pool_rule]]; nil without pools.
func intakePools(c conf.Config) *intake.Pools {
	if len(c.Delivery.Pools) == 0 {
		return nil
	}
	p := &intake.Pools{Default: c.Delivery.DefaultPool()}
	for _, r := range c.Delivery.PoolRules {
		p.Rules = append(p.Rules, intake.PoolRule{SenderDomain: r.SenderDomain, User: r.User, Tag: r.Tag, Pool: r.Pool})
	}
	return p
}

// warnForeignSources logs each pool address no interface of this host
// has: connections from it would fail (4.4.1) until it is configured.
func warnForeignSources(c conf.Config, log *zap.Logger) {
	addrs, err := net.InterfaceAddrs()
	if err != nil || len(c.Delivery.Pools) == 0 {
		return
	}
	for _, p := range c.Delivery.Pools {
		for _, s := range p.SourceIPs {
			ip, local := net.ParseIP(s), false
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && (n.IP.Equal(ip) || ip.IsLoopback() && n.Contains(ip)) {
					local = true
				}
			}
			if !local {
				log.Warn("pool source address is not on this host: mail from it will be deferred",
					zap.String("pool", p.Name), zap.String("source_ip", s))
			}
		}
	}
}
