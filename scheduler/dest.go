package scheduler

import (
	"sort"
	"time"
)

// Destination behaviour defaults.
const (
	tripAfter    = 5                // consecutive unreachable results open the breaker
	restoreEvery = 5                // successes per step of concurrency regained
	pauseMin     = time.Second      // first pause after a throttling reply
	pauseMax     = time.Minute      // longest pause
	parkMax      = 30 * time.Minute // longest wait between probes
)

// signal is what one job's results say about its destination.
type signal int

const (
	sigNone        signal = iota // nothing learnt (DNS trouble, all screened out)
	sigOK                        // the server talked to us past the greeting
	sigThrottled                 // 421 or a rate-limit reply: slow down
	sigUnreachable               // no host took a connection (refused, timeout, 421 greeting)
)

// dest is the adaptive state of one destination domain: its current
// concurrency limit and pause (throttling) and its circuit breaker. Its
// methods are called under Scheduler.mu with the time passed in.
type dest struct {
	max       int           // configured per-domain concurrency
	limit     int           // current limit, 1..max
	every     time.Duration // configured minimum interval between job starts; 0: none
	next      time.Time     // no job starts before (rate)
	pause     time.Duration // current throttling pause, 0 when none
	pausedTo  time.Time
	okRun     int           // successes since the limit last changed
	fails     int           // consecutive unreachable results
	parkFirst time.Duration // first wait before a probe: retry.first
	parkMax   time.Duration // longest wait between probes
	parkWait  time.Duration
	parkedTo  time.Time // zero: breaker closed
	probing   bool      // breaker half-open: the one probe is running
	last      string    // last reply text that changed the state
	answer    answer    // newest reply of any job (LastAnswer), and when
	answered  time.Time
	seen      time.Time
	busyTo    time.Time // a job found every exchanger address at its cap: hold starts until then
}

func newDest(limit int, every, parkFirst, parkLongest time.Duration) *dest {
	return &dest{max: limit, limit: limit, every: every, parkFirst: parkFirst, parkMax: max(parkFirst, parkLongest)}
}

// parked reports whether jobs must not even wait in memory: the breaker is
// open and its probe time has not come.
func (d *dest) parked(now time.Time) bool {
	return !d.parkedTo.IsZero() && now.Before(d.parkedTo)
}

// share is this node's part of the current limit when nodes share it
// (fleet mode): limit / nodes, rounded down so that the fleet stays within
// the limit, but at least 1 so that every node can deliver.
func (d *dest) share(nodes int) int {
	return max(1, d.limit/max(1, nodes))
}

// canStart reports whether one more job may start now with active running,
// this node being one of nodes sharing the destination's limits.
func (d *dest) canStart(now time.Time, active, nodes int) bool {
	switch {
	case d.parked(now), now.Before(d.pausedTo), now.Before(d.next), now.Before(d.busyTo):
		return false
	case !d.parkedTo.IsZero(): // half-open: exactly one probe at a time
		return active == 0 && !d.probing
	}
	return active < d.share(nodes)
}

// started records a job start and reports whether it is the breaker's
// probe. A throttled destination's rate spacing grows as its limit
// shrinks, and with nodes sharing the rate each spaces its starts nodes
// times as far.
func (d *dest) started(now time.Time, nodes int) (probe bool) {
	if !d.parkedTo.IsZero() {
		d.probing, probe = true, true
	}
	if d.every > 0 {
		d.next = now.Add(d.every * time.Duration(d.max) / time.Duration(d.limit) * time.Duration(max(1, nodes)))
	}
	d.seen = now
	return probe
}

// readyAt is when a lane blocked by pause or rate may start again.
func (d *dest) readyAt() time.Time {
	return maxTime(maxTime(d.pausedTo, d.next), d.busyTo)
}

// observe updates the state from a job's signal; probe says the job was
// the breaker's probe. It reports whether the breaker just opened (the
// lane's waiting jobs must then be parked). Jobs that were already running
// when it opened report in later: they count, but do not park it again.
func (d *dest) observe(now time.Time, sig signal, reply string, probe bool) (tripped bool) {
	d.seen = now
	if probe {
		d.probing = false // whatever it says, the next probe may go
	}
	switch sig {
	case sigOK:
		d.fails, d.probing, d.parkedTo, d.parkWait = 0, false, time.Time{}, 0
		d.pause, d.pausedTo = 0, time.Time{}
		if d.okRun++; d.okRun >= restoreEvery && d.limit < d.max {
			d.limit, d.okRun = d.limit+1, 0
		}
	case sigThrottled:
		d.throttle(now, reply)
	case sigUnreachable:
		d.throttle(now, reply)
		d.fails++
		if probe || (d.parkedTo.IsZero() && d.fails >= tripAfter) {
			d.park(now)
			return true
		}
	}
	return false
}

// throttle halves the limit (multiplicative decrease; successes add back
// one step at a time) and pauses new starts, doubling the pause each time.
// Replies to jobs that ran in parallel arrive together: within one pause
// they count as one signal, so a burst does not collapse the limit to 1.
func (d *dest) throttle(now time.Time, reply string) {
	d.last = reply
	if now.Before(d.pausedTo) {
		return
	}
	d.limit = max(1, d.limit/2)
	d.okRun = 0
	d.pause = min(max(2*d.pause, pauseMin), pauseMax)
	d.pausedTo = now.Add(d.pause)
}

// park opens the breaker (or re-opens it after a failed probe) with a
// doubling wait before the next probe.
func (d *dest) park(now time.Time) {
	d.parkWait = min(max(2*d.parkWait, d.parkFirst), d.parkMax)
	d.parkedTo = now.Add(d.parkWait)
	d.probing = false
}

// reset forgets what was learnt: full concurrency, breaker closed.
func (d *dest) reset() {
	*d = *newDest(d.max, d.every, d.parkFirst, d.parkMax)
}

// state names the destination's condition for operators.
func (d *dest) state(now time.Time) string {
	switch {
	case d.parked(now):
		return "parked"
	case !d.parkedTo.IsZero():
		return "probing"
	case d.limit < d.max || now.Before(d.pausedTo):
		return "throttled"
	}
	return "ok"
}

// idle reports whether the state carries nothing worth keeping.
func (d *dest) idle(now time.Time) bool {
	return d.state(now) == "ok" && now.Sub(d.seen) > 10*time.Minute
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// DestinationStatus is what an operator sees of one destination.
type DestinationStatus struct {
	Domain string `json:"domain"`
	// SourceIP: with pools, a destination is a domain from one source address.
	SourceIP    string    `json:"source_ip,omitempty"`
	State       string    `json:"state"` // ok, throttled, parked, probing
	Limit       int       `json:"limit"` // current concurrency limit (the fleet's in fleet mode)
	MaxLimit    int       `json:"max_limit"`
	NodeLimit   int       `json:"node_limit"` // this node's share of Limit: Limit / Nodes, at least 1
	Nodes       int       `json:"nodes"`      // nodes sharing the limit (1 outside fleet mode)
	Active      int       `json:"active"`     // jobs running
	Waiting     int       `json:"waiting"`    // jobs in memory, not started
	PausedUntil time.Time `json:"paused_until,omitzero"`
	ParkedUntil time.Time `json:"parked_until,omitzero"`
	Failures    int       `json:"consecutive_failures"`
	LastReply   string    `json:"last_reply,omitempty"`
	// LastAnswer is the newest reply of any job at the destination
	// (success, deferral or bounce: what the Queue page shows), and when;
	// LastReply is only the one that throttled or parked it.
	LastAnswer   string    `json:"last_answer,omitempty"`
	LastAnswered time.Time `json:"last_answered,omitzero"`
}

// Destinations returns the adaptive state of every destination the
// scheduler currently knows, throttled and parked ones first.
func (s *Scheduler) Destinations() []DestinationStatus {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.nodes()
	out := make([]DestinationStatus, 0, len(s.dests))
	for domain, d := range s.dests {
		st := DestinationStatus{State: d.state(now), Limit: d.limit, MaxLimit: d.max,
			NodeLimit: d.share(nodes), Nodes: nodes, Failures: d.fails, LastReply: d.last,
			LastAnswer: d.answer.String(), LastAnswered: d.answered}
		st.Domain, st.SourceIP = splitDest(domain)
		if now.Before(d.pausedTo) {
			st.PausedUntil = d.pausedTo
		}
		if d.parked(now) {
			st.ParkedUntil = d.parkedTo
		}
		if l := s.lanes[domain]; l != nil {
			st.Active, st.Waiting = l.active, len(l.jobs)
		}
		st.Domain, st.SourceIP = splitDest(domain) // with pools: "domain from IP"
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].State == "ok") != (out[j].State == "ok") {
			return out[j].State == "ok"
		}
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		return out[i].SourceIP < out[j].SourceIP
	})
	return out
}

// ResetDestination forgets domain's throttling and closes its breaker
// (from every source address, with pools); the parked recipients are
// retried at their leased time (use the queue's retry to bring them
// forward). It reports whether the domain was known.
func (s *Scheduler) ResetDestination(domain string) bool {
	domain = destKey(domain)
	s.mu.Lock()
	ok := false
	for key, d := range s.dests {
		if dom, _ := splitDest(key); dom == domain {
			d.reset()
			ok = true
		}
	}
	s.mu.Unlock()
	s.Wake()
	return ok
}
