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
	inflight  map[netip.Prefix]int         // reserved attempts not yet settled
	settled   *sync.Cond                   // on mu: an attempt in flight ended
	nextSweep int
}

func newFailureLog(limit int, window time.Duration) *failureLog {
	f := &failureLog{limit: limit, window: window, byClient: map[netip.Prefix][]time.Time{},
		inflight: map[netip.Prefix]int{}, nextSweep: 1024}
	f.settled = sync.NewCond(&f.mu)
	return f
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

// reserve books one password check for ip before the bcrypt work. It
// returns false when ip has limit failures in the window. Otherwise it
// waits until failures plus checks in flight are below limit, then books
// one: at most limit wrong passwords are ever checked in a window, however
// many arrive at once (security issue 22), while a burst of right ones
// from one app's connection pool waits its turn instead of being refused.
// Every booking ends with release (success) or fail.
func (f *failureLog) reserve(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientKey(ip)
	for {
		times := f.recent(k, now)
		if len(times) >= f.limit {
			return false
		}
		if len(times)+f.inflight[k] < f.limit {
			f.inflight[k]++
			return true
		}
		f.settled.Wait() // checks in flight end within a bcrypt comparison
	}
}

// release ends a booking whose password was right: nothing is counted.
func (f *failureLog) release(ip netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle(clientKey(ip))
}

// fail ends a booking whose password was wrong: the failure is counted at
// now; it reports whether ip is now blocked.
func (f *failureLog) fail(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := clientKey(ip)
	f.settle(k)
	return f.record(k, now)
}

func (f *failureLog) settle(k netip.Prefix) {
	if f.inflight[k] <= 1 {
		delete(f.inflight, k)
	} else {
		f.inflight[k]--
	}
	f.settled.Broadcast()
}

// add records a failure at now and reports whether ip is now blocked.
func (f *failureLog) add(ip netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.record(clientKey(ip), now)
}

func (f *failureLog) record(k netip.Prefix, now time.Time) bool {
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

// netKey is the network an untrusted client's share is counted per: its
// /24, or /48 for IPv6 (one site's allocation).
func netKey(ip netip.Addr) netip.Prefix {
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits) // an invalid ip gives one shared key
	return p
}

// connLimits are the connection limits; a limit below 1 means none.
type connLimits struct {
	Total, PerIP int // every connection; per client address (IPv6 /64)
	// Untrusted caps connections from outside the trusted networks that
	// have not authenticated, so the rest of Total stays for trusted and
	// authenticated clients; UntrustedPerIP and UntrustedPerNet (/24, IPv6
	// /48) are one client's and one network's share of it.
	Untrusted, UntrustedPerIP, UntrustedPerNet int
}

// connLimit counts open connections in total, per client address (IPv6
// per /64, as for AUTH failures) and, for untrusted ones, per address and
// per network too, so outsiders can neither take every session nor crowd
// each other out from one network. A connection that authenticates is
// promoted: it leaves the untrusted counts and keeps its slot.
type connLimit struct {
	lim connLimits

	mu           sync.Mutex
	n, untrusted int
	byClient     map[netip.Prefix]int
	untrustedBy  map[netip.Prefix]int // untrusted, per client key and per network key
}

func newConnLimit(lim connLimits) *connLimit {
	return &connLimit{lim: lim, byClient: map[netip.Prefix]int{}, untrustedBy: map[netip.Prefix]int{}}
}

// acquire takes a slot for ip, or returns the refusal: errTooManyFromIP or
// errTooManyFromNet past a per-client or per-network limit,
// errTooManyConns past the untrusted share or the total.
func (l *connLimit) acquire(ip netip.Addr, untrusted bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, nk := clientKey(ip), netKey(ip)
	over := func(limit, n int) bool { return limit > 0 && n >= limit }
	switch {
	case over(l.lim.PerIP, l.byClient[k]):
		return errTooManyFromIP
	case untrusted && over(l.lim.UntrustedPerIP, l.untrustedBy[k]):
		return errTooManyFromIP
	case untrusted && nk != k && over(l.lim.UntrustedPerNet, l.untrustedBy[nk]):
		return errTooManyFromNet
	case untrusted && over(l.lim.Untrusted, l.untrusted), over(l.lim.Total, l.n):
		return errTooManyConns
	}
	l.n++
	l.byClient[k]++
	if untrusted {
		l.untrusted++
		for _, k := range untrustedKeys(ip) {
			l.untrustedBy[k]++
		}
	}
	return nil
}

// promote moves an untrusted connection from ip out of the untrusted
// counts (it has authenticated); the caller does it at most once.
func (l *connLimit) promote(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropUntrusted(ip)
}

func (l *connLimit) release(ip netip.Addr, untrusted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := clientKey(ip)
	l.n--
	if l.byClient[k]--; l.byClient[k] <= 0 {
		delete(l.byClient, k)
	}
	if untrusted {
		l.dropUntrusted(ip)
	}
}

func (l *connLimit) dropUntrusted(ip netip.Addr) {
	l.untrusted--
	for _, k := range untrustedKeys(ip) {
		if l.untrustedBy[k]--; l.untrustedBy[k] <= 0 {
			delete(l.untrustedBy, k)
		}
	}
}

// untrustedKeys are ip's client and network keys, once each (an invalid
// ip has one key for both).
func untrustedKeys(ip netip.Addr) []netip.Prefix {
	k, nk := clientKey(ip), netKey(ip)
	if k == nk {
		return []netip.Prefix{k}
	}
	return []netip.Prefix{k, nk}
}

// trustedIP reports whether ip is in one of the trusted networks.
func trustedIP(trusted []netip.Prefix, ip netip.Addr) bool {
	for _, p := range trusted {
		if ip.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}
