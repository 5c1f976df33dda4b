package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Transfer is one message handed from one fleet node to another (mtaq
// drain --transfer-to) with its state: the envelope, the arrival time
// (expiry counts from it), every recipient's state, attempts, next attempt
// and last reply, and their timelines.
//
// Moving a message keeps invariant T1: the receiving node commits it
// (synced) before the sending node removes it, so a crash in between
// leaves it on both (a duplicate), never on neither; the receiver knows a
// repeat by the queue ID and stores it once.
type Transfer struct {
	Message *Message `json:"message"`
	Body    []byte   `json:"body"`
	// Timelines holds each recipient's attempts, by recipient index.
	Timelines [][]Attempt `json:"timelines"`
}

// ErrNotOpen: a message with no open recipient is not transferred (there
// is nothing left to do for it).
var ErrNotOpen = errors.New("no open recipient")

// ExportTransfer reads message id whole for a Transfer; ErrNotFound
// (wrapped) for an unknown one, ErrNotOpen when every recipient is final.
func (s *PebbleStore) ExportTransfer(ctx context.Context, id string) (*Transfer, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	rec, err := getMessage(snap, id)
	if err != nil {
		return nil, err
	}
	m, err := loadMessage(snap, rec)
	if err != nil {
		return nil, err
	}
	open := false
	for _, r := range m.Recipients {
		open = open || !r.State.Final()
	}
	if !open {
		return nil, fmt.Errorf("transfer %s: %w", id, ErrNotOpen)
	}
	t := &Transfer{Message: m, Timelines: make([][]Attempt, len(m.Recipients))}
	if t.Body, err = get(snap, idKey(kindBody, id), func(v []byte) ([]byte, error) { return bytes.Clone(v), nil }); err != nil {
		return nil, fmt.Errorf("transfer %s: body: %w", id, err)
	}
	for i := range m.Recipients {
		p := timelinePrefix(id, i)
		err := scan(snap, p, prefixEnd(p), func(_, v []byte) (bool, error) {
			a, err := decodeAttempt(v)
			if err == nil {
				t.Timelines[i] = append(t.Timelines[i], *a)
			}
			return err == nil, err
		})
		if err != nil {
			return nil, fmt.Errorf("transfer %s: timeline %d: %w", id, i, err)
		}
	}
	return t, ctx.Err()
}

// ImportTransfers commits ts in one synced batch (all or nothing) and
// reports, for each, whether a message with its ID was here already (a
// transfer repeated after a crash: kept as it is, T1). It writes no event:
// the sending node reported the message's life so far, and this node
// reports what happens from now on.
func (s *PebbleStore) ImportTransfers(ctx context.Context, ts []*Transfer) ([]bool, error) {
	if err := ctx.Err(); err != nil || len(ts) == 0 {
		return nil, err
	}
	keys := make([]string, len(ts))
	var size int64
	for i, t := range ts {
		if t == nil || t.Message == nil {
			return nil, fmt.Errorf("transfer %d: no message", i)
		}
		if t.Message.ID == "" {
			return nil, fmt.Errorf("transfer %d: no queue id", i)
		}
		if err := prepareMessage(t.Message, t.Body); err != nil {
			return nil, fmt.Errorf("transfer %s: %w", t.Message.ID, err)
		}
		if len(t.Timelines) > len(t.Message.Recipients) {
			return nil, fmt.Errorf("transfer %s: %d timelines for %d recipients", t.Message.ID, len(t.Timelines), len(t.Message.Recipients))
		}
		keys[i] = msgLockKey(t.Message.ID)
		size += int64(len(t.Body))
		for _, r := range t.Message.Recipients {
			if r.State == Delivered || r.State == Bounced {
				keys = append(keys, suppLockKey(strings.ToLower(r.Address))) // H1: history under the address's stripe
			}
		}
	}
	if err := s.checkSpace(size); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	defer s.locks.lock(keys...)()
	tx := s.newTx()
	existed := make([]bool, len(ts))
	seen := map[string]bool{}
	for i, t := range ts {
		id := t.Message.ID
		if _, err := getMessage(s.db, id); err == nil || seen[id] {
			existed[i] = true
			continue
		} else if !errors.Is(err, ErrNotFound) {
			tx.b.Close()
			return nil, fmt.Errorf("transfer %s: %w", id, err)
		}
		seen[id] = true
		s.ids.claim(id)
		if err := tx.writeTransferred(t); err != nil {
			tx.b.Close()
			return nil, fmt.Errorf("transfer %s: %w", id, err)
		}
	}
	if err := tx.wait.write(tx.b); err != nil { // R2: the moved recipients wait here now
		tx.b.Close()
		return nil, fmt.Errorf("transfer: %w", err)
	}
	defer s.due.begin(tx.lo)()
	if err := s.commit(tx.b); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	return existed, nil
}

// writeTransferred is writeNewMessage with the timelines, and the
// history of recipients already delivered or bounced (H1).
func (tx *applyTx) writeTransferred(t *Transfer) error {
	m := t.Message
	if err := writeNewMessage(tx.b, &tx.lo, tx.wait, m, t.Body); err != nil {
		return err
	}
	for i := range m.Recipients {
		rec := &rcptRecord{Recipient: m.Recipients[i]}
		if i < len(t.Timelines) {
			for seq, a := range t.Timelines[i] {
				v, err := encode(&a)
				if err != nil {
					return err
				}
				if err := tx.b.Set(timelineKey(m.ID, i, uint32(seq)), v, nil); err != nil {
					return err
				}
			}
			// The record counts its timeline entries: the next
			// attempt's sequence number.
			rec.Timeline = uint32(len(t.Timelines[i]))
		}
		if err := putRecipient(tx.b, m.ID, rec); err != nil {
			return err
		}
		if err := tx.recordHistory(rec, m.ID); err != nil {
			return err
		}
	}
	return nil
}

// RemoveTransferred deletes messages another node has committed (T1):
// every record of each (meta, body, recipients, timelines, due keys) in
// one synced batch, with no event (the message lives on there). Unknown
// IDs are skipped. The caller makes sure no delivery of them is under way.
func (s *PebbleStore) RemoveTransferred(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil || len(ids) == 0 {
		return err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = msgLockKey(id)
	}
	defer s.locks.lock(keys...)()
	b := s.db.NewBatch()
	wait := waitDelta{}
	for _, id := range ids {
		if err := removeOne(s.db, b, wait, id); err != nil {
			b.Close()
			return fmt.Errorf("remove transferred %s: %w", id, err)
		}
	}
	if err := wait.write(b); err != nil {
		b.Close()
		return fmt.Errorf("remove transferred: %w", err)
	}
	return s.commit(b)
}

// removeOne deletes every record of message id, counting its waiting
// recipients out of wait (R2).
func removeOne(r pebble.Reader, b *pebble.Batch, wait waitDelta, id string) error {
	m, err := getMessage(r, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rcpts, err := loadRecipients(r, id)
	if err != nil {
		return err
	}
	for _, rc := range rcpts {
		if rc.State.Pending() {
			wait[rc.Domain]--
			if err := b.Delete(dueKey(rc.NextAttempt, id, rc.Index), nil); err != nil {
				return err
			}
		}
	}
	for _, p := range [][]byte{rcptPrefix(id), append(idKey(kindTimeline, id), '/')} {
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	del := [][]byte{idKey(kindMessage, id), idKey(kindBody, id)}
	if !m.Final.IsZero() {
		del = append(del, finalKey(m.Final, id))
	}
	for _, k := range del {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}
