package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// purgeChunk bounds how many messages one Purge batch removes, so a large
// backlog of expired history neither builds a huge batch nor holds many
// stripes at once.
const purgeChunk = 256

// Purge removes the compact records (meta, recipients, timelines) of
// messages that became final before before, walking the final index. It
// returns how many messages it removed. Not part of Store: retention is the
// daemon's housekeeping, not something the delivery path calls.
func (s *PebbleStore) Purge(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids, err := s.finalBefore(before, purgeChunk)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		n, err := s.purgeIDs(ids)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// finalBefore reads up to limit final-index keys older than before.
func (s *PebbleStore) finalBefore(before time.Time, limit int) ([]string, error) {
	upper := finalKey(before, "") // exclusive: final strictly before
	var ids []string
	err := scanKeys(s.db, prefix(kindFinal), upper, func(k []byte) (bool, error) {
		_, id, err := parseFinalKey(k)
		if err != nil {
			return false, err
		}
		ids = append(ids, id)
		return len(ids) < limit, nil
	})
	return ids, err
}

func (s *PebbleStore) purgeIDs(ids []string) (int, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = msgLockKey(id)
	}
	defer s.locks.lock(keys...)()
	b := s.db.NewBatch()
	n := 0
	for _, id := range ids {
		ok, err := purgeOne(s.db, b, id)
		if err != nil {
			b.Close()
			return 0, fmt.Errorf("purge %s: %w", id, err)
		}
		if ok {
			n++
		}
	}
	if err := s.commit(b); err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	return n, nil
}

// purgeOne deletes one final message's records. It re-reads the meta under
// the lock and only removes messages that are still final.
func purgeOne(r pebble.Reader, b *pebble.Batch, id string) (bool, error) {
	m, err := getMessage(r, id)
	if err != nil {
		return false, err
	}
	if m.Open > 0 || m.Final.IsZero() {
		return false, fmt.Errorf("in final index but %d recipients open", m.Open)
	}
	for _, p := range [][]byte{rcptPrefix(id), append(idKey(kindTimeline, id), '/')} {
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return false, err
		}
	}
	for _, k := range [][]byte{idKey(kindMessage, id), idKey(kindBody, id), finalKey(m.Final, id)} {
		if err := b.Delete(k, nil); err != nil {
			return false, err
		}
	}
	return true, nil
}
