package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The rollup: stored counters the console's Overview and Queue pages read
// instead of scanning a million records (issue 17). Keys (kind 'o'):
//
//	o/h/<hour u64>             outcomes in that UTC hour, all domains: 4 × u64
//	o/d/<day u64>/<domain>     outcomes that UTC day for one destination domain: 4 × u64
//	o/w/<domain>               recipients waiting (queued or deferred) for the domain: 1 × i64
//	o/v                        mark: o/w was counted (at Open, for stores older than it)
//
// The four outcome counters are delivered, deferred (counted attempts),
// bounced (a hard reply during delivery or a later DSN) and complained:
// exactly the outbox events of those kinds, counted at the event's time in
// the batch that writes the event (R1). Failed, expired, rejected and
// operator actions are not outcomes a destination gave, so they are not
// in the rates.
//
//	R1 each counter changes in the batch of the state change it counts,
//	   as a Pebble merge operand (a delta), never read-modify-write: Apply
//	   serialises per message, not globally, so two batches may count for
//	   one hour at once and both deltas must land. A batch is applied
//	   once, WAL replay included, so a crash neither loses nor repeats one.
//	R2 o/w/<domain> equals the number of pending recipients whose Domain
//	   is domain (Check recounts it).
//
// Outcome counters are kept for rollupKeep; TrimRollup drops older ones
// and events older than that are not counted.
const (
	kindRollup = 'o'
	// rollupKeep is how far back outcomes are kept: the Overview shows 7
	// days; a month lets a 30-day rate be read without another format.
	rollupKeep = 35 * 24 * time.Hour
)

// Counts is one rollup cell.
type Counts struct {
	Delivered  int64 `json:"delivered"`
	Deferred   int64 `json:"deferred"`
	Bounced    int64 `json:"bounced"`
	Complained int64 `json:"complained"`
}

func (c *Counts) add(o Counts) {
	c.Delivered += o.Delivered
	c.Deferred += o.Deferred
	c.Bounced += o.Bounced
	c.Complained += o.Complained
}

// HourCounts is the outcomes of one UTC hour.
type HourCounts struct {
	Hour time.Time `json:"hour"`
	Counts
}

// DomainCounts is the outcomes for one destination domain over a span.
type DomainCounts struct {
	Domain string `json:"domain"`
	Counts
}

// DomainWaiting is how many recipients wait for one destination domain.
type DomainWaiting struct {
	Domain  string `json:"domain"`
	Waiting int64  `json:"waiting"`
}

// Rollups is what the PebbleStore answers from its stored counters; not
// part of Store (admin asserts it, like Outbox).
type Rollups interface {
	// HourlyOutcomes returns one entry per UTC hour in [from, to), oldest
	// first, zeros included.
	HourlyOutcomes(ctx context.Context, from, to time.Time) ([]HourCounts, error)
	// DomainOutcomes sums the UTC days from from's day to to's day,
	// included, per destination domain, by domain.
	DomainOutcomes(ctx context.Context, from, to time.Time) ([]DomainCounts, error)
	// Waiting lists the domains with waiting recipients, by domain.
	Waiting(ctx context.Context) ([]DomainWaiting, error)
}

var _ Rollups = (*PebbleStore)(nil)

var (
	rollupHourPrefix = []byte("o/h/")
	rollupDayPrefix  = []byte("o/d/")
	rollupWaitPrefix = []byte("o/w/")
	rollupMarkKey    = []byte("o/v")
)

func hourKey(hour int64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(rollupHourPrefix), uint64(hour))
}

func dayKey(day int64, domain string) []byte {
	k := binary.BigEndian.AppendUint64(bytes.Clone(rollupDayPrefix), uint64(day))
	return append(append(k, '/'), domain...)
}

func waitKey(domain string) []byte { return append(bytes.Clone(rollupWaitPrefix), domain...) }

// rollupWidth is the number of u64 in one operand under key k.
func rollupWidth(k []byte) int {
	if bytes.HasPrefix(k, rollupWaitPrefix) {
		return 1
	}
	return 4
}

// The merger keeps Pebble's default name on purpose: Pebble refuses to
// open a store whose OPTIONS file names another merger, and every store
// made before the rollup names "pebble.concatenate". It is still
// concatenation as far as any reader can tell: nothing but o/ keys is
// ever merged, and an o/ value is read as the sum of its fixed-width
// chunks (foldSum), so summing operands early gives the value that
// concatenating them would. An older binary that concatenates them gives
// the same reading too.
var rollupMerger = &pebble.Merger{
	Name: pebble.DefaultMerger.Name,
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		if !bytes.HasPrefix(key, []byte{kindRollup, '/'}) {
			return pebble.DefaultMerger.Merge(key, value)
		}
		m := &sumMerger{acc: make([]uint64, rollupWidth(key))}
		return m, m.MergeNewer(value)
	},
}

// sumMerger adds operands element-wise (wrapping: deltas may be negative).
type sumMerger struct{ acc []uint64 }

func (m *sumMerger) MergeNewer(v []byte) error { return foldSum(m.acc, v) }
func (m *sumMerger) MergeOlder(v []byte) error { return foldSum(m.acc, v) }
func (m *sumMerger) Finish(bool) ([]byte, io.Closer, error) {
	return encodeSum(m.acc), nil, nil
}

// foldSum adds every len(acc)-wide chunk of v into acc.
func foldSum(acc []uint64, v []byte) error {
	w := 8 * len(acc)
	if len(v)%w != 0 {
		return fmt.Errorf("rollup value of %d bytes is not a multiple of %d", len(v), w)
	}
	for ; len(v) > 0; v = v[w:] {
		for i := range acc {
			acc[i] += binary.BigEndian.Uint64(v[8*i:])
		}
	}
	return nil
}

func encodeSum(acc []uint64) []byte {
	b := make([]byte, 0, 8*len(acc))
	for _, x := range acc {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

func decodeCounts(v []byte) (Counts, error) {
	acc := make([]uint64, 4)
	if err := foldSum(acc, v); err != nil {
		return Counts{}, err
	}
	return Counts{int64(acc[0]), int64(acc[1]), int64(acc[2]), int64(acc[3])}, nil
}

func decodeWaiting(v []byte) (int64, error) {
	acc := make([]uint64, 1)
	err := foldSum(acc, v)
	return int64(acc[0]), err
}

func (c Counts) operand() []byte {
	return encodeSum([]uint64{uint64(c.Delivered), uint64(c.Deferred), uint64(c.Bounced), uint64(c.Complained)})
}

// outcomeOf maps an event to the counter it adds to; false for the rest.
func outcomeOf(kind string) (Counts, bool) {
	switch kind {
	case EventDelivered:
		return Counts{Delivered: 1}, true
	case EventDeferred:
		return Counts{Deferred: 1}, true
	case EventBounced:
		return Counts{Bounced: 1}, true
	case EventComplained:
		return Counts{Complained: 1}, true
	}
	return Counts{}, false
}

// eventDomain is the destination domain an event counts for: the
// recipient's Domain when the writer knew it (an A-label, like the
// scheduler's lanes), else the address's domain in lower case.
func eventDomain(e *Event) string {
	if e.domain != "" {
		return e.domain
	}
	return strings.ToLower(e.Rcpt[strings.LastIndexByte(e.Rcpt, '@')+1:])
}

// addOutcomes merges the outcome events of evs into b's rollup (R1), one
// operand per key. Events older than rollupKeep are not counted: their
// cells are gone or about to be.
func addOutcomes(b *pebble.Batch, evs []Event, now time.Time) error {
	hours := map[int64]Counts{}
	type dayDom struct {
		day int64
		dom string
	}
	days := map[dayDom]Counts{}
	horizon := now.Add(-rollupKeep)
	for i := range evs {
		c, ok := outcomeOf(evs[i].Kind)
		if !ok || evs[i].At.Before(horizon) {
			continue
		}
		t := evs[i].At.Unix()
		hk, dk := floorDiv(t, 3600), dayDom{floorDiv(t, 86400), eventDomain(&evs[i])}
		h, d := hours[hk], days[dk]
		h.add(c)
		d.add(c)
		hours[hk], days[dk] = h, d
	}
	for h, c := range hours {
		if err := b.Merge(hourKey(h), c.operand(), nil); err != nil {
			return err
		}
	}
	for k, c := range days {
		if err := b.Merge(dayKey(k.day, k.dom), c.operand(), nil); err != nil {
			return err
		}
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// waitDelta collects one batch's changes to o/w (R2).
type waitDelta map[string]int64

// change counts recipient domain moving from state from to state to; ""
// is "did not exist".
func (w waitDelta) change(domain string, from, to State) {
	if from.Pending() == to.Pending() {
		return
	}
	if to.Pending() {
		w[domain]++
	} else {
		w[domain]--
	}
}

func (w waitDelta) write(b *pebble.Batch) error {
	for d, n := range w {
		if n == 0 {
			continue
		}
		if err := b.Merge(waitKey(d), encodeSum([]uint64{uint64(n)}), nil); err != nil {
			return err
		}
	}
	return nil
}

// HourlyOutcomes implements Rollups: at most one point read per hour.
func (s *PebbleStore) HourlyOutcomes(ctx context.Context, from, to time.Time) ([]HourCounts, error) {
	first, last := floorDiv(from.Unix(), 3600), floorDiv(to.Unix()-1, 3600)
	if last-first > 24*366 {
		return nil, errors.New("hourly outcomes: more than a year asked")
	}
	var out []HourCounts
	err := scan(s.db, hourKey(first), hourKey(last+1), func(k, v []byte) (bool, error) {
		c, err := decodeCounts(v)
		if err != nil {
			return false, fmt.Errorf("%q: %w", k, err)
		}
		out = append(out, HourCounts{Hour: time.Unix(int64(binary.BigEndian.Uint64(k[len(rollupHourPrefix):]))*3600, 0).UTC(), Counts: c})
		return ctx.Err() == nil, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	// Fill the hours without a key with zeros.
	all := make([]HourCounts, 0, last-first+1)
	for h, i := first, 0; h <= last; h++ {
		at := time.Unix(h*3600, 0).UTC()
		if i < len(out) && out[i].Hour.Equal(at) {
			all = append(all, out[i])
			i++
			continue
		}
		all = append(all, HourCounts{Hour: at})
	}
	return all, nil
}

// DomainOutcomes implements Rollups: one range scan over the days' keys.
func (s *PebbleStore) DomainOutcomes(ctx context.Context, from, to time.Time) ([]DomainCounts, error) {
	first, last := floorDiv(from.Unix(), 86400), floorDiv(to.Unix(), 86400)
	sums := map[string]Counts{}
	dayLen := len(rollupDayPrefix) + 8 + 1
	err := scan(s.db, dayKey(first, ""), dayKey(last+1, ""), func(k, v []byte) (bool, error) {
		c, err := decodeCounts(v)
		if err != nil || len(k) < dayLen {
			return false, fmt.Errorf("%q: bad rollup cell (%v)", k, err)
		}
		d := string(k[dayLen:])
		sum := sums[d]
		sum.add(c)
		sums[d] = sum
		return ctx.Err() == nil, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]DomainCounts, 0, len(sums))
	for d, c := range sums {
		out = append(out, DomainCounts{Domain: d, Counts: c})
	}
	slices.SortFunc(out, func(a, b DomainCounts) int { return strings.Compare(a.Domain, b.Domain) })
	return out, nil
}

// Waiting implements Rollups: one scan of o/w, one key per domain ever
// seen. A read-only store made before the rollup is counted on the fly.
func (s *PebbleStore) Waiting(ctx context.Context) ([]DomainWaiting, error) {
	if _, err := get(s.db, rollupMarkKey, func(v []byte) ([]byte, error) { return v, nil }); errors.Is(err, ErrNotFound) {
		counts, err := countWaiting(ctx, s.db)
		if err != nil {
			return nil, err
		}
		out := make([]DomainWaiting, 0, len(counts))
		for d, n := range counts {
			out = append(out, DomainWaiting{Domain: d, Waiting: n})
		}
		slices.SortFunc(out, func(a, b DomainWaiting) int { return strings.Compare(a.Domain, b.Domain) })
		return out, nil
	} else if err != nil {
		return nil, err
	}
	var out []DomainWaiting
	err := scan(s.db, rollupWaitPrefix, prefixEnd(rollupWaitPrefix), func(k, v []byte) (bool, error) {
		n, err := decodeWaiting(v)
		if err != nil {
			return false, fmt.Errorf("%q: %w", k, err)
		}
		if n != 0 {
			out = append(out, DomainWaiting{Domain: string(k[len(rollupWaitPrefix):]), Waiting: n})
		}
		return ctx.Err() == nil, ctx.Err()
	})
	return out, err
}

// countWaiting counts pending recipients per domain with one pass over the
// recipient records.
func countWaiting(ctx context.Context, r pebble.Reader) (map[string]int64, error) {
	counts := map[string]int64{}
	p := prefix(kindRcpt)
	err := scan(r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		rec, err := decodeRecipient(v)
		if err != nil {
			return false, fmt.Errorf("%q: %w", k, err)
		}
		if rec.State.Pending() {
			counts[rec.Domain]++
		}
		return ctx.Err() == nil, ctx.Err()
	})
	return counts, err
}

// initWaiting writes o/w once for a store made before it, at Open, before
// any other writer exists: a full pass over the recipients. Zero cells
// are dropped at the same time (nobody can merge into them meanwhile).
func initWaiting(db *pebble.DB) error {
	b := db.NewBatch()
	defer b.Close()
	if _, err := get(db, rollupMarkKey, func(v []byte) ([]byte, error) { return v, nil }); err == nil {
		err := scan(db, rollupWaitPrefix, prefixEnd(rollupWaitPrefix), func(k, v []byte) (bool, error) {
			n, err := decodeWaiting(v)
			if err == nil && n == 0 {
				err = b.Delete(k, nil)
			}
			return err == nil, err
		})
		if err != nil || b.Empty() {
			return err
		}
		return b.Commit(pebble.Sync)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	counts, err := countWaiting(context.Background(), db)
	if err != nil {
		return err
	}
	if err := b.DeleteRange(rollupWaitPrefix, prefixEnd(rollupWaitPrefix), nil); err != nil {
		return err
	}
	for d, n := range counts {
		if err := b.Set(waitKey(d), encodeSum([]uint64{uint64(n)}), nil); err != nil {
			return err
		}
	}
	if err := b.Set(rollupMarkKey, []byte{1}, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// TrimRollup drops outcome cells older than rollupKeep before now. Not
// part of Store: the daemon's retention loop calls it. A late merge into
// a dropped cell (an old report) leaves a small cell the next trim takes.
func (s *PebbleStore) TrimRollup(ctx context.Context, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cut := now.Add(-rollupKeep).Unix()
	b := s.db.NewBatch()
	if err := b.DeleteRange(hourKey(0), hourKey(floorDiv(cut, 3600)), nil); err != nil {
		b.Close()
		return err
	}
	if err := b.DeleteRange(dayKey(0, ""), dayKey(floorDiv(cut, 86400), ""), nil); err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// waiting checks R2: o/w equals a recount of the pending recipients. A
// store without the mark (read-only, made before the rollup) has nothing
// to check.
func (c *checker) waiting() error {
	if _, err := get(c.r, rollupMarkKey, func(v []byte) ([]byte, error) { return v, nil }); errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	want, err := countWaiting(c.ctx, c.r)
	if err != nil {
		return err
	}
	err = scan(c.r, rollupWaitPrefix, prefixEnd(rollupWaitPrefix), func(k, v []byte) (bool, error) {
		d := string(k[len(rollupWaitPrefix):])
		n, err := decodeWaiting(v)
		if err != nil {
			c.fail("R2: %q: %v", k, err)
		} else if n != want[d] {
			c.fail("R2: domain %q counts %d waiting, the recipients say %d", d, n, want[d])
		}
		delete(want, d)
		return true, nil
	})
	for d, n := range want {
		c.fail("R2: domain %q has %d waiting recipients and no counter", d, n)
	}
	return err
}
