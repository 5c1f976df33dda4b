package scheduler

import (
	"sync"

	"github.com/mtaq/mtaq/policy"
)

// verdictCache remembers the classifier's verdicts. Classification is a pure
// function of the reply and the domain, and costs about 150 µs of regexp
// matching; in a deferral or bounce storm a destination gives the same
// reply thousands of times, so a storm's classifying drops to a map lookup.
// Bounded: it starts over when full, and long replies are not kept.
type verdictCache struct {
	c  *policy.Classifier
	mu sync.Mutex
	m  map[verdictKey]policy.Verdict
}

type verdictKey struct {
	reply  policy.Reply
	domain string
}

const (
	verdictCacheSize = 4096
	maxCachedText    = 1024 // octets of reply text; longer ones are rare
)

func newVerdictCache(c *policy.Classifier) *verdictCache {
	return &verdictCache{c: c, m: make(map[verdictKey]policy.Verdict)}
}

func (v *verdictCache) classify(r policy.Reply, domain string) policy.Verdict {
	if len(r.Text) > maxCachedText {
		return v.c.Classify(r, domain) // keeps the cache's memory small
	}
	k := verdictKey{r, domain}
	v.mu.Lock()
	got, ok := v.m[k]
	v.mu.Unlock()
	if ok {
		return got
	}
	got = v.c.Classify(r, domain)
	v.mu.Lock()
	if len(v.m) >= verdictCacheSize {
		clear(v.m)
	}
	v.m[k] = got
	v.mu.Unlock()
	return got
}
