package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// A consumer of the outbox (a webhook) may keep, beside its cursor, a
// dead-letter list (events it gave up on, kept to be sent again by hand)
// and a hold (it stopped itself, e.g. its endpoint answered 410 Gone).
//
// Invariants (checked by Check):
//
//	D1 every dead letter of a consumer lies at or below its cursor: they
//	   are written in the batch that moves the cursor past them
//	   (AdvanceCursor), so a crash leaves either both or neither, and a
//	   cursor never passes an event that is neither delivered nor kept.
//	D2 a dead letter's key names its event's seq; DeleteCursor removes a
//	   consumer's cursor, dead letters and hold in one batch, so no dead
//	   letter or hold outlives its cursor.

// DeadLetter is an event a consumer gave up on, with why.
type DeadLetter struct {
	Event    Event     `json:"event"`
	Attempts int       `json:"attempts"`
	Status   int       `json:"status,omitempty"` // the receiver's last HTTP status; 0 when none
	Error    string    `json:"error"`
	At       time.Time `json:"at"` // when it was given up on, or last retried
}

// Hold says why a consumer stopped and since when.
type Hold struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// maxConsumerName bounds a consumer name in a key.
const maxConsumerName = 200

func validConsumer(name string) error {
	if name == "" || len(name) > maxConsumerName || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("consumer name %q: empty, too long, or contains '/' or NUL", name)
	}
	return nil
}

func deadPrefix(name string) []byte { return append(append(prefix(kindDead), name...), '/') }

func deadKey(name string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(deadPrefix(name), seq)
}

// parseDeadKey splits w/<name>/<seq>.
func parseDeadKey(k []byte) (name string, seq uint64, err error) {
	if len(k) < 2+1+1+8 || k[0] != kindDead || k[1] != '/' || k[len(k)-9] != '/' {
		return "", 0, fmt.Errorf("dead-letter key %q: %w", k, errBadKey)
	}
	return string(k[2 : len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), nil
}

func holdKey(name string) []byte { return append(prefix(kindHold), name...) }

func decodeDeadLetter(b []byte) (*DeadLetter, error) {
	var d DeadLetter
	if err := decode(b, &d); err != nil {
		return nil, fmt.Errorf("dead-letter record: %w", err)
	}
	return &d, nil
}

func decodeHold(b []byte) (*Hold, error) {
	var h Hold
	if err := decode(b, &h); err != nil {
		return nil, fmt.Errorf("hold record: %w", err)
	}
	return &h, nil
}

// AdvanceCursor moves consumer name's cursor to seq and keeps dead, in one
// synced batch (D1). Every dead letter's event must be at or below seq.
func (s *PebbleStore) AdvanceCursor(ctx context.Context, name string, seq uint64, dead []DeadLetter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validConsumer(name); err != nil {
		return err
	}
	s.consumerMu.Lock()
	defer s.consumerMu.Unlock()
	b := s.db.NewBatch()
	for _, d := range dead {
		if d.Event.Seq == 0 || d.Event.Seq > seq {
			b.Close()
			return fmt.Errorf("advance cursor %s to %d: dead letter for event %d beyond it", name, seq, d.Event.Seq)
		}
		if err := setRecord(b, deadKey(name, d.Event.Seq), &d); err != nil {
			b.Close()
			return err
		}
	}
	if err := b.Set(cursorKey(name), binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
		b.Close()
		return err
	}
	if err := s.commit(b); err != nil {
		return fmt.Errorf("advance cursor %s: %w", name, err)
	}
	return nil
}

func setRecord(b *pebble.Batch, key []byte, v any) error {
	return withEncoded(v, func(rec []byte) error { return b.Set(key, rec, nil) })
}

// DeadLetters returns up to limit of consumer name's dead letters with
// seq > after, oldest first; limit <= 0 means maxEventsPage.
func (s *PebbleStore) DeadLetters(ctx context.Context, name string, after uint64, limit int) ([]DeadLetter, error) {
	if err := validConsumer(name); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > maxEventsPage {
		limit = maxEventsPage
	}
	var out []DeadLetter
	p := deadPrefix(name)
	lower := deadKey(name, after+1)
	if after == ^uint64(0) {
		return nil, nil
	}
	err := scan(s.db, lower, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		d, err := decodeDeadLetter(v)
		if err != nil {
			return false, fmt.Errorf("%x: %w", k, err)
		}
		out = append(out, *d)
		return len(out) < limit, nil
	})
	return out, err
}

// CountDeadLetters counts consumer name's dead letters.
func (s *PebbleStore) CountDeadLetters(ctx context.Context, name string) (int, error) {
	if err := validConsumer(name); err != nil {
		return 0, err
	}
	n := 0
	p := deadPrefix(name)
	err := scanKeys(s.db, p, prefixEnd(p), func([]byte) (bool, error) {
		n++
		return true, ctx.Err()
	})
	return n, err
}

// UpdateDeadLetter rewrites a dead letter that exists (after a failed
// retry: attempts, status, error); ErrNotFound when it does not.
func (s *PebbleStore) UpdateDeadLetter(ctx context.Context, name string, d DeadLetter) error {
	return s.changeDeadLetter(ctx, name, d.Event.Seq, &d)
}

// DeleteDeadLetter forgets one dead letter (it was delivered on retry);
// ErrNotFound when it does not exist.
func (s *PebbleStore) DeleteDeadLetter(ctx context.Context, name string, seq uint64) error {
	return s.changeDeadLetter(ctx, name, seq, nil)
}

// changeDeadLetter sets (d != nil) or deletes an existing dead letter. The
// existence check and the write hold the consumer's lock, so a concurrent
// delete is not undone by an update.
func (s *PebbleStore) changeDeadLetter(ctx context.Context, name string, seq uint64, d *DeadLetter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validConsumer(name); err != nil {
		return err
	}
	s.consumerMu.Lock()
	defer s.consumerMu.Unlock()
	key := deadKey(name, seq)
	if _, err := get(s.db, key, decodeDeadLetter); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("dead letter %s/%d: %w", name, seq, ErrNotFound)
		}
		return err
	}
	b := s.db.NewBatch()
	var err error
	if d != nil {
		err = setRecord(b, key, d)
	} else {
		err = b.Delete(key, nil)
	}
	if err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// TrimDeadLetters removes every consumer's dead letters given up on (or
// last retried) before before, so a receiver refusing everything cannot
// grow the database without bound; it returns how many it removed.
func (s *PebbleStore) TrimDeadLetters(ctx context.Context, before time.Time) (int, error) {
	s.consumerMu.Lock()
	defer s.consumerMu.Unlock()
	b := s.db.NewBatch()
	n := 0
	p := prefix(kindDead)
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		d, err := decodeDeadLetter(v)
		if err != nil {
			return false, fmt.Errorf("%x: %w", k, err)
		}
		if d.At.Before(before) {
			n++
			return true, b.Delete(k, nil)
		}
		return true, nil
	})
	if err != nil || n == 0 {
		b.Close()
		return 0, err
	}
	if err := s.commit(b); err != nil {
		return 0, fmt.Errorf("trim dead letters: %w", err)
	}
	return n, nil
}

// HoldConsumer records that consumer name has stopped, synced.
func (s *PebbleStore) HoldConsumer(ctx context.Context, name string, h Hold) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validConsumer(name); err != nil {
		return err
	}
	b := s.db.NewBatch()
	if err := setRecord(b, holdKey(name), &h); err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// ReleaseConsumer removes consumer name's hold, if any, synced.
func (s *PebbleStore) ReleaseConsumer(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validConsumer(name); err != nil {
		return err
	}
	b := s.db.NewBatch()
	if err := b.Delete(holdKey(name), nil); err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// ConsumerHold returns consumer name's hold, nil when it has none.
func (s *PebbleStore) ConsumerHold(ctx context.Context, name string) (*Hold, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validConsumer(name); err != nil {
		return nil, err
	}
	h, err := get(s.db, holdKey(name), decodeHold)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return h, err
}

// consumers verifies D1 and D2 (Check).
func (c *checker) consumers() error {
	cursors := map[string]uint64{}
	p := prefix(kindCursor)
	err := scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := decodeCursor(v)
		if err != nil {
			c.fail("cursor %q: %v", k, err)
			return true, nil
		}
		cursors[string(k[len(p):])] = seq
		return true, nil
	})
	if err != nil {
		return err
	}
	p = prefix(kindDead)
	err = scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		name, seq, err := parseDeadKey(k)
		if err != nil {
			c.fail("%v", err)
			return true, nil
		}
		d, err := decodeDeadLetter(v)
		cur, ok := cursors[name]
		switch {
		case err != nil:
			c.fail("dead letter %s/%d: %v", name, seq, err)
		case d.Event.Seq != seq:
			c.fail("dead letter key %s/%d holds event %d", name, seq, d.Event.Seq)
		case !ok:
			c.fail("dead letter %s/%d of a consumer without a cursor", name, seq)
		case seq > cur:
			c.fail("dead letter %s/%d beyond the cursor %d", name, seq, cur)
		}
		return true, c.ctx.Err()
	})
	if err != nil {
		return err
	}
	p = prefix(kindHold)
	return scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		name := string(k[len(p):])
		if _, err := decodeHold(v); err != nil {
			c.fail("hold %s: %v", name, err)
		} else if _, ok := cursors[name]; !ok {
			c.fail("hold %s of a consumer without a cursor", name)
		}
		return true, nil
	})
}
