package delivery

import (
	"net"
	"sync"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// Defaults of the per-address breaker.
const (
	DefaultDownAfter = 3                // consecutive unanswered connections
	DefaultDownFirst = time.Minute      // first skip period, doubled per failed probe
	DefaultDownMax   = 30 * time.Minute // longest skip period
)

// ipHealth is a circuit breaker per exchanger address, shared by every
// domain: after downAfter connections in a row got no answer (refused,
// connect timeout, no greeting before GreetingTimeout) the address is
// skipped for a while, so a tarpit costs workers for a few greeting
// timeouts, not for every job of every domain that names it. When the
// period ends, one connection probes it; its failure doubles the period,
// any greeting (even a 421) closes the breaker.
type ipHealth struct {
	clk         clock.Clock
	after       int
	first, most time.Duration

	mu sync.Mutex
	m  map[string]*ipState
}

type ipState struct {
	fails   int
	wait    time.Duration
	downTo  time.Time // zero: closed
	probing bool
}

func newIPHealth(clk clock.Clock, after int, first, most time.Duration) *ipHealth {
	return &ipHealth{clk: clk, after: after, first: first, most: max(first, most), m: map[string]*ipState{}}
}

// skip reports whether ip is to be skipped now, and until when. Past the
// skip period the first caller is let through as the probe.
func (h *ipHealth) skip(ip net.IP) (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.m[ip.String()]
	switch {
	case st == nil || st.downTo.IsZero():
		return false, time.Time{}
	case h.clk.Now().Before(st.downTo) || st.probing:
		return true, st.downTo
	}
	st.probing = true
	return false, time.Time{}
}

// report records whether a connection to ip got an answer.
func (h *ipHealth) report(ip net.IP, answered bool) {
	k := ip.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.m[k]
	if answered {
		delete(h.m, k)
		return
	}
	if st == nil {
		st = &ipState{}
		h.m[k] = st
	}
	st.fails++
	if st.probing || (st.downTo.IsZero() && st.fails >= h.after) {
		st.wait = min(max(2*st.wait, h.first), h.most)
		st.downTo = h.clk.Now().Add(st.wait)
		st.probing = false
	}
}

// unanswered reports whether an attempt's failure means the address did
// not answer at all: the dial failed, or no greeting came.
func unanswered(r Result) bool {
	return r.Code == 0 && (r.Stage == StageDial || r.Stage == StageGreeting)
}
