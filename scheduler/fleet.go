package scheduler

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// FleetShare is fleet mode's say in destination limits (docs/CLUSTER.md,
// Shared throttles). The configured per-domain concurrency and rate are
// the fleet's: this node takes its share, limit / Nodes(). What a node
// learns about a destination (a throttling reply, a dead destination, its
// recovery) is published for the others, who apply it through
// Scheduler.ApplyRemote. Nothing here may block: the scheduler calls it
// under its lock, at most once per dispatch and per state change, never
// per message.
type FleetShare interface {
	// Nodes is how many nodes share every destination now: the live ones,
	// or the last count known while the database is away. At least 1.
	Nodes() int
	// Publish hands a destination's change to the fleet. It must not block.
	Publish(DestEvent)
}

// DestEvent is one destination's change, as shared with the fleet.
type DestEvent struct {
	Domain string
	// Kind is DestThrottled (the limit halved, new starts paused for
	// Wait), DestParked (the breaker open, the next probe after Wait) or
	// DestOK (the breaker closed: the destination answers again).
	Kind string
	// Wait is the pause or the park wait the change started with; Left is
	// what remains of it when the event is applied (0: all of Wait).
	Wait, Left time.Duration
	Reply      string
	Node       string // the node it happened on, for the log
}

// DestEvent kinds.
const (
	DestThrottled = "throttled"
	DestParked    = "parked"
	DestOK        = "ok"
)

// nodes is the share divisor; the caller holds s.mu or does not care.
func (s *Scheduler) nodes() int {
	if s.o.Fleet == nil {
		return 1
	}
	return max(1, s.o.Fleet.Nodes())
}

// publish tells the fleet what one observation changed; before is the
// destination's copy taken before it. Called under s.mu.
func (s *Scheduler) publish(domain string, before dest, d *dest) {
	if s.o.Fleet == nil {
		return
	}
	switch {
	case d.parkedTo.After(before.parkedTo):
		s.o.Fleet.Publish(DestEvent{Domain: domain, Kind: DestParked, Wait: d.parkWait, Reply: d.last})
	case !before.parkedTo.IsZero() && d.parkedTo.IsZero():
		s.o.Fleet.Publish(DestEvent{Domain: domain, Kind: DestOK})
	case d.pausedTo.After(before.pausedTo):
		s.o.Fleet.Publish(DestEvent{Domain: domain, Kind: DestThrottled, Wait: d.pause, Reply: d.last})
	}
}

// remoteSlack delays a remotely parked destination's probe behind the
// probe of the node that parked it, so that one node probes and the
// others hear its verdict instead of all probing at once.
func remoteSlack(wait time.Duration) time.Duration { return wait / 10 }

// ApplyRemote applies another node's destination change here, as if this
// node had seen it, but without publishing it again. A throttling reply
// within a pause already running counts once, as locally; a park never
// shortens one this node decided; a recovery closes the breaker.
func (s *Scheduler) ApplyRemote(ctx context.Context, e DestEvent) {
	domain := destKey(e.Domain)
	if domain == "" {
		return
	}
	left := e.Left
	if left <= 0 || left > e.Wait {
		left = e.Wait
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	d := s.destFor(domain)
	d.seen = now
	before := d.state(now)
	var leases []queue.Lease
	switch e.Kind {
	case DestThrottled:
		if left > 0 && !now.Before(d.pausedTo) {
			d.limit = max(1, d.limit/2)
			d.okRun = 0
			d.pause = min(max(e.Wait, pauseMin), pauseMax)
			d.pausedTo = now.Add(left)
			d.last = e.Reply
		}
	case DestParked:
		if at := now.Add(left + remoteSlack(left)); left > 0 && at.After(d.parkedTo) {
			d.parkWait = min(max(e.Wait, d.parkFirst), d.parkMax)
			d.parkedTo = at
			d.probing = false
			d.fails = max(d.fails, tripAfter)
			d.last = e.Reply
			leases = s.parkLane(domain, d)
		}
	case DestOK:
		if !d.parkedTo.IsZero() {
			d.fails, d.probing, d.parkedTo, d.parkWait = 0, false, time.Time{}, 0
			d.pause, d.pausedTo = 0, time.Time{}
		}
	}
	after, limit, parkedTo := d.state(now), d.limit, d.parkedTo
	s.mu.Unlock()
	if before != after {
		fields := []zap.Field{zap.String("domain", domain), zap.String("from", before), zap.String("to", after),
			zap.Int("limit", limit), zap.String("reply", e.Reply), zap.String("by_node", e.Node)}
		if !parkedTo.IsZero() {
			fields = append(fields, zap.Time("parked_until", parkedTo))
		}
		s.o.Logger.Info("destination state", fields...)
	}
	if len(leases) > 0 {
		if err := s.o.Store.Lease(ctx, leases); err != nil {
			s.o.Logger.Error("parking a destination's queued jobs", zap.String("domain", domain), zap.Error(err))
		}
	}
	s.Wake() // a recovery may start jobs now
}

// parkLane takes the jobs waiting in domain's lane out of memory and
// returns their leases moved to the probe time. The caller holds s.mu.
func (s *Scheduler) parkLane(domain string, d *dest) []queue.Lease {
	l := s.lanes[domain]
	if l == nil {
		return nil
	}
	var leases []queue.Lease
	for _, j := range l.jobs {
		for _, r := range j.rcpts {
			delete(s.inflight, rkey{j.msg.ID, r.Index})
			leases = append(leases, queue.Lease{ID: j.msg.ID, Rcpt: r.Index, Until: d.parkedTo})
		}
	}
	l.jobs = nil
	return leases
}
