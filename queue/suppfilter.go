package queue

import (
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// suppFilter is a Bloom filter over the suppressed addresses (the s/
// keys), so that the lookup at every RCPT, whose answer is nearly always
// "not suppressed", costs a few memory probes instead of a read of every
// table on disk (6.3% of the daemon's CPU in the relay profile). It never
// answers "absent" for an address that has an s/ key (F1): Check verifies
// that on every key.
//
// F1 holds because every write of an s/ key adds the address first, under
// the address's stripe, which the writer holds until its batch is applied
// and visible (commitRelease lets it go before the fsync); a build takes
// every stripe for the moment it marks itself building and opens its
// snapshot, so a key is either visible to the snapshot (the scan sees it)
// or added after (it goes to pending as well as to the bits in use).
// Removals leave their bits; adds past the capacity start a build sized to
// the live list, which also sheds them.
type suppFilter struct {
	mu       sync.RWMutex
	seed     maphash.Seed
	bits     []uint64 // nil until the first build: everything may be there
	mask     uint64   // number of bits - 1 (a power of two)
	adds     int      // adds since the last build
	capacity int      // adds the current bits are sized for
	building bool
	pending  []uint64 // hashes added while a build runs
	min      int      // suppFilterMin when the store opened
}

const (
	suppFilterProbes  = 7
	suppFilterBitsPer = 16 // bits per address at full capacity: under 1% false "may be there"
)

// suppFilterMin is the smallest capacity a build sizes for; a variable so
// tests can force rebuilds with a few addresses. A store reads it once, at
// Open.
var suppFilterMin = 1 << 16

func newSuppFilter() *suppFilter {
	return &suppFilter{seed: maphash.MakeSeed(), building: true, min: suppFilterMin}
}

func (f *suppFilter) hash(addr string) uint64 {
	return maphash.String(f.seed, strings.ToLower(addr))
}

// mayHold is false only when addr is certainly not suppressed.
func (f *suppFilter) mayHold(addr string) bool {
	h := f.hash(addr)
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.bits == nil {
		return true
	}
	return probe(f.bits, f.mask, h)
}

// add records addr before the write of its s/ key; the caller holds the
// address's stripe until that write is applied. It reports whether the
// filter is over capacity and no build runs: the caller starts one.
func (f *suppFilter) add(addr string) (rebuild bool) {
	h := f.hash(addr)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.building {
		f.pending = append(f.pending, h)
	}
	if f.bits != nil {
		set(f.bits, f.mask, h)
	}
	f.adds++
	if f.adds <= f.capacity || f.building {
		return false
	}
	f.building = true // this add starts the one build; concurrent builds would reset each other's pending
	return true
}

// bitsOf yields the suppFilterProbes bit positions of h (double hashing).
func bitsOf(mask, h uint64) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		h1, h2 := h, h>>33|1
		for i := range uint64(suppFilterProbes) {
			if !yield((h1 + i*h2) & mask) {
				return
			}
		}
	}
}

func probe(b []uint64, mask, h uint64) bool {
	for x := range bitsOf(mask, h) {
		if b[x>>6]&(1<<(x&63)) == 0 {
			return false
		}
	}
	return true
}

func set(b []uint64, mask, h uint64) {
	for x := range bitsOf(mask, h) {
		b[x>>6] |= 1 << (x & 63)
	}
}

// buildSuppFilter scans the s/ keys into a new filter sized for them and
// swaps it in. It returns early, leaving the filter as it was, when the
// store closes.
func (s *PebbleStore) buildSuppFilter() {
	defer s.bg.Done()
	f := s.supp
	unlock := s.locks.lockAll()
	f.mu.Lock()
	f.building, f.pending = true, nil
	f.mu.Unlock()
	snap := s.db.NewSnapshot()
	unlock()
	defer snap.Close()

	p := prefix(kindSuppress)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		s.abandonSuppFilter(err)
		return
	}
	var hs []uint64
	for ok := it.First(); ok; ok = it.Next() {
		if len(hs)%4096 == 0 && s.closing() {
			it.Close()
			s.abandonSuppFilter(nil)
			return
		}
		hs = append(hs, f.hash(string(it.Key()[len(p):])))
	}
	if err := it.Close(); err != nil {
		s.abandonSuppFilter(err)
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	hs = append(hs, f.pending...)
	capacity := max(2*len(hs), f.min)
	nbits := uint64(1) << bits.Len64(uint64(capacity*suppFilterBitsPer-1))
	b := make([]uint64, nbits/64)
	for _, h := range hs {
		set(b, nbits-1, h)
	}
	f.bits, f.mask, f.capacity, f.adds = b, nbits-1, capacity, len(hs)
	f.building, f.pending = false, nil
}

// abandonSuppFilter ends a build that could not finish: the filter in use
// (or none, answering "may be there") stays, and the next add past the
// capacity tries again.
func (s *PebbleStore) abandonSuppFilter(err error) {
	if err != nil {
		s.log.Warn("building the suppression filter; lookups read the store", zap.Error(err))
	}
	f := s.supp
	f.mu.Lock()
	f.building, f.pending = false, nil
	f.mu.Unlock()
}

// addSuppressed is suppFilter.add, starting a build when one is due.
func (s *PebbleStore) addSuppressed(addr string) {
	if s.supp == nil {
		return
	}
	if s.supp.add(addr) {
		s.startSuppFilter()
	}
}

// startSuppFilter starts a build unless the store is closing. The filter
// is marked building already (newSuppFilter, add), so only one runs.
func (s *PebbleStore) startSuppFilter() {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return
	}
	s.bg.Add(1)
	go s.buildSuppFilter()
}

// closing reports whether Close has begun.
func (s *PebbleStore) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
