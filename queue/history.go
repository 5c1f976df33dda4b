package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// History is what deliveries last said about one address: the index
// address verification reads instead of scanning recipients (H1). It is
// kept per lower-case address and outlives the messages it came from
// until TrimHistory drops it.
type History struct {
	Address string `json:"address"` // lower case
	// Delivered is the last time a recipient at the address was
	// delivered; DeliveredID its message.
	Delivered   time.Time `json:"delivered,omitzero"`
	DeliveredID string    `json:"delivered_id,omitempty"`
	// Bounced is the last time one bounced (a hard failure about the
	// address during delivery, or a DSN after it); BouncedID its message,
	// BounceReply what the server said.
	Bounced     time.Time `json:"bounced,omitzero"`
	BouncedID   string    `json:"bounced_id,omitempty"`
	BounceReply *Reply    `json:"bounce_reply,omitempty"`
}

// LastBounced reports whether the last outcome was a bounce.
func (h *History) LastBounced() bool {
	return h != nil && !h.Bounced.IsZero() && h.Bounced.After(h.Delivered)
}

// latest is the newest time in h.
func (h *History) latest() time.Time {
	if h.Bounced.After(h.Delivered) {
		return h.Bounced
	}
	return h.Delivered
}

func historyKey(addr string) []byte { return idKey(kindHistory, strings.ToLower(addr)) }

func decodeHistory(v []byte) (*History, error) {
	var h History
	if err := decode(v, &h); err != nil {
		return nil, fmt.Errorf("history record: %w", err)
	}
	return &h, nil
}

// History returns addr's record (any case), or nil when mtaq has no
// delivery or bounce to it on record. One point read.
func (s *PebbleStore) History(ctx context.Context, addr string) (*History, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := get(s.db, historyKey(addr), decodeHistory)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", addr, err)
	}
	return h, nil
}

// recordHistory merges a final delivery outcome of r into its address's
// history, in the batch that makes it final (H1); the caller holds the
// address's stripe. Only delivered and bounced say anything about the
// address: failed, expired, rejected and deleted are left out.
func (tx *applyTx) recordHistory(r *rcptRecord, id string) error {
	if r.State != Delivered && r.State != Bounced {
		return nil
	}
	key := historyKey(r.Address)
	h, err := get(tx.b, key, decodeHistory)
	if errors.Is(err, ErrNotFound) {
		h, err = &History{Address: strings.ToLower(r.Address)}, nil
	}
	if err != nil {
		return err
	}
	at := r.Updated
	if r.State == Delivered {
		if at.Before(h.Delivered) {
			return nil // a late result older than what is on record
		}
		h.Delivered, h.DeliveredID = at, id
	} else {
		if at.Before(h.Bounced) {
			return nil
		}
		h.Bounced, h.BouncedID, h.BounceReply = at, id, r.LastReply
	}
	return setRecord(tx.b, key, h)
}

// historyTrim is the newest horizon TrimHistory used (unix nanos): Check
// does not expect records for outcomes older than it.
type historyTrim struct{ nanos atomic.Int64 }

// TrimHistory drops the history of addresses whose latest outcome is
// before before, and returns how many it dropped. Not part of Store: the
// daemon's retention loop calls it with the longer of queue.retention and
// verify's history window.
func (s *PebbleStore) TrimHistory(ctx context.Context, before time.Time) (int, error) {
	p := prefix(kindHistory)
	var stale [][]byte
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		h, err := decodeHistory(v)
		if err == nil && h.latest().Before(before) {
			stale = append(stale, append([]byte(nil), k...))
		}
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	if n := before.UnixNano(); n > s.histTrim.nanos.Load() {
		s.histTrim.nanos.Store(n)
	}
	n := 0
	for len(stale) > 0 {
		chunk := stale[:min(len(stale), purgeChunk)]
		stale = stale[len(chunk):]
		if d, err := s.trimHistoryKeys(chunk, before); err != nil {
			return n, err
		} else {
			n += d
		}
	}
	return n, nil
}

// trimHistoryKeys re-reads each record under its address's stripe, so an
// outcome merged since the scan keeps it.
func (s *PebbleStore) trimHistoryKeys(keys [][]byte, before time.Time) (int, error) {
	locks := make([]string, len(keys))
	for i, k := range keys {
		locks[i] = suppLockKey(string(k[2:]))
	}
	defer s.locks.lock(locks...)()
	b := s.db.NewBatch()
	n := 0
	for _, k := range keys {
		h, err := get(s.db, k, decodeHistory)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			b.Close()
			return 0, err
		}
		if h.latest().Before(before) {
			if err := b.Delete(k, nil); err != nil {
				b.Close()
				return 0, err
			}
			n++
		}
	}
	if err := s.commit(b); err != nil {
		return 0, fmt.Errorf("trim history: %w", err)
	}
	return n, nil
}
