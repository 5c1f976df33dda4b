package scheduler

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Deliverer hands one job to the destination; *delivery.Deliverer is one.
type Deliverer interface {
	Deliver(ctx context.Context, job delivery.Job) []delivery.Result
}

// Options configures a Scheduler.
type Options struct {
	Store     queue.Store
	Deliverer Deliverer
	Clock     clock.Clock
	Schedule  policy.Schedule
	TTLs      policy.TTLs
	// Classifier reads replies; nil uses the built-in rules alone.
	Classifier *policy.Classifier
	// SoftStreak: suppress an address after recipient-side soft failures on
	// this many distinct messages in a row (0: 3; negative: never).
	SoftStreak int
	// SenderAlarm: warn when a destination rejects us for sender-side
	// reasons this many times within SenderAlarmWindow (0: 10 in 10m).
	SenderAlarm       int
	SenderAlarmWindow time.Duration
	// PerDomainRate caps job starts per second per destination (0: none).
	PerDomainRate float64
	Workers       int // concurrent jobs overall (default 100)
	PerDomain     int // concurrent jobs per destination domain (default 20)
	Window        int // recipients held in memory at most (default 10000)
	MaxRcpts      int // recipients per job (default 100)
	// BusyWait: when delivery found every exchanger address of a job at
	// its connection cap, the job waits in its lane (a local deferral)
	// until another of the lane's jobs ends or this long (0: 1s).
	BusyWait time.Duration
	// CatchUpRate paces recipients already overdue when Run starts (a long
	// outage): they start over min(Schedule.First, overdue/CatchUpRate)
	// instead of all at once (0: 100 per second).
	CatchUpRate float64
	// Rand returns uniform draws in [0,1) for jitter; nil uses math/rand.
	Rand    func() float64
	Logger  *zap.Logger // scheduler events
	MailLog *zap.Logger // one line per recipient per attempt
	// ReturnPath, when set, gives the envelope sender a message goes out
	// with (the feedback loop's per-message token); nil sends the sender
	// it was submitted with. The queue, events and DSNs keep that one.
	ReturnPath func(*queue.Message) string
	// Pools are the source-address pools (pools.go); a message goes
	// from its Message.Pool, else DefaultPool, else the first. With pools
	// a destination (lane, limits, breaker) is a domain from one source
	// address. Sent keeps their daily counts (warm-up caps, stats); nil
	// keeps them in memory only.
	Pools       []Pool
	DefaultPool string
	Sent        SentStore
	// Fleet, in fleet mode, shares destination limits and what is learnt
	// about destinations with the other nodes; nil: this node is alone.
	Fleet FleetShare
	// OnOutcome, when set, hears every recipient outcome (metrics).
	OnOutcome func(Outcome)
}

// Outcome is one recipient's outcome, as told to Options.OnOutcome.
type Outcome struct {
	Domain   string
	Decision string        // delivered, deferred, bounced, failed, expired, rejected
	Category string        // the reply's category; "suppressed" for rejected
	Sent     bool          // a delivery attempt was made
	Duration time.Duration // the attempt's, when Sent
}

func (o *Options) fill() {
	if o.Workers <= 0 {
		o.Workers = 100
	}
	if o.PerDomain <= 0 {
		o.PerDomain = 20
	}
	if o.Window <= 0 {
		o.Window = 10000
	}
	if o.MaxRcpts <= 0 {
		o.MaxRcpts = 100
	}
	if o.BusyWait <= 0 {
		o.BusyWait = time.Second
	}
	if o.CatchUpRate <= 0 {
		o.CatchUpRate = 100
	}
	if o.SoftStreak == 0 {
		o.SoftStreak = 3
	}
	if o.SenderAlarm <= 0 {
		o.SenderAlarm = 10
	}
	if o.SenderAlarmWindow <= 0 {
		o.SenderAlarmWindow = 10 * time.Minute
	}
	if o.Classifier == nil {
		o.Classifier = &policy.Classifier{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Logger = o.Logger.Named("scheduler")
	if o.MailLog == nil {
		o.MailLog = o.Logger
	}
	if o.Schedule == (policy.Schedule{}) {
		o.Schedule = policy.DefaultSchedule
	}
	if o.OnOutcome == nil {
		o.OnOutcome = func(Outcome) {}
	}
}

// job is one transaction's worth of recipients of one message.
type job struct {
	msg    *queue.Message
	domain string // the recipients' domain (A-label)
	dest   string // its destination: lane, limits, breaker (destOf)
	via    via    // pool and source address; zero without pools
	rcpts  []queue.Recipient
	probe  bool // the circuit breaker's one probe of a parked destination
	again  bool // waiting again at its lane's front after a Busy attempt
}

// lane is the FIFO of jobs for one destination domain.
type lane struct {
	jobs   []*job
	active int
}

// Scheduler runs due work. Create with New, then call Run.
type Scheduler struct {
	o     Options
	wake  chan struct{}
	alarm *senderAlarm

	mu       sync.Mutex
	inflight map[rkey]struct{} // recipients leased and not yet applied
	lanes    map[string]*lane
	dests    map[string]*dest // adaptive limits and breaker, per destination (destOf)
	src      *sources         // pools and their daily counts; nil without pools
	ring     []string         // domains with queued jobs, served round-robin
	next     int              // ring position to serve next
	running  int
	catch    *catchUp              // pacing of what was overdue at start; nil when done
	tun      atomic.Pointer[tuned] // replies' reading and suppression lifetimes (Reconfigure)
	wg       sync.WaitGroup
}

type rkey struct {
	id   string
	rcpt int
}

// New returns a Scheduler; it does nothing until Run or Step.
func New(o Options) *Scheduler {
	o.fill()
	s := &Scheduler{
		o:        o,
		wake:     make(chan struct{}, 1),
		alarm:    newSenderAlarm(o.SenderAlarm, o.SenderAlarmWindow),
		inflight: make(map[rkey]struct{}),
		lanes:    make(map[string]*lane),
		dests:    make(map[string]*dest),
		src:      newSources(o.Pools, o.DefaultPool),
	}
	s.tun.Store(&tuned{verdicts: newVerdictCache(o.Classifier), ttls: o.TTLs, softStreak: o.SoftStreak})
	return s
}

// destFor returns domain's adaptive state; the caller holds s.mu.
func (s *Scheduler) destFor(domain string) *dest {
	d := s.dests[domain]
	if d == nil {
		every := rateInterval(s.o.PerDomainRate)
		// A parked destination is probed on the retry schedule's scale:
		// first after retry.first, doubling to min(retry.max, 30m).
		d = newDest(s.o.PerDomain, every, s.o.Schedule.First, min(s.o.Schedule.Max, parkMax))
		s.dests[domain] = d
	}
	return d
}

// Wake asks the loop to look at the queue now (new mail, a finished job).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run schedules until ctx ends, then waits for running jobs to return.
// Jobs see ctx too: a cancelled delivery is not applied, and its lease
// retries it after a restart.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	if err := s.beginCatchUp(ctx); err != nil && ctx.Err() == nil {
		s.o.Logger.Error("counting overdue recipients", zap.Error(err))
	}
	for {
		took, busy, err := s.fillWindow(ctx)
		if err != nil && ctx.Err() == nil {
			s.o.Logger.Error("scanning the queue", zap.Error(err))
		}
		s.dispatch(ctx)
		if err := s.sleep(ctx, took > 0 || busy == 0); err != nil {
			return nil
		}
	}
}

// Step runs one scan and dispatch and waits for every job it started: the
// whole loop, deterministic, for fake-clock tests.
func (s *Scheduler) Step(ctx context.Context) error {
	_, _, err := s.fillWindow(ctx)
	s.dispatch(ctx)
	s.wg.Wait()
	return err
}

// sleep waits for a wake-up, the next due time, or ctx. rescan says the
// last scan did not stop at recipients already in memory, so anything due
// now is new and worth an immediate scan.
func (s *Scheduler) sleep(ctx context.Context, rescan bool) error {
	wait := time.Minute // re-scan now and then: cheap, and heals anything missed
	if cw, on := s.catchUpWait(s.o.Clock.Now()); on {
		// The first due key is an overdue one waiting for its turn.
		wait = min(wait, cw)
	} else if at, ok, err := s.o.Store.NextDue(ctx, s.o.Clock.Now().Add(wait)); err == nil && ok {
		wait = min(wait, at.Sub(s.o.Clock.Now()))
	}
	if at, ok := s.laneReady(); ok {
		wait = min(wait, max(at.Sub(s.o.Clock.Now()), time.Millisecond))
	}
	if wait <= 0 && rescan && !s.windowFull() {
		return ctx.Err()
	}
	if wait <= 0 {
		// What is due is already in memory (a lease ran out while its job
		// waited in a busy lane), or the window is full: a finished job
		// wakes us.
		wait = time.Second
	}
	t := s.o.Clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.wake:
	case <-t.C():
	}
	return nil
}

// laneReady returns the earliest time a lane with waiting jobs, held back
// by a throttling pause or a rate limit, may start one.
func (s *Scheduler) laneReady() (time.Time, bool) {
	now := s.o.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	for domain, l := range s.lanes {
		if len(l.jobs) == 0 {
			continue
		}
		// A time already past holds nothing back: a lane still waiting is
		// at its limit, and a finishing job wakes the loop.
		if r := s.destFor(domain).readyAt(); r.After(now) && (at.IsZero() || r.Before(at)) {
			at = r
		}
	}
	return at, !at.IsZero()
}

// windowFull reports that the window has less room than a scan refills:
// the loop waits for finished jobs instead of scanning.
func (s *Scheduler) windowFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.Window-len(s.inflight) < s.refill()
}

// refill is the room a full window must have before the next scan: a
// sixteenth of it, at most 256 recipients, at least 1. With the window full
// (a backlog larger than it, each recipient leased and waiting in its
// lane) every finished job used to start a scan of the whole backlog to
// take one recipient (a run of 20,000 messages scanned 106 due keys per
// recipient taken); the window still holds thousands of jobs for the
// workers meanwhile.
func (s *Scheduler) refill() int { return max(1, min(s.o.Window/16, 256)) }

// InFlight reports how many recipients are leased and not yet applied.
func (s *Scheduler) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}
