package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// EachRecipient implements Store. It walks every recipient record (pending
// ones and the retained history of final messages) from one snapshot, one
// record in memory at a time: O(recipients) reads, no per-message lookups.
// The snapshot pins old data in Pebble for the walk's duration, so callers
// keep fn cheap.
func (s *PebbleStore) EachRecipient(ctx context.Context, fn func(id string, r *Recipient) error) error {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	p := prefix(kindRcpt)
	return scan(snap, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		id, err := rcptKeyID(k)
		if err != nil {
			return false, err
		}
		rec, err := decodeRecipient(v)
		if err != nil {
			return false, fmt.Errorf("%s: %w", k, err)
		}
		return true, fn(id, &rec.Recipient)
	})
}

// rcptKeyID extracts <id> from r/<id>/<idx u32>.
func rcptKeyID(k []byte) (string, error) {
	if len(k) < 2+1+4+1 || k[len(k)-5] != '/' {
		return "", fmt.Errorf("recipient key %q: %w", k, errBadKey)
	}
	return string(k[2 : len(k)-5]), nil
}

// SuppressionCount implements Store: a key-only scan of the suppression
// list, expired entries included.
func (s *PebbleStore) SuppressionCount(ctx context.Context) (int, error) {
	n := 0
	p := prefix(kindSuppress)
	err := scanKeys(s.db, p, prefixEnd(p), func([]byte) (bool, error) {
		n++
		return true, ctx.Err()
	})
	return n, err
}

// SuppressMany implements Store: every entry merged as Suppress does, in one
// synced batch. Callers bound the batch (the admin import uses 1000).
func (s *PebbleStore) SuppressMany(ctx context.Context, sups []Suppression) error {
	if err := ctx.Err(); err != nil || len(sups) == 0 {
		return err
	}
	keys := make([]string, len(sups))
	for i := range sups {
		sup := &sups[i]
		if sup.Address == "" {
			return errors.New("suppress: empty address")
		}
		sup.Address = strings.ToLower(sup.Address)
		if sup.LastSeen.IsZero() {
			sup.LastSeen = sup.Created
		}
		if sup.LastSeen.IsZero() {
			sup.LastSeen = s.clock.Now()
		}
		keys[i] = suppLockKey(sup.Address)
	}
	defer s.locks.lock(keys...)()
	b := s.db.NewIndexedBatch()
	evs := make([]Event, 0, len(sups))
	for _, sup := range sups {
		if _, err := s.mergeSuppression(b, sup); err != nil {
			b.Close()
			return fmt.Errorf("suppress %s: %w", sup.Address, err)
		}
		evs = append(evs, suppressedEvent(sup))
	}
	if err := s.commitEvents(b, evs, nil); err != nil {
		return fmt.Errorf("suppress %d addresses: %w", len(sups), err)
	}
	s.wakeShared()
	return nil
}
