package daemon

import (
	"net"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/scheduler"
)

// schedulerPools translates [[delivery.pool]]: an EHLO left empty is the
// hostname, warmup_start 0 its default.
func schedulerPools(c conf.Config) []scheduler.Pool {
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
