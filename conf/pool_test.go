package conf

import (
	"strings"
	"testing"
	"time"
)

func TestPools(t *testing.T) {
	t.Parallel()
	const doc = `hostname = "h.example"
[[delivery.pool]]
name = "bulk"
source_ips = ["192.0.2.10", "2001:db8::10"]
ehlo = "bulk.h.example"
warmup = "720h"
warmup_start = 20

[[delivery.pool]]
name = "default"
source_ips = ["192.0.2.1"]

[[delivery.pool_rule]]
tag = "newsletter"
pool = "bulk"
`
	c, err := Parse("mtaq.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Delivery.Pools[0]
	if p.Name != "bulk" || len(p.SourceIPs) != 2 || p.EHLO != "bulk.h.example" ||
		p.Warmup.Duration != 720*time.Hour || p.WarmupStart != 20 {
		t.Errorf("pool %+v", p)
	}
	if r := c.Delivery.PoolRules; len(r) != 1 || r[0].Tag != "newsletter" || r[0].Pool != "bulk" {
		t.Errorf("rules %+v", r)
	}
	if got := c.Delivery.DefaultPool(); got != "default" {
		t.Errorf("default pool %q", got)
	}
	c.Delivery.Pools = c.Delivery.Pools[:1]
	if got := c.Delivery.DefaultPool(); got != "bulk" {
		t.Errorf("without a pool named default, the first takes the rest: %q", got)
	}
}

func TestPoolErrors(t *testing.T) {
	t.Parallel()
	const doc = `hostname = "h.example"
[[delivery.pool]]
name = "a"
source_ips = ["192.0.2.300", "192.0.2.1"]
ehlo = "not a name"

[[delivery.pool]]
name = "a"
source_ips = ["192.0.2.1"]
warmup = "-1h"

[[delivery.pool_rule]]
sender_domain = "news.example"
pool = "nope"

[[delivery.pool_rule]]
pool = "a"
`
	_, err := Parse("mtaq.toml", []byte(doc))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`mtaq.toml:4: delivery.pool[0].source_ips[0]: "192.0.2.300" is not an IP address`,
		`mtaq.toml:5: delivery.pool[0].ehlo: "not a name" is not a valid DNS name`,
		`mtaq.toml:8: delivery.pool[1].name: pool "a" is defined twice`,
		`mtaq.toml:9: delivery.pool[1].source_ips[0]: 192.0.2.1 is already in pool "a"`,
		`mtaq.toml:10: delivery.pool[1].warmup: must not be negative`,
		`mtaq.toml:14: delivery.pool_rule[0].pool: unknown pool "nope"`,
		`mtaq.toml:16: delivery.pool_rule[1]: needs sender_domain, user or tag`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
