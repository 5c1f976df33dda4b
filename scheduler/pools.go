package scheduler

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Pool is a set of source addresses mail leaves from (Options.Pools).
type Pool struct {
	Name    string
	Sources []Source
	// Warmup caps what each source sends to one destination domain per
	// UTC day, counted from the source's first sending day.
	Warmup policy.Warmup
}

// Source is one local address of a pool and the EHLO name it announces.
type Source struct {
	IP   net.IP
	EHLO string
}

// SentStore keeps the per-day counters the warm-up caps and stats read;
// *queue.PebbleStore is one.
type SentStore interface {
	SentOn(ctx context.Context, day int) ([]queue.SentCount, error)
	SentStarts(ctx context.Context) (map[string]int, error)
	AddSent(ctx context.Context, counts []queue.SentCount) error
}

// via is where a job leaves from: its pool and source ("" without pools).
type via struct {
	pool string
	src  Source
}

func (v via) ip() string {
	if v.src.IP == nil {
		return ""
	}
	return v.src.IP.String()
}

type sentKey struct{ ip, domain string }

// sources is the pools' state, guarded by Scheduler.mu. Counts are of
// recipients taken into jobs (leased) per source and destination domain
// on the current UTC day; they are written through SentStore before the
// lease, so a restart starts from them. A parked job's recipients are
// taken back; one screened out or not sent (shutdown) stays counted,
// which errs on the side of sending less.
type sources struct {
	pools  map[string]*Pool
	def    *Pool
	next   map[string]int // pool → where the next round-robin tie starts
	day    int            // the UTC day sent counts; -1: not loaded
	sent   map[sentKey]int
	starts map[string]int // source IP → first sending day
}

func newSources(pools []Pool, def string) *sources {
	if len(pools) == 0 {
		return nil
	}
	src := &sources{pools: map[string]*Pool{}, next: map[string]int{}, day: -1,
		sent: map[sentKey]int{}, starts: map[string]int{}}
	for i := range pools {
		p := &pools[i]
		src.pools[p.Name] = p
		if p.Name == def {
			src.def = p
		}
	}
	if src.def == nil {
		src.def = &pools[0]
	}
	return src
}

// poolOf is a message's pool: the one intake recorded, or the default
// when none was or it is no longer configured.
func (src *sources) poolOf(m *queue.Message) *Pool {
	if p := src.pools[m.Pool]; p != nil {
		return p
	}
	return src.def
}

// limit is ip's cap for today, ok=false when it has none.
func (src *sources) limit(p *Pool, ip string) (int, bool) {
	first, ok := src.starts[ip]
	if !ok {
		first = src.day
	}
	return p.Warmup.Cap(src.day - first)
}

func (src *sources) room(p *Pool, ip, domain string) bool {
	c, capped := src.limit(p, ip)
	return !capped || src.sent[sentKey{ip, domain}] < c
}

// pick returns the source of p that sent least to domain today among
// those under their cap, ties taken in turn; false when all are at it.
func (src *sources) pick(p *Pool, domain string) (Source, bool) {
	n := len(p.Sources)
	best, least := -1, 0
	for i := range n {
		k := (src.next[p.Name] + i) % n
		ip := p.Sources[k].IP.String()
		if !src.room(p, ip, domain) {
			continue
		}
		if sent := src.sent[sentKey{ip, domain}]; best < 0 || sent < least {
			best, least = k, sent
		}
	}
	if best < 0 {
		return Source{}, false
	}
	src.next[p.Name] = (best + 1) % n
	return p.Sources[best], true
}

// loadSent reads today's counters when the day changed (or at the
// first scan), outside the lock, and puts them in place.
func (s *Scheduler) loadSent(ctx context.Context) error {
	day := queue.Day(s.o.Clock.Now())
	s.mu.Lock()
	need := s.src != nil && s.src.day != day
	s.mu.Unlock()
	if !need {
		return nil
	}
	sent, starts := map[sentKey]int{}, map[string]int{}
	if s.o.Sent != nil {
		counts, err := s.o.Sent.SentOn(ctx, day)
		if err != nil {
			return fmt.Errorf("reading sent counters: %w", err)
		}
		for _, c := range counts {
			sent[sentKey{c.SourceIP, c.Domain}] = c.N
		}
		if starts, err = s.o.Sent.SentStarts(ctx); err != nil {
			return fmt.Errorf("reading sent counters: %w", err)
		}
	}
	s.mu.Lock()
	if s.src.day != day { // the first loader wins: a later one may have read before group counted
		s.src.day, s.src.sent = day, sent
		if s.o.Sent != nil { // else the first days known are only in memory: keep them
			s.src.starts = starts
		}
	}
	s.mu.Unlock()
	return nil
}

// warmWait is a recipient every source of its pool has taken today's cap
// for: it waits for the next day (a local deferral).
type warmWait struct {
	msg    *queue.Message
	rcpt   queue.Recipient
	pool   *Pool
	domain string
}

// recordSent counts jobs' recipients per source and domain, in memory
// (already, by group) and on disk, before their lease; it also notes the
// first sending day of a source seen for the first time.
func (s *Scheduler) recordSent(ctx context.Context, jobs []*job) error {
	if s.src == nil {
		return nil
	}
	s.mu.Lock()
	day := s.src.day
	sums := map[sentKey]int{}
	for _, j := range jobs {
		if ip := j.via.ip(); ip != "" {
			sums[sentKey{ip, j.domain}] += len(j.rcpts)
			if _, ok := s.src.starts[ip]; !ok {
				s.src.starts[ip] = day
			}
		}
	}
	s.mu.Unlock()
	if s.o.Sent == nil || len(sums) == 0 {
		return nil
	}
	counts := make([]queue.SentCount, 0, len(sums))
	for k, n := range sums {
		counts = append(counts, queue.SentCount{Day: day, SourceIP: k.ip, Domain: k.domain, N: n})
	}
	return s.o.Sent.AddSent(ctx, counts)
}

// liftSiblings ends the Busy hold of the domain's lanes from the other
// source addresses when a job of it ends: they wait for the same
// exchanger addresses' connection slots, and one was just freed. The
// caller holds s.mu.
func (s *Scheduler) liftSiblings(j *job) {
	if s.src == nil || j.via.ip() == "" {
		return
	}
	for _, p := range s.o.Pools {
		for _, src := range p.Sources {
			if d := s.dests[destOf(j.domain, via{src: src})]; d != nil {
				d.busyTo = time.Time{}
			}
		}
	}
}

// untake gives back what a job counted (it was parked, not leased).
// The caller holds s.mu.
func (s *Scheduler) untake(j *job) {
	if ip := j.via.ip(); ip != "" && s.src != nil {
		s.src.sent[sentKey{ip, j.domain}] -= len(j.rcpts)
	}
}

// deferWarm moves recipients over today's warm-up cap to the next UTC day
// (spread over its first 10 minutes): a local deferral with its reason in
// the timeline; no attempt counted, no backoff, no event. Expiry is not
// enforced here: waiting for warm-up never expires a message; the first
// real attempt after retry.expire still does.
func (s *Scheduler) deferWarm(ctx context.Context, waits []warmWait) {
	if len(waits) == 0 {
		return
	}
	now := s.o.Clock.Now()
	tomorrow := queue.DayStart(queue.Day(now) + 1)
	ups := make([]queue.Update, 0, len(waits))
	for _, w := range waits {
		next := tomorrow.Add(time.Duration(s.o.Rand() * float64(10*time.Minute)))
		text := s.warmText(w, next)
		reply := &queue.Reply{Enhanced: "4.4.5", Text: text}
		ups = append(ups, queue.Update{
			ID: w.msg.ID, Rcpt: w.rcpt.Index, Address: w.rcpt.Address, State: w.rcpt.State,
			NextAttempt: next, Reply: reply, AboutAddress: w.rcpt.LastAboutAddress,
			Attempt: &queue.Attempt{At: now, Pool: w.pool.Name, Reply: *reply,
				Decision: string(queue.Deferred), NextAttempt: next},
		})
		s.o.MailLog.Info("warm-up wait", zap.String("queue_id", w.msg.ID), zap.String("rcpt", w.rcpt.Address),
			zap.String("domain", w.domain), zap.String("pool", w.pool.Name), zap.Time("next_attempt", next))
	}
	if err := s.o.Store.Apply(ctx, ups); err != nil {
		s.o.Logger.Error("deferring recipients over the warm-up cap", zap.Error(err))
	}
}

// warmText says which caps were reached: every source's count and cap.
func (s *Scheduler) warmText(w warmWait, next time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := make([]string, 0, len(w.pool.Sources))
	for _, src := range w.pool.Sources {
		ip := src.IP.String()
		c, _ := s.src.limit(w.pool, ip)
		parts = append(parts, fmt.Sprintf("%s %d/%d", ip, s.src.sent[sentKey{ip, w.domain}], c))
	}
	return fmt.Sprintf("warm-up: pool %s has reached today's cap for %s (%s); next try after %s",
		w.pool.Name, w.domain, strings.Join(parts, ", "), next.UTC().Format(time.RFC3339))
}

// SourceStat is what one source address of a pool took on today.
type SourceStat struct {
	Pool     string `json:"pool"`
	SourceIP string `json:"source_ip"`
	EHLO     string `json:"ehlo,omitempty"`
	// WarmupDay counts from 0, the source's first sending day; -1 when
	// the pool has no warm-up.
	WarmupDay int `json:"warmup_day"`
	// Cap is today's cap per destination domain; 0 when there is none.
	Cap  int `json:"cap"`
	Sent int `json:"sent"` // today, across destinations
	// Domains lists today's count per destination, most first.
	Domains []DomainSent `json:"domains,omitempty"`
}

// DomainSent is one destination's count today.
type DomainSent struct {
	Domain string `json:"domain"`
	Sent   int    `json:"sent"`
}

// Sources reports every pool's source addresses and what each sent
// today against its cap, in configuration order; nil without pools.
func (s *Scheduler) Sources(ctx context.Context) []SourceStat {
	if err := s.loadSent(ctx); err != nil {
		s.o.Logger.Warn("reading sent counters", zap.Error(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		return nil
	}
	var out []SourceStat
	for _, p := range s.o.Pools {
		for _, src := range p.Sources {
			ip := src.IP.String()
			st := SourceStat{Pool: p.Name, SourceIP: ip, EHLO: src.EHLO, WarmupDay: -1}
			if p.Warmup.Period > 0 {
				first, ok := s.src.starts[ip]
				if !ok {
					first = s.src.day
				}
				st.WarmupDay = s.src.day - first
				st.Cap, _ = s.src.limit(&p, ip)
			}
			for k, n := range s.src.sent {
				if k.ip == ip && n > 0 {
					st.Sent += n
					st.Domains = append(st.Domains, DomainSent{Domain: k.domain, Sent: n})
				}
			}
			slices.SortFunc(st.Domains, func(a, b DomainSent) int {
				if a.Sent != b.Sent {
					return b.Sent - a.Sent
				}
				if a.Domain < b.Domain {
					return -1
				}
				return 1
			})
			out = append(out, st)
		}
	}
	return out
}
