package queue

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// outbox numbers events and tracks which numbers are safe to read.
//
// Invariant E1 (the committed watermark): every Seq ≤ watermark belongs to
// an event that is committed (synced, visible) or to a batch that failed
// and never will be. Events never returns an event above the watermark, so a
// consumer that reads up to S and moves its cursor to S can never later see
// an event ≤ S appear: it skips nothing.
//
// How: a writer reserves a contiguous range of seqs under mu while it holds
// the locks of what it changes, puts the events into its batch, commits
// (outside mu, so concurrent commits still share an fsync), then releases
// the range. The watermark is one below the smallest range still in flight,
// or next-1 when none is. Commit order and seq order may differ; the
// watermark only moves past a seq once everything below it has settled.
//
// E2 seqs only grow, across restarts too: Open starts after the highest
// e/ key and the highest cursor, and trimming never deletes the newest
// event.
type outbox struct {
	mu       sync.Mutex
	next     uint64            // next seq to hand out, ≥ 1
	inflight map[uint64]uint64 // first seq → count, reserved but not settled
	mark     uint64            // the watermark (E1)
	changed  chan struct{}     // closed and replaced when mark moves
}

// initOutbox reads the highest event seq and cursor so numbering resumes
// after them (E2).
func initOutbox(r pebble.Reader) (*outbox, error) {
	hi, err := lastEventSeq(r)
	if err != nil {
		return nil, err
	}
	p := prefix(kindCursor)
	err = scan(r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := decodeCursor(v)
		if err != nil {
			return false, fmt.Errorf("cursor %q: %w", k, err)
		}
		hi = max(hi, seq)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading event cursors: %w", err)
	}
	return &outbox{next: hi + 1, mark: hi, inflight: map[uint64]uint64{}, changed: make(chan struct{})}, nil
}

func lastEventSeq(r pebble.Reader) (uint64, error) {
	p := prefix(kindEvent)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	var seq uint64
	if it.Last() {
		seq, err = parseEventKey(it.Key())
	}
	return seq, joinClose(err, it)
}

func joinClose(err error, it *pebble.Iterator) error {
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// reserve hands out n consecutive seqs and returns the first.
func (o *outbox) reserve(n int) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	first := o.next
	o.next += uint64(n)
	o.inflight[first] = uint64(n)
	return first
}

// settle ends the reservation starting at first, committed or not, and
// moves the watermark.
func (o *outbox) settle(first uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.inflight, first)
	mark := o.next - 1
	for f := range o.inflight {
		mark = min(mark, f-1)
	}
	if mark != o.mark {
		o.mark = mark
		close(o.changed)
		o.changed = make(chan struct{})
	}
}

// watermark returns the highest readable seq and a channel closed when it
// next moves.
func (o *outbox) watermark() (uint64, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mark, o.changed
}

// commitEvents numbers evs, adds them to b and commits b synced. b is
// closed in every case. The caller holds the locks of what b changes, so
// the events describe exactly the state b writes (Q3 for events). A
// non-nil release is commitRelease's: the caller's locks, let go once b
// is applied; the events become readable only after the fsync either way.
func (s *PebbleStore) commitEvents(b *pebble.Batch, evs []Event, release func()) error {
	if len(evs) == 0 {
		return s.commitRelease(b, release)
	}
	if err := addOutcomes(b, evs, s.clock.Now()); err != nil {
		b.Close()
		return fmt.Errorf("rollup: %w", err)
	}
	first := s.out.reserve(len(evs))
	defer s.out.settle(first)
	for i := range evs {
		evs[i].Seq = first + uint64(i)
		if err := setRecord(b, eventKey(evs[i].Seq), &evs[i]); err != nil {
			b.Close()
			return fmt.Errorf("event %d: %w", evs[i].Seq, err)
		}
	}
	return s.commitRelease(b, release)
}

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix(kindEvent), seq)
}

func parseEventKey(k []byte) (uint64, error) {
	if len(k) != 2+8 || k[0] != kindEvent || k[1] != '/' {
		return 0, fmt.Errorf("event key %q: %w", k, errBadKey)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

func cursorKey(name string) []byte { return append(prefix(kindCursor), name...) }

// Cursors are 8 bytes, big-endian: small, fixed, and written often.
func decodeCursor(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("cursor value of %d bytes: %w", len(v), errBadKey)
	}
	return binary.BigEndian.Uint64(v), nil
}

func decodeEvent(b []byte) (*Event, error) {
	var e Event
	if err := decode(b, &e); err != nil {
		return nil, fmt.Errorf("event record: %w", err)
	}
	return &e, nil
}
