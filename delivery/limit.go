package delivery

import (
	"net"
	"sync"
)

// ipLimiter caps the connections in use at once to one exchanger address,
// across every domain: an exchanger that accepts TCP and never answers (a
// tarpit) holds at most max workers however many domains name it, and a
// Deliver that finds every address at its cap returns at once instead of
// waiting (Result.Busy). Idle pooled connections do not count: they hold
// no worker.
type ipLimiter struct {
	max int // <= 0: no cap
	mu  sync.Mutex
	n   map[string]int
}

func newIPLimiter(max int) *ipLimiter { return &ipLimiter{max: max, n: map[string]int{}} }

// acquire takes a slot for ip, or reports false when it is at the cap.
func (l *ipLimiter) acquire(ip net.IP) bool {
	if l.max <= 0 {
		return true
	}
	k := ip.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k] >= l.max {
		return false
	}
	l.n[k]++
	return true
}

func (l *ipLimiter) release(ip net.IP) {
	if l.max <= 0 {
		return
	}
	k := ip.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k]--; l.n[k] <= 0 {
		delete(l.n, k)
	}
}

// inUse reports the connections counted against ip (tests, logs).
func (l *ipLimiter) inUse(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[ip]
}
