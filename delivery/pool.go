package delivery

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
)

// pool keeps sessions between Deliver calls, per destination (the domain,
// or the relay), for at most idle after their last transaction. The newest
// is reused first. A sweeper goroutine, running only while something is
// idle, QUITs the expired ones; get drops expired ones it meets. Time is
// the wall clock: it is about sockets and the servers' idle timers.
type pool struct {
	idle    time.Duration // <= 0: no reuse
	maxIdle int           // idle sessions kept per destination
	clk     clock.Clock

	mu       sync.Mutex
	conns    map[string][]idleSession
	closed   bool
	sweeping bool
	quit     chan struct{}
	sweeper  sync.WaitGroup
}

type idleSession struct {
	s     *session
	since time.Time
}

func newPool(idle time.Duration, maxIdle int) *pool {
	return &pool{idle: idle, maxIdle: maxIdle, clk: clock.Real{}, conns: map[string][]idleSession{}, quit: make(chan struct{})}
}

// get takes the newest live idle session for key, or returns nil.
func (p *pool) get(key string) *session {
	p.mu.Lock()
	list := p.conns[key]
	var s *session
	var expired []*session
	now := p.clk.Now()
	for s == nil && len(list) > 0 {
		last := list[len(list)-1]
		list = list[:len(list)-1]
		if now.Sub(last.since) < p.idle {
			s = last.s
		} else {
			expired = append(expired, last.s)
		}
	}
	if s == nil {
		expired = append(expired, sessionsOf(list)...) // older still
		list = nil
	}
	p.store(key, list)
	p.mu.Unlock()
	for _, e := range expired {
		e.broken = true // not worth a QUIT round trip in the way of a delivery
		e.close()
	}
	return s
}

// put keeps s for reuse; false when the pool will not (reuse off, closed,
// full): the caller closes s.
func (p *pool) put(s *session) bool {
	if p.idle <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := s.dst.key
	if p.closed || len(p.conns[key]) >= p.maxIdle {
		return false
	}
	s.reused = false
	p.conns[key] = append(p.conns[key], idleSession{s: s, since: p.clk.Now()})
	if !p.sweeping {
		p.sweeping = true
		p.sweeper.Add(1)
		go p.sweep()
	}
	return true
}

func (p *pool) store(key string, list []idleSession) {
	if len(list) == 0 {
		delete(p.conns, key)
		return
	}
	p.conns[key] = list
}

// sweep closes expired sessions every idle/2 until the pool is empty or
// closed.
func (p *pool) sweep() {
	defer p.sweeper.Done()
	for {
		t := p.clk.NewTimer(max(p.idle/2, 10*time.Millisecond))
		select {
		case <-p.quit:
			t.Stop()
			return
		case <-t.C():
		}
		expired, more := p.expire()
		closeAll(expired)
		if !more {
			return
		}
	}
}

// expire removes the expired sessions; more is false when nothing is left
// idle, and the sweeper then stops.
func (p *pool) expire() (expired []*session, more bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clk.Now()
	for key, list := range p.conns {
		keep := list[:0]
		for _, e := range list {
			if now.Sub(e.since) >= p.idle {
				expired = append(expired, e.s)
			} else {
				keep = append(keep, e)
			}
		}
		p.store(key, keep)
	}
	more = len(p.conns) > 0 && !p.closed
	if !more {
		p.sweeping = false
	}
	return expired, more
}

// close QUITs every idle session and stops the sweeper; later puts are
// refused.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.quit)
	var all []*session
	for _, list := range p.conns {
		all = append(all, sessionsOf(list)...)
	}
	p.conns = nil
	p.mu.Unlock()
	closeAll(all)
	p.sweeper.Wait()
}

func sessionsOf(list []idleSession) []*session {
	out := make([]*session, len(list))
	for i, e := range list {
		out[i] = e.s
	}
	return out
}

// closeAll QUITs and closes sessions in parallel.
func closeAll(ss []*session) {
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(s.close)
	}
	wg.Wait()
}

// fromPool runs job on an idle connection to key if there is one. ok is
// false when none took it: the caller opens a new connection. A pooled
// connection that turns out dead or answers 421 before MAIL is dropped
// and the next one (or a new one) tried; its failure is nobody's result.
// An enforce MTA-STS policy (sts) refuses sessions it would not have
// opened.
func (d *Deliverer) fromPool(ctx context.Context, job Job, body []byte, key string, sts *CachedSTS) ([]Result, bool) {
	for {
		s := d.pool.get(key)
		if s == nil {
			return nil, false
		}
		if !stsAllows(sts, s) {
			s.close() // opened before the enforce policy, or without verified TLS
			continue
		}
		// The cap holds for reused connections too, except the relay's,
		// which viaRelay does not cap either (it is the operator's own).
		capped := s.dst.relay == nil
		if capped && !d.ips.acquire(s.dst.ip) {
			d.release(s) // keep it idle
			return nil, false
		}
		s.reused = true
		s.bind(ctx, job)
		res, fail, stale := s.send(body)
		s.unbind()
		if capped {
			d.ips.release(s.dst.ip)
		}
		if stale {
			d.log.Debug("idle connection went stale", zap.String("domain", job.Domain),
				zap.String("mx", s.dst.host), zap.String("ip", s.dst.ip.String()))
			s.broken = true
			s.close()
			continue
		}
		if fail != nil {
			d.release(s)
			return nil, false
		}
		d.logAttempt(job, s, outcome{results: res})
		d.release(s)
		return res, true
	}
}

// release returns a session to the pool, or closes it when it is broken,
// has carried MaxMessagesPerConn transactions, or the pool is full.
func (d *Deliverer) release(s *session) {
	if s.broken || s.txns >= d.opts.MaxMessagesPerConn || !d.pool.put(s) {
		s.close()
	}
}
