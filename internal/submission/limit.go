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
