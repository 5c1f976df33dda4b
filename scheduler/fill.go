package scheduler

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/queue"
)

// fillWindow takes due recipients into memory up to the window, leases them
// (Q2: the retry time is on disk before the attempt starts) and queues them
// as jobs on their domain's lane. It returns how many it took and how many
// due recipients it passed over because they are in memory already.
func (s *Scheduler) fillWindow(ctx context.Context) (took, busy int, err error) {
	s.mu.Lock()
	room := s.o.Window - len(s.inflight)
	s.mu.Unlock()
	if room < s.refill() {
		return 0, 0, nil
	}
	now := s.o.Clock.Now()
	// Ask for more than room: some due keys may be ours already (a lease
	// that ran out while the job waited in its lane).
	extra, pacing := s.catchUpScan()
	due, err := s.o.Store.Due(ctx, now, room+s.InFlight()+extra)
	if err != nil {
		return 0, 0, err
	}
	if pacing {
		due = s.paceDue(due, now, room)
	}
	if err := s.loadSent(ctx); err != nil {
		return 0, 0, err
	}
	jobs, leases, busy, warm := s.group(ctx, due, room)
	s.deferWarm(ctx, warm)
	jobs, leases = s.parkDue(ctx, jobs, leases)
	if len(leases) == 0 {
		return 0, busy, nil
	}
	if err := s.recordSent(ctx, jobs); err != nil {
		s.release(jobs)
		return 0, busy, err
	}
	if err := s.o.Store.Lease(ctx, leases); err != nil {
		s.release(jobs)
		return 0, busy, err
	}
	s.enqueue(jobs)
	return len(leases), busy, nil
}

// group turns due recipients into jobs and their leases, marking them in
// flight. Recipients of one message and domain share jobs of MaxRcpts.
// The messages are loaded without the scheduler's lock (up to Window
// reads, which workers reporting results must not wait behind); the lock
// is taken only to see what is in flight and then to mark what was taken.
func (s *Scheduler) group(ctx context.Context, due []queue.Due, room int) (jobs []*job, leases []queue.Lease, busy int, warm []warmWait) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	fresh := make([]queue.Due, 0, len(due))
	for _, d := range due {
		if _, ok := s.inflight[rkey{d.ID, d.Rcpt}]; ok {
			busy++
			continue
		}
		fresh = append(fresh, d)
	}
	s.mu.Unlock()

	msgs := make(map[string]*queue.Message)
	take := make([]queue.Due, 0, min(room, len(fresh)))
	for _, d := range fresh {
		if len(take) >= room {
			break
		}
		m, ok := msgs[d.ID]
		if !ok {
			var err error
			if m, err = s.o.Store.Message(ctx, d.ID); err != nil {
				if !errors.Is(err, queue.ErrNotFound) {
					s.o.Logger.Error("loading a due message", zap.String("queue_id", d.ID), zap.Error(err))
				}
				m = nil
			}
			msgs[d.ID] = m
		}
		if m == nil || d.Rcpt >= len(m.Recipients) || !m.Recipients[d.Rcpt].State.Pending() {
			continue
		}
		take = append(take, d)
	}

	open := make(map[string]*job) // "id domain" → job being filled
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range take {
		k := rkey{d.ID, d.Rcpt}
		if _, ok := s.inflight[k]; ok {
			busy++ // taken meanwhile
			continue
		}
		m := msgs[d.ID]
		r := m.Recipients[d.Rcpt]
		dom := destKey(r.Domain)
		jk := d.ID + " " + dom
		j := open[jk]
		if j == nil || len(j.rcpts) >= s.o.MaxRcpts || !s.hasRoom(j) {
			v, ok := s.chooseSource(m, dom)
			if !ok {
				warm = append(warm, warmWait{msg: m, rcpt: r, pool: s.src.poolOf(m), domain: dom})
				continue
			}
			j = &job{msg: m, domain: dom, dest: destOf(dom, v), via: v}
			open[jk] = j
			jobs = append(jobs, j)
		}
		if ip := j.via.ip(); ip != "" {
			s.src.sent[sentKey{ip, dom}]++
		}
		j.rcpts = append(j.rcpts, r)
		s.inflight[k] = struct{}{}
		until := s.o.Schedule.Next(r.Attempts+1, now, m.Arrived, s.o.Rand())
		leases = append(leases, queue.Lease{ID: d.ID, Rcpt: d.Rcpt, Until: until})
	}
	return jobs, leases, busy, warm
}

// chooseSource picks the pool and source address of a new job of m to
// domain; false when every source of its pool is at today's warm-up cap.
// Without pools it is the zero via. The caller holds s.mu.
func (s *Scheduler) chooseSource(m *queue.Message, domain string) (via, bool) {
	if s.src == nil {
		return via{}, true
	}
	p := s.src.poolOf(m)
	src, ok := s.src.pick(p, domain)
	return via{pool: p.Name, src: src}, ok
}

// hasRoom reports whether j's source may take one more recipient today.
// The caller holds s.mu.
func (s *Scheduler) hasRoom(j *job) bool {
	if s.src == nil || j.via.ip() == "" {
		return true
	}
	return s.src.room(s.src.pools[j.via.pool], j.via.ip(), j.domain)
}

// destOf is a job's destination key: the domain, and with pools the
// source address it leaves from, so throttling, parking and the
// concurrency limits apply per source address (a receiver may slow down
// or block one of our addresses and not another).
func destOf(domain string, v via) string {
	if ip := v.ip(); ip != "" {
		return domain + destFrom + ip
	}
	return domain
}

const destFrom = " from "

// splitDest is destOf undone.
func splitDest(key string) (domain, sourceIP string) {
	domain, sourceIP, _ = strings.Cut(key, destFrom)
	return domain, sourceIP
}

// destKey is the destination (lane, adaptive state, breaker) of a
// recipient domain: its A-label, so "bücher.test" and "xn--bcher-kva.test"
// share one lane and one limit, whatever form intake stored.
func destKey(domain string) string {
	if k, err := delivery.ASCIIDomain(domain); err == nil {
		return k
	}
	return domain // not a valid IDN: delivery refuses it as such
}

// release forgets jobs that could not be leased.
func (s *Scheduler) release(jobs []*job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		for _, r := range j.rcpts {
			delete(s.inflight, rkey{j.msg.ID, r.Index})
		}
	}
}

// enqueue appends jobs to their lanes.
func (s *Scheduler) enqueue(jobs []*job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		l := s.lanes[j.dest]
		if l == nil {
			l = &lane{}
			s.lanes[j.dest] = l
			s.ring = append(s.ring, j.dest)
		}
		l.jobs = append(l.jobs, j)
	}
}

// dispatch starts jobs while workers are free, taking one job per lane in
// turn so that a domain with a deep backlog cannot starve the others, and
// skipping lanes at their concurrency limit.
func (s *Scheduler) dispatch(ctx context.Context) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.nodes() // once per dispatch: the share moves with heartbeats, not per job
	for s.running < s.o.Workers {
		started := false
		n, start := len(s.ring), s.next
		for i := 0; i < n && s.running < s.o.Workers; i++ {
			pos := (start + i) % n
			l := s.lanes[s.ring[pos]]
			d := s.destFor(s.ring[pos])
			if len(l.jobs) == 0 || !d.canStart(now, l.active, nodes) {
				continue
			}
			probe := d.started(now, nodes)
			j := l.jobs[0]
			j.probe, j.again = probe, false
			l.jobs[0] = nil
			l.jobs = l.jobs[1:]
			l.active++
			s.running++
			s.next = (pos + 1) % n
			started = true
			s.wg.Add(1)
			go s.run(ctx, j)
		}
		if !started {
			break
		}
	}
	s.compactRing()
}

// compactRing drops idle lanes so the ring only holds domains with work.
func (s *Scheduler) compactRing() {
	keep := s.ring[:0]
	now := s.o.Clock.Now()
	for _, d := range s.ring {
		l := s.lanes[d]
		if len(l.jobs) == 0 && l.active == 0 {
			delete(s.lanes, d)
			if st := s.dests[d]; st != nil && st.idle(now) {
				delete(s.dests, d)
			}
			continue
		}
		keep = append(keep, d)
	}
	s.ring = keep
	if s.next >= len(s.ring) {
		s.next = 0
	}
}

// done returns a job's worker and recipients, then wakes the loop. With
// again (a Busy job: delivery found every exchanger address at its cap),
// those recipients stay in flight and the job goes back to the front of
// its lane, which holds until another of its jobs ends or BusyWait passes.
// Any other ending lifts that hold: a slot was freed.
func (s *Scheduler) done(j *job, again []queue.Recipient) {
	s.mu.Lock()
	keep := map[int]bool{}
	for _, r := range again {
		keep[r.Index] = true
	}
	for _, r := range j.rcpts {
		if !keep[r.Index] {
			delete(s.inflight, rkey{j.msg.ID, r.Index})
		}
	}
	l := s.lanes[j.dest]
	l.active--
	s.running--
	d := s.destFor(j.dest)
	if again != nil {
		j.rcpts, j.probe, j.again = again, false, true
		k := 0 // behind the jobs already waiting again: their order is kept
		for k < len(l.jobs) && l.jobs[k].again {
			k++
		}
		l.jobs = slices.Insert(l.jobs, k, j)
		d.busyTo = s.o.Clock.Now().Add(s.o.BusyWait)
	} else {
		d.busyTo = time.Time{}
		s.liftSiblings(j)
	}
	s.mu.Unlock()
	s.Wake()
}
