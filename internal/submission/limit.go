package submission

import (
	"net/netip"
	"sync"
	"time"
)

// failureLog counts failed AUTHs per client over a sliding window. An IPv6
// client is counted per /64, since one host usually holds the whole /64.
// Memory is bounded: each client keeps at most limit times, and clients
// whose times have all aged out are swept once the map has doubled.
type failureLog struct {
	limit  int
	window time.Duration

	mu        sync.Mutex
	byClient  map[netip.Prefix][]time.Time // oldest first
	nextSweep int
}

func newFailureLog(limit int, window time.Duration) *failureLog {
	return &failureLog{limit: limit, window: window, byClient: map[netip.Prefix][]time.Time{}, nextSweep: 1024}
}

func clientKey(ip netip.Addr) netip.Prefix {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen()) // an invalid ip gives one shared key
}

// blocked reports whether ip has limit failures within the window ending now.
func (f *failureLog) blocked(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(clientKey(ip), now)) >= f.limit
}

// reserve counts a failure for ip at now before its password is checked,
// unless ip is blocked already: then it returns false. Checking first and
// recording after the bcrypt work let any number of concurrent attempts
// pass the check (security issue 22); with the reservation taken under the
// same lock as the check, at most limit attempts are ever in the window.
// A successful attempt gives its reservation back with release.
func (f *failureLog) reserve(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientKey(ip)
	times := f.recent(k, now)
	if len(times) >= f.limit {
		return false
	}
	f.byClient[k] = append(times, now)
	if len(f.byClient) >= f.nextSweep {
		f.sweep(now)
	}
	return true
}

// release undoes a reservation made at at; one already aged out is gone.
func (f *failureLog) release(ip netip.Addr, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientKey(ip)
	times := f.byClient[k]
	for i := len(times) - 1; i >= 0; i-- {
		if times[i].Equal(at) {
			times = append(times[:i], times[i+1:]...)
			break
		}
	}
	if len(times) == 0 {
		delete(f.byClient, k)
		return
	}
	f.byClient[k] = times
}

// add records a failure at now and reports whether ip is now blocked.
func (f *failureLog) add(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientKey(ip)
	times := append(f.recent(k, now), now)
	if len(times) > f.limit {
		times = times[len(times)-f.limit:]
	}
	f.byClient[k] = times
	if len(f.byClient) >= f.nextSweep {
		f.sweep(now)
	}
	return len(times) >= f.limit
}

// recent drops k's failures older than the window and returns the rest.
func (f *failureLog) recent(k netip.Prefix, now time.Time) []time.Time {
	times := f.byClient[k]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= f.window {
		i++
	}
	if i == len(times) {
		delete(f.byClient, k)
		return nil
	}
	times = times[i:]
	f.byClient[k] = times
	return times
}

func (f *failureLog) sweep(now time.Time) {
	for k := range f.byClient {
		f.recent(k, now)
	}
	f.nextSweep = max(1024, 2*len(f.byClient))
}

// connLimit counts open connections in total and per client (IPv6 per /64,
// as for AUTH failures), so one address cannot take every session. A limit
// below 1 means none.
type connLimit struct {
	total, perIP int

	mu       sync.Mutex
	n        int
	byClient map[netip.Prefix]int
}

func newConnLimit(total, perIP int) *connLimit {
	return &connLimit{total: total, perIP: perIP, byClient: map[netip.Prefix]int{}}
}

// acquire takes a slot for ip, or returns the refusal: errTooManyFromIP
// when ip holds perIP already, errTooManyConns when the total is reached.
func (l *connLimit) acquire(ip netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := clientKey(ip)
	if l.perIP > 0 && l.byClient[k] >= l.perIP {
		return errTooManyFromIP
	}
	if l.total > 0 && l.n >= l.total {
		return errTooManyConns
	}
	l.n++
	l.byClient[k]++
	return nil
}

func (l *connLimit) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := clientKey(ip)
	l.n--
	if l.byClient[k]--; l.byClient[k] <= 0 {
		delete(l.byClient, k)
	}
}
