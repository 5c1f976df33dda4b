package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Suppression implements Store: nil, nil when there is no entry or it has
// expired at now.
func (s *PebbleStore) Suppression(ctx context.Context, addr string, now time.Time) (*Suppression, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.supp != nil && !s.supp.mayHold(addr) {
		return nil, nil
	}
	sup, err := get(s.db, suppressKey(addr), decodeSuppression)
	if errors.Is(err, ErrNotFound) || (err == nil && !sup.Active(now)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("suppression %s: %w", addr, err)
	}
	return sup, nil
}

// Suppress implements Store. See mergeSuppression for how an existing entry
// changes.
func (s *PebbleStore) Suppress(ctx context.Context, sup Suppression) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if sup.Address == "" {
		return errors.New("suppress: empty address")
	}
	if sup.LastSeen.IsZero() {
		sup.LastSeen = sup.Created
	}
	if sup.LastSeen.IsZero() {
		sup.LastSeen = s.clock.Now()
	}
	sup.Address = strings.ToLower(sup.Address)
	defer s.locks.lock(suppLockKey(sup.Address))()
	b := s.db.NewIndexedBatch()
	if _, err := s.mergeSuppression(b, sup); err != nil {
		b.Close()
		return fmt.Errorf("suppress %s: %w", sup.Address, err)
	}
	if err := s.commitEvents(b, []Event{suppressedEvent(sup)}, nil); err != nil {
		return fmt.Errorf("suppress %s: %w", sup.Address, err)
	}
	s.wakeShared()
	return nil
}

// mergeSuppression writes sup into b, merged with the entry already in b or
// the database. The caller holds the address's stripe. A new entry starts at
// Count 1 (or sup.Count if larger); an existing one keeps Created, counts
// one more sighting and takes the new LastSeen, Reason and Expires; Reply
// and MessageID are replaced only when sup carries them. With the shared
// outbox on, the sighting goes to a p/ entry in b too (Q6); it reports
// whether one did.
func (s *PebbleStore) mergeSuppression(b *pebble.Batch, sup Suppression) (bool, error) {
	sup.Address = strings.ToLower(sup.Address)
	old, err := get(b, suppressKey(sup.Address), decodeSuppression)
	sighting := sup
	switch {
	case errors.Is(err, ErrNotFound):
		sup.Count = max(sup.Count, 1)
		if sup.Created.IsZero() {
			sup.Created = sup.LastSeen
		}
		sighting.Count, sighting.Created = sup.Count, sup.Created
	case err != nil:
		return false, err
	default:
		sighting.Count = 1
		if sighting.Created.IsZero() {
			sighting.Created = sighting.LastSeen
		}
		sup.Created = old.Created
		sup.Count = old.Count + 1
		if sup.Reason == "" {
			sup.Reason = old.Reason
		}
		if sup.Reply == nil {
			sup.Reply = old.Reply
		}
		if sup.MessageID == "" {
			sup.MessageID = old.MessageID
		}
		if sup.LastSeen.Before(old.LastSeen) {
			sup.LastSeen = old.LastSeen
		}
	}
	v, err := encode(&sup)
	if err != nil {
		return false, err
	}
	s.addSuppressed(sup.Address) // F1: before the key can be seen
	if err := b.Set(suppressKey(sup.Address), v, nil); err != nil {
		return false, err
	}
	return s.putShared(b, SharedChange{At: sup.LastSeen, Suppression: sighting})
}

// Unsuppress implements Store.
func (s *PebbleStore) Unsuppress(ctx context.Context, addr string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addr = strings.ToLower(addr)
	defer s.locks.lock(suppLockKey(addr))()
	_, closer, err := s.db.Get(suppressKey(addr))
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("unsuppress %s: %w", addr, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("unsuppress %s: %w", addr, err)
	}
	closer.Close()
	b := s.db.NewBatch()
	if err := b.Delete(suppressKey(addr), nil); err != nil {
		b.Close()
		return err
	}
	now := s.clock.Now()
	if _, err := s.putShared(b, SharedChange{At: now, Removed: true, Suppression: Suppression{Address: addr}}); err != nil {
		b.Close()
		return err
	}
	e := Event{Kind: EventUnsuppressed, At: now, Rcpt: addr, Reason: "removed"}
	if err := s.commitEvents(b, []Event{e}, nil); err != nil {
		return fmt.Errorf("unsuppress %s: %w", addr, err)
	}
	s.wakeShared()
	return nil
}

// Suppressions implements Store; limit <= 0 means no limit.
func (s *PebbleStore) Suppressions(ctx context.Context, after string, limit int) ([]Suppression, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lower := prefix(kindSuppress)
	if after != "" {
		lower = append(suppressKey(after), 0)
	}
	var out []Suppression
	err := scan(s.db, lower, prefixEnd(prefix(kindSuppress)), func(_, v []byte) (bool, error) {
		sup, err := decodeSuppression(v)
		if err != nil {
			return false, err
		}
		out = append(out, *sup)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}
