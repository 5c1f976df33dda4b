package delivery

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Cache bounds. A domain with queued mail is looked up at every attempt; the
// cache turns a burst of 1000 messages to one domain into one query, and the
// TTL keeps a changed MX from being missed for long.
const (
	cacheMaxEntries = 10000
	cacheMaxTTL     = time.Hour
	// cacheNegTTL caps how long NXDOMAIN and NODATA are remembered when
	// the answer carries no SOA (RFC 2308 otherwise).
	cacheNegTTL = 5 * time.Minute
)

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	msg     *dns.Msg
	expires time.Time
}

// dnsCache holds usable answers (NOERROR, NXDOMAIN) until their TTL runs
// out. Failures (SERVFAIL, timeouts) are never cached: the next attempt
// asks again.
type dnsCache struct {
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

func newDNSCache() *dnsCache { return &dnsCache{entries: make(map[cacheKey]cacheEntry)} }

func (c *dnsCache) get(name string, qtype uint16, now time.Time) *dns.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{name, qtype}]
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return e.msg
}

func (c *dnsCache) put(name string, qtype uint16, m *dns.Msg, now time.Time) {
	ttl := answerTTL(m)
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheMaxEntries {
		c.evict(now)
	}
	c.entries[cacheKey{name, qtype}] = cacheEntry{msg: m, expires: now.Add(ttl)}
}

// evict drops expired entries, and if that frees too little, half of the
// rest (map order is random enough for a cache this simple).
func (c *dnsCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < cacheMaxEntries/2 {
			return
		}
		delete(c.entries, k)
	}
}

// answerTTL is the lowest TTL of the answer section, or for a negative
// answer the SOA's negative TTL (RFC 2308 section 5), capped.
func answerTTL(m *dns.Msg) time.Duration {
	var ttl uint32
	first := true
	lower := func(t uint32) {
		if first || t < ttl {
			ttl, first = t, false
		}
	}
	if len(m.Answer) > 0 {
		for _, rr := range m.Answer {
			lower(rr.Header().Ttl)
		}
	} else {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				lower(min(soa.Hdr.Ttl, soa.Minttl))
			}
		}
		if first {
			return cacheNegTTL
		}
	}
	return min(time.Duration(ttl)*time.Second, cacheMaxTTL)
}
