package queue

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// dueMark is the low watermark of the due index: no live due key is below
// it, so scans seek to it instead of walking the tombstones that leases and
// applies leave at the head of d/ (Pebble drops them only at compaction).
//
// Invariant W1: every due key that is committed, or whose batch is in
// flight, has a time ≥ low.
//
// Writers keep W1 by lowering low to their smallest new due time before
// they commit (begin) and deregistering after (end); a failed batch only
// leaves low lower than it needs to be. A scan may raise low to the first
// key it saw, but its iterator may have missed batches in flight when it
// started, so it raises to at most the smallest of those (floor), and to
// at most the smallest due time of the batches that began after it read
// the mark (scans: each open scan's minimum, lowered by begin). Under a
// steady load some writer always begins during a scan; a scan that then
// gave up raising would leave the mark behind, and every later scan would
// walk the tombstones since.
type dueMark struct {
	mu       sync.Mutex
	low      uint64            // W1
	inflight map[uint64]uint64 // token → smallest due time of the batch
	scans    map[uint64]uint64 // token → smallest due time begun since its read
	next     uint64            // next token
}

// noDue is the "no due key" time: larger than any timeNanos.
const noDue = math.MaxUint64

func newDueMark() *dueMark {
	return &dueMark{inflight: map[uint64]uint64{}, scans: map[uint64]uint64{}}
}

// begin registers a batch whose smallest new due time is at (noDue: none)
// and returns its end.
func (d *dueMark) begin(at uint64) func() {
	if at == noDue {
		return func() {}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.low = min(d.low, at)
	for tok, m := range d.scans {
		d.scans[tok] = min(m, at)
	}
	d.next++
	tok := d.next
	d.inflight[tok] = at
	return func() {
		d.mu.Lock()
		delete(d.inflight, tok)
		d.mu.Unlock()
	}
}

// read opens a scan: it returns where the scan starts, its token and the
// smallest due time in flight. Call it before creating the scan's
// iterator, and close the scan with raise or drop.
func (d *dueMark) read() (low, tok, floor uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	floor = noDue
	for _, at := range d.inflight {
		floor = min(floor, at)
	}
	d.next++
	tok = d.next
	d.scans[tok] = noDue
	return d.low, tok, floor
}

// raise closes scan tok, opened by read with floor, which found no live
// key below to.
func (d *dueMark) raise(tok, floor, to uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	since, ok := d.scans[tok]
	if !ok {
		return
	}
	delete(d.scans, tok)
	d.low = max(d.low, min(to, floor, since))
}

// drop closes scan tok without raising.
func (d *dueMark) drop(tok uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.scans, tok)
}

// get returns low, for Check.
func (d *dueMark) get() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.low
}

// dueLower is the first possible due key at or after nanos.
func dueLower(nanos uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix(kindDue), nanos)
}

// setDue writes a due key and lowers *lo, the batch's smallest new due time,
// which the commit passes to dueMark.begin.
func setDue(b *pebble.Batch, lo *uint64, at time.Time, id string, idx int) error {
	*lo = min(*lo, timeNanos(at))
	return b.Set(dueKey(at, id, idx), nil, nil)
}
