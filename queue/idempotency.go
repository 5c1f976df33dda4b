package queue

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Idempotency asks Enqueue to remember Response under Key until Expires,
// in the message's own batch, so a retried request finds the answer to the
// first one even after a restart. Key is the caller's scope and key (the
// HTTP API uses the API key's hash and the Idempotency-Key header); it is
// stored hashed.
type Idempotency struct {
	Key      string
	Response []byte
	Expires  time.Time
}

// DuplicateError is Enqueue's answer when Message.Idempotency.Key is
// already remembered and not expired: nothing was queued, and Response is
// what the first request stored.
type DuplicateError struct{ Response []byte }

func (e *DuplicateError) Error() string { return "idempotency key already used" }

// idempotencyKey is i/<hex sha256(key)>: fixed length, whatever the client sent.
func idempotencyKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return append(prefix(kindIdempotency), hex.EncodeToString(sum[:])...)
}

// idempotencyLockKey serialises Enqueues that carry the same key, so two
// concurrent requests cannot both find it free.
func idempotencyLockKey(key string) string { return "i/" + key }

// getIdempotent returns the response remembered under key at now, or
// ErrNotFound when there is none or it expired.
func getIdempotent(r pebble.Reader, key string, now time.Time) ([]byte, error) {
	v, closer, err := r.Get(idempotencyKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	if len(v) < 8 {
		return nil, fmt.Errorf("idempotency record: %w", errBadKey)
	}
	if timeNanos(now) >= binary.BigEndian.Uint64(v[:8]) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v[8:]...), nil
}

// Idempotent returns the response remembered under key (see Idempotency),
// or ErrNotFound when there is none or it expired at now. Not part of
// Store: only the HTTP API asks.
func (s *PebbleStore) Idempotent(ctx context.Context, key string, now time.Time) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return getIdempotent(s.db, key, now)
}

// putIdempotent adds the record to b.
func putIdempotent(b *pebble.Batch, id *Idempotency) error {
	v := binary.BigEndian.AppendUint64(nil, timeNanos(id.Expires))
	return b.Set(idempotencyKey(id.Key), append(v, id.Response...), nil)
}

// TrimIdempotency drops remembered responses that expired before now.
func (s *PebbleStore) TrimIdempotency(ctx context.Context, now time.Time) (int, error) {
	var dead [][]byte
	err := scan(s.db, prefix(kindIdempotency), prefixEnd(prefix(kindIdempotency)), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if len(v) < 8 || timeNanos(now) >= binary.BigEndian.Uint64(v[:8]) {
			dead = append(dead, append([]byte(nil), k...))
		}
		return len(dead) < 10000, nil
	})
	if err != nil || len(dead) == 0 {
		return 0, err
	}
	b := s.db.NewBatch()
	for _, k := range dead {
		if err := b.Delete(k, nil); err != nil {
			b.Close()
			return 0, err
		}
	}
	// An Enqueue that re-used an expired key may have replaced the record
	// since the scan: deleting it early only lets a retry queue twice
	// after expiry, which the client was told may happen.
	if err := s.commit(b); err != nil {
		return 0, fmt.Errorf("trim idempotency: %w", err)
	}
	return len(dead), nil
}
