package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

var _ Outbox = (*PebbleStore)(nil)

// maxEventsPage bounds one Events call.
const maxEventsPage = 10000

// Events implements Outbox. It returns committed events only, up to the
// watermark (E1 in outbox.go); limit <= 0 means maxEventsPage.
func (s *PebbleStore) Events(ctx context.Context, after uint64, limit int) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > maxEventsPage {
		limit = maxEventsPage
	}
	mark, _ := s.out.watermark()
	if after >= mark {
		return nil, nil
	}
	var out []Event
	err := scan(s.db, eventKey(after+1), eventKey(mark+1), func(k, v []byte) (bool, error) {
		e, err := decodeEvent(v)
		if err != nil {
			return false, fmt.Errorf("%x: %w", k, err)
		}
		out = append(out, *e)
		return len(out) < limit, nil
	})
	return out, err
}

// EventsChanged returns a channel closed when new events become readable,
// so consumers need not poll hard.
func (s *PebbleStore) EventsChanged() <-chan struct{} {
	_, ch := s.out.watermark()
	return ch
}

// LastEvent returns the highest readable seq (0 when there is none).
func (s *PebbleStore) LastEvent() uint64 {
	mark, _ := s.out.watermark()
	return mark
}

// Cursor implements Outbox.
func (s *PebbleStore) Cursor(ctx context.Context, name string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := get(s.db, cursorKey(name), decodeCursor)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cursor %s: %w", name, err)
	}
	return seq, nil
}

// SetCursor implements Outbox, synced.
func (s *PebbleStore) SetCursor(ctx context.Context, name string, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errors.New("set cursor: empty name")
	}
	b := s.db.NewBatch()
	if err := b.Set(cursorKey(name), binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
		b.Close()
		return err
	}
	if err := s.commit(b); err != nil {
		return fmt.Errorf("set cursor %s: %w", name, err)
	}
	return nil
}

// Cursors returns every consumer's cursor by name.
func (s *PebbleStore) Cursors(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	p := prefix(kindCursor)
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := decodeCursor(v)
		if err != nil {
			return false, fmt.Errorf("cursor %q: %w", k, err)
		}
		out[string(k[len(p):])] = seq
		return true, ctx.Err()
	})
	return out, err
}

// DeleteCursor forgets a consumer (e.g. a webhook removed from the config),
// so it no longer holds back trimming: its cursor, dead letters and hold,
// in one batch (D2).
func (s *PebbleStore) DeleteCursor(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.consumerMu.Lock()
	defer s.consumerMu.Unlock()
	b := s.db.NewBatch()
	err := b.Delete(cursorKey(name), nil)
	if err == nil && validConsumer(name) == nil {
		err = errors.Join(b.DeleteRange(deadPrefix(name), prefixEnd(deadPrefix(name)), nil),
			b.Delete(holdKey(name), nil))
	}
	if err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// TrimEvents removes events older than before that every cursor has
// passed, oldest first, stopping at the first event that is newer or not yet
// handled by some consumer. The newest event is always kept (E2). Not part
// of Outbox: retention is the daemon's housekeeping.
func (s *PebbleStore) TrimEvents(ctx context.Context, before time.Time) (int, error) {
	limit, err := s.trimLimit()
	if err != nil {
		return 0, err
	}
	p := prefix(kindEvent)
	var last uint64
	n := 0
	err = scan(s.db, p, eventKey(limit), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		e, err := decodeEvent(v)
		if err != nil {
			return false, fmt.Errorf("%x: %w", k, err)
		}
		if !e.At.Before(before) {
			return false, nil
		}
		last, n = e.Seq, n+1
		return true, nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	b := s.db.NewBatch()
	if err := b.DeleteRange(p, eventKey(last+1), nil); err != nil {
		b.Close()
		return 0, err
	}
	if err := s.commit(b); err != nil {
		return 0, fmt.Errorf("trim events: %w", err)
	}
	return n, nil
}

// trimLimit is the exclusive upper seq TrimEvents may delete below: past
// every cursor, below the newest event and within the watermark.
func (s *PebbleStore) trimLimit() (uint64, error) {
	mark, _ := s.out.watermark()
	limit := uint64(math.MaxUint64)
	p := prefix(kindCursor)
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := decodeCursor(v)
		if err != nil {
			return false, fmt.Errorf("cursor %q: %w", k, err)
		}
		limit = min(limit, seq+1)
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	newest, err := lastEventSeq(s.db)
	if err != nil {
		return 0, err
	}
	return min(limit, newest, mark+1), nil
}

// events verifies that event keys and records agree (Check).
func (c *checker) events() error {
	p := prefix(kindEvent)
	var prev uint64
	return scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := parseEventKey(k)
		if err != nil {
			c.fail("%v", err)
			return true, nil
		}
		e, err := decodeEvent(v)
		switch {
		case err != nil:
			c.fail("event %d: %v", seq, err)
		case e.Seq != seq || seq <= prev:
			c.fail("event key %d holds seq %d (previous %d)", seq, e.Seq, prev)
		case !knownEvent(e.Kind):
			c.fail("event %d: unknown kind %q", seq, e.Kind)
		}
		prev = seq
		return true, nil
	})
}

func knownEvent(k string) bool {
	switch k {
	case EventQueued, EventDelivered, EventDeferred, EventBounced, EventFailed,
		EventExpired, EventRejected, EventSuppressed, EventUnsuppressed, EventComplained, EventDelayed:
		return true
	}
	return false
}
