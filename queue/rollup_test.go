package queue

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mtaq/mtaq/internal/clock"
)

// recount derives the rollup from the outbox: what R1 says it must equal.
func recount(t *testing.T, s *PebbleStore) (map[time.Time]Counts, map[string]Counts) {
	t.Helper()
	var evs []Event
	for after := uint64(0); ; {
		page, err := s.Events(bg, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		evs, after = append(evs, page...), page[len(page)-1].Seq
	}
	hours, doms := map[time.Time]Counts{}, map[string]Counts{}
	for i := range evs {
		c, ok := outcomeOf(evs[i].Kind)
		if !ok {
			continue
		}
		h := evs[i].At.UTC().Truncate(time.Hour)
		x := hours[h]
		x.add(c)
		hours[h] = x
		d := doms[eventDomain(&evs[i])]
		d.add(c)
		doms[eventDomain(&evs[i])] = d
	}
	return hours, doms
}

// stored reads the rollup for [from, to) the way the console does.
func stored(t *testing.T, s *PebbleStore, from, to time.Time) (map[time.Time]Counts, map[string]Counts) {
	t.Helper()
	hs, err := s.HourlyOutcomes(bg, from, to)
	if err != nil {
		t.Fatal(err)
	}
	hours := map[time.Time]Counts{}
	for _, h := range hs {
		if h.Counts != (Counts{}) {
			hours[h.Hour] = h.Counts
		}
	}
	ds, err := s.DomainOutcomes(bg, from, to)
	if err != nil {
		t.Fatal(err)
	}
	doms := map[string]Counts{}
	for _, d := range ds {
		doms[d.Domain] = d.Counts
	}
	return hours, doms
}

func sameRollup(t *testing.T, what string, s *PebbleStore, from, to time.Time) {
	t.Helper()
	wh, wd := recount(t, s)
	gh, gd := stored(t, s, from, to)
	if !reflect.DeepEqual(wh, gh) {
		t.Errorf("%s: hourly rollup %v, the events say %v", what, gh, wh)
	}
	if !reflect.DeepEqual(wd, gd) {
		t.Errorf("%s: per-domain rollup %v, the events say %v", what, gd, wd)
	}
	if err := s.Check(bg); err != nil { // R2: waiting counters
		t.Errorf("%s: %v", what, err)
	}
}

// rollupOps drives a store through random deliveries, deferrals, bounces,
// operator actions and reports, the clock moving up to 40 minutes a step.
type rollupOps struct {
	e    *env
	rng  *rand.Rand
	ids  []string
	seen int // feedback keys
}

var rollupDomains = []string{"a.test", "b.test", "C.test", "d.test"}

func (o *rollupOps) step() {
	e, rng := o.e, o.rng
	now := e.clock.Now()
	switch k := rng.IntN(10); {
	case k < 3 || len(o.ids) == 0:
		var rcpts []string
		for i := range 1 + rng.IntN(3) {
			rcpts = append(rcpts, fmt.Sprintf("u%d@%s", i, rollupDomains[rng.IntN(len(rollupDomains))]))
		}
		o.ids = append(o.ids, e.enqueue(msg(now, rcpts...), "Subject: x\r\n\r\nhi\r\n"))
	case k < 7:
		id := o.ids[rng.IntN(len(o.ids))]
		m := e.message(id)
		r := m.Recipients[rng.IntN(len(m.Recipients))]
		u := Update{ID: id, Rcpt: r.Index, CountAttempt: true}
		switch rng.IntN(6) {
		case 0, 1:
			u.State, u.Attempt = Delivered, &Attempt{At: now, Reply: Reply{Code: 250}, Decision: "delivered"}
		case 2:
			u.State, u.NextAttempt = Deferred, now.Add(time.Hour)
			u.Attempt = &Attempt{At: now, Reply: Reply{Code: 451}, Decision: "deferred"}
		case 3:
			u.State, u.NextAttempt, u.CountAttempt = Deferred, now.Add(time.Minute), false // a local deferral
		case 4:
			u.State, u.Attempt = Bounced, &Attempt{At: now, Reply: Reply{Code: 550}, Decision: "bounced"}
		case 5:
			u.State = []State{Failed, Expired}[rng.IntN(2)]
		}
		e.ok(e.s.Apply(bg, []Update{u}))
	case k < 9:
		id := o.ids[rng.IntN(len(o.ids))]
		act := []func() (int, error){
			func() (int, error) { return e.s.Hold(bg, id, now) },
			func() (int, error) { return e.s.Release(bg, id, now) },
			func() (int, error) { return e.s.Retry(bg, id, now) },
			func() (int, error) { return e.s.Delete(bg, id, now) },
			func() (int, error) { return e.s.Bounce(bg, id, now) },
		}[rng.IntN(5)]
		_, err := act()
		e.ok(err)
	default:
		id := o.ids[rng.IntN(len(o.ids))]
		m := e.message(id)
		r := m.Recipients[rng.IntN(len(m.Recipients))]
		o.seen++
		f := Feedback{Key: fmt.Sprint("report-", o.seen), Kind: []string{FeedbackBounce, FeedbackComplaint}[rng.IntN(2)],
			At: now, QueueID: id, Verified: true, Rcpt: r.Address, Reply: reply(550, "5.1.1", "gone")}
		_, err := e.s.ApplyFeedback(bg, f)
		e.ok(err)
	}
	e.clock.Advance(time.Duration(rng.IntN(2400)) * time.Second)
}

// TestRollupEqualsRecount: after random operations the stored counters
// equal a recount from the outbox (outcomes) and from the recipients
// (waiting, by Check), and both survive a restart unchanged.
func TestRollupEqualsRecount(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			e := newEnv(t)
			o := &rollupOps{e: e, rng: rand.New(rand.NewPCG(seed, 17))}
			for range 150 {
				o.step()
			}
			from, to := t0.Add(-time.Hour), e.clock.Now().Add(time.Hour)
			sameRollup(t, "running", e.s, from, to)
			wh, _ := recount(t, e.s)
			if len(wh) < 5 {
				t.Fatalf("the operations made outcomes in only %d hours: the test proves little", len(wh))
			}
			w1, err := e.s.Waiting(bg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.s.Close(); err != nil {
				t.Fatal(err)
			}
			e.s = e.open(e.fs)
			sameRollup(t, "after restart", e.s, from, to)
			w2, err := e.s.Waiting(bg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(w1, w2) {
				t.Errorf("waiting %v before the restart, %v after", w1, w2)
			}
		})
	}
}

// TestRollupCountsWhatAUserSees: a concrete day of outcomes read back as
// the Overview reads it.
func TestRollupCountsWhatAUserSees(t *testing.T) {
	e := newEnv(t)
	a := e.enqueue(msg(t0, "x@gmail.test", "y@gmail.test", "z@Yahoo.test"), "Subject: a\r\n\r\nb\r\n")
	w, err := e.s.Waiting(bg)
	e.ok(err)
	if want := []DomainWaiting{{"gmail.test", 2}, {"yahoo.test", 1}}; !reflect.DeepEqual(w, want) {
		t.Fatalf("waiting %v, want %v", w, want)
	}
	e.clock.Advance(90 * time.Minute) // 10:30
	at := e.clock.Now()
	e.ok(e.s.Apply(bg, []Update{
		{ID: a, Rcpt: 0, State: Delivered, CountAttempt: true, Attempt: &Attempt{At: at, Reply: Reply{Code: 250}}},
		{ID: a, Rcpt: 1, State: Bounced, CountAttempt: true, Attempt: &Attempt{At: at, Reply: Reply{Code: 550}}},
		{ID: a, Rcpt: 2, State: Deferred, CountAttempt: true, NextAttempt: at.Add(time.Hour), Attempt: &Attempt{At: at, Reply: Reply{Code: 451}}},
	}))
	e.clock.Advance(24 * time.Hour)
	_, err = e.s.ApplyFeedback(bg, Feedback{Key: "arf-1", Kind: FeedbackComplaint, At: e.clock.Now(), QueueID: a, Verified: true, Rcpt: "x@gmail.test"})
	e.ok(err)
	hs, err := e.s.HourlyOutcomes(bg, t0, t0.Add(3*time.Hour))
	e.ok(err)
	want := []HourCounts{{Hour: t0}, {Hour: t0.Add(time.Hour), Counts: Counts{Delivered: 1, Deferred: 1, Bounced: 1}}, {Hour: t0.Add(2 * time.Hour)}}
	if !reflect.DeepEqual(hs, want) {
		t.Errorf("hours %+v, want %+v", hs, want)
	}
	ds, err := e.s.DomainOutcomes(bg, t0, e.clock.Now())
	e.ok(err)
	wantD := []DomainCounts{{"gmail.test", Counts{Delivered: 1, Bounced: 1, Complained: 1}}, {"yahoo.test", Counts{Deferred: 1}}}
	if !reflect.DeepEqual(ds, wantD) {
		t.Errorf("domains %+v, want %+v", ds, wantD)
	}
	w, err = e.s.Waiting(bg)
	e.ok(err)
	if want := []DomainWaiting{{"yahoo.test", 1}}; !reflect.DeepEqual(w, want) {
		t.Errorf("waiting %v, want %v (gmail.test's recipients are final)", w, want)
	}
	// Once the complaint's day is 35 days past, the cells are trimmed; the
	// waiting count stays.
	e.clock.Advance(rollupKeep + 24*time.Hour)
	e.ok(e.s.TrimRollup(bg, e.clock.Now()))
	if ds, err := e.s.DomainOutcomes(bg, t0, e.clock.Now()); err != nil || len(ds) != 0 {
		t.Errorf("after the trim: %v, %v", ds, err)
	}
	if w, err := e.s.Waiting(bg); err != nil || len(w) != 1 {
		t.Errorf("after the trim, waiting %v, %v", w, err)
	}
}

// TestRollupCrashNeitherLosesNorRepeats: concurrent Applies against a
// crash clone (synced only, and synced plus half of the unsynced data);
// the reopened store's counters equal its events, though WAL replay
// re-applies every batch in the log.
func TestRollupCrashNeitherLosesNorRepeats(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 64 {
		ids = append(ids, e.enqueue(msg(t0, fmt.Sprintf("u%d@%s", i, rollupDomains[i%4])), "Subject: x\r\n\r\nhi\r\n"))
	}
	var wg sync.WaitGroup
	var clone, random *vfs.MemFS
	var once sync.Once
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 8 {
				at := t0.Add(time.Duration(i) * 7 * time.Minute)
				u := Update{ID: ids[i], Rcpt: 0, CountAttempt: true, Attempt: &Attempt{At: at, Reply: Reply{Code: 250}}, State: Delivered}
				if i%3 == 0 {
					u.State, u.NextAttempt = Deferred, at.Add(time.Hour)
				}
				if err := e.s.Apply(bg, []Update{u}); err != nil {
					t.Error(err)
					return
				}
				if i == 40 {
					once.Do(func() {
						clone = e.fs.CrashClone(vfs.CrashCloneCfg{})
						random = e.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(3, 4))})
					})
				}
			}
		}()
	}
	wg.Wait()
	sameRollup(t, "running", e.s, t0, t0.Add(24*time.Hour))
	for name, fs := range map[string]*vfs.MemFS{"synced": clone, "synced + 50% unsynced": random} {
		s := e.open(fs)
		sameRollup(t, name, s, t0, t0.Add(24*time.Hour))
		if hs, _ := recount(t, s); len(hs) == 0 {
			t.Errorf("%s: no outcome survived the crash: the test proves little", name)
		}
		// A second replay of what is now the store changes nothing.
		h1, d1 := stored(t, s, t0, t0.Add(24*time.Hour))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = e.open(fs)
		if h2, d2 := stored(t, s, t0, t0.Add(24*time.Hour)); !reflect.DeepEqual(h1, h2) || !reflect.DeepEqual(d1, d2) {
			t.Errorf("%s: reopening changed the rollup: %v %v, then %v %v", name, h1, d1, h2, d2)
		}
		s.Close()
	}
}

// TestRollupOpensOlderStores: a store written before the rollup (Pebble's
// default merger, no o/ keys) opens, gets its waiting counters from one
// pass, and cells an older binary concatenated read as their sum.
func TestRollupOpensOlderStores(t *testing.T) {
	fs := vfs.NewMem()
	e := &env{t: t, fs: fs, clock: clock.NewFake(t0)}
	e.s = e.open(fs)
	id := e.enqueue(msg(t0, "a@x.test", "b@x.test"), "Subject: x\r\n\r\nhi\r\n")
	e.ok(e.s.Apply(bg, []Update{{ID: id, Rcpt: 0, State: Delivered, Attempt: &Attempt{At: t0, Reply: Reply{Code: 250}}}}))
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	// What an older mtaq sees: the default merger, which concatenates.
	db, err := pebble.Open("queue-db", &pebble.Options{FS: fs, FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		t.Fatalf("an older binary cannot open the store: %v", err)
	}
	h := floorDiv(t0.Unix(), 3600)
	for range 2 {
		if err := db.Merge(hourKey(h), Counts{Delivered: 5, Complained: 1}.operand(), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	// It knows nothing of o/w: forget the counters as a store before them.
	if err := db.DeleteRange([]byte("o/w/"), []byte("o/x"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(rollupMarkKey, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	e.s = e.open(fs)
	defer e.s.Close()
	hs, err := e.s.HourlyOutcomes(bg, t0, t0.Add(time.Hour))
	e.ok(err)
	if want := (Counts{Delivered: 11, Complained: 2}); len(hs) != 1 || hs[0].Counts != want {
		t.Errorf("hour %+v, want %+v", hs, want)
	}
	w, err := e.s.Waiting(bg)
	e.ok(err)
	if want := []DomainWaiting{{"x.test", 1}}; !reflect.DeepEqual(w, want) {
		t.Errorf("waiting after the upgrade %v, want %v", w, want)
	}
}
