package metrics

import (
	"strings"
	"sync"
)

// Other is the destination label of every domain without a name of its own.
const Other = "other"

// labeler bounds the destination label's cardinality. A domain earns its
// own label once it has produced minVolume outcomes, while fewer than top
// domains have one; every other domain is "other". A label, once given,
// is kept for the life of the process: a counter whose series vanished and
// came back would look like a reset to rate(). So the named set is the
// first top domains to reach minVolume, which in practice are the busiest
// ones (the large providers arrive first and fastest); the long tail of
// one-off domains (typos, small companies) never takes a slot.
//
// Memory is bounded too: volumes are counted for at most maxCandidates
// unnamed domains; when that table is full it is cleared, so a busy domain
// starts counting again (it reaches minVolume again quickly) while one-off
// domains are forgotten.
type labeler struct {
	top, minVolume, maxCandidates int

	mu    sync.Mutex
	named map[string]struct{}
	cand  map[string]int // unnamed domain → outcomes seen
}

func newLabeler(top, minVolume, maxCandidates int) *labeler {
	return &labeler{
		top: top, minVolume: max(minVolume, 1), maxCandidates: max(maxCandidates, 1),
		named: make(map[string]struct{}, top),
		cand:  make(map[string]int),
	}
}

// count records one outcome for domain and returns its label.
func (l *labeler) count(domain string) string {
	domain = strings.ToLower(domain)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.named[domain]; ok {
		return domain
	}
	if domain == "" || domain == Other || len(l.named) >= l.top {
		return Other
	}
	n, seen := l.cand[domain]
	if !seen && len(l.cand) >= l.maxCandidates {
		clear(l.cand)
	}
	n++
	if n < l.minVolume {
		l.cand[domain] = n
		return Other
	}
	delete(l.cand, domain)
	l.named[domain] = struct{}{}
	return domain
}

// peek returns domain's label without counting it.
func (l *labeler) peek(domain string) string {
	domain = strings.ToLower(domain)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.named[domain]; ok {
		return domain
	}
	return Other
}

// sizes reports how many domains are named and how many are being counted.
func (l *labeler) sizes() (named, candidates int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.named), len(l.cand)
}
