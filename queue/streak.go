package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxStreak bounds a streak record; policy never needs more than its
// threshold, and a record must not grow with an address's history.
const maxStreak = 16

type streakRecord struct {
	IDs []string `json:"ids"`
}

func streakKey(addr string) []byte { return idKey(kindStreak, strings.ToLower(addr)) }

func decodeStreak(v []byte) (*streakRecord, error) {
	var r streakRecord
	if err := decode(v, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Streak implements Store.
func (s *PebbleStore) Streak(ctx context.Context, addr string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := get(s.db, streakKey(addr), decodeStreak)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("streak %s: %w", addr, err)
	}
	return r.IDs, nil
}

// streak merges u's streak change for addr into the batch; the caller holds
// the address's stripe.
func (tx *applyTx) streak(addr string, u Update) error {
	key := streakKey(addr)
	if u.StreakReset {
		return tx.b.Delete(key, nil)
	}
	r, err := get(tx.b, key, decodeStreak)
	if errors.Is(err, ErrNotFound) {
		r, err = &streakRecord{}, nil
	}
	if err != nil {
		return err
	}
	if slices.Contains(r.IDs, u.ID) {
		return nil
	}
	r.IDs = append(r.IDs, u.ID)
	if len(r.IDs) > maxStreak {
		r.IDs = r.IDs[len(r.IDs)-maxStreak:]
	}
	v, err := encode(r)
	if err != nil {
		return err
	}
	return tx.b.Set(key, v, nil)
}
