package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Enqueue implements Store. It fills in defaults on m (ID, recipient Index,
// Domain, State Queued, NextAttempt and Updated at Arrived, Size) and commits
// everything in one synced batch.
func (s *PebbleStore) Enqueue(ctx context.Context, m *Message, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := prepareMessage(m, body); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if err := s.checkSpace(int64(len(body))); err != nil {
		return fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	locks := []string{msgLockKey(m.ID)}
	if m.Idempotency != nil {
		locks = append(locks, idempotencyLockKey(m.Idempotency.Key))
	}
	unlock := s.locks.lock(locks...)
	defer unlock()
	if m.Idempotency != nil {
		resp, err := getIdempotent(s.db, m.Idempotency.Key, m.Arrived)
		if err == nil {
			return &DuplicateError{Response: resp}
		}
		if !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("enqueue %s: %w", m.ID, err)
		}
	}
	b := s.db.NewBatch()
	lo := uint64(noDue)
	wait := waitDelta{}
	err := s.writeIfNew(b, &lo, wait, m, body)
	if err == nil {
		err = wait.write(b)
	}
	if err != nil {
		b.Close()
		return fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	if m.Idempotency != nil {
		if err := putIdempotent(b, m.Idempotency); err != nil {
			b.Close()
			return fmt.Errorf("enqueue %s: %w", m.ID, err)
		}
	}
	defer s.due.begin(lo)()
	// An idempotency key's duplicate answer (DuplicateError) is an
	// acknowledgement: the next request with the key must not read this one
	// before it is durable, so the key's stripe stays held across the sync.
	release := unlock
	if m.Idempotency != nil {
		release = nil
	}
	if err := s.commitEvents(b, enqueueEvents(m), release); err != nil {
		return fmt.Errorf("enqueue %s: %w", m.ID, err)
	}
	return nil
}

// EnqueueMany is Enqueue for many messages in one synced batch: bulk loads
// (imports, the scale benchmark) that would otherwise pay one fsync each.
// Not part of Store: the SMTP path commits one message per 250, and
// concurrent commits already share an fsync. All or nothing.
func (s *PebbleStore) EnqueueMany(ctx context.Context, ms []*Message, bodies [][]byte) error {
	if err := ctx.Err(); err != nil || len(ms) == 0 {
		return err
	}
	if len(ms) != len(bodies) {
		return fmt.Errorf("enqueue many: %d messages, %d bodies", len(ms), len(bodies))
	}
	keys := make([]string, len(ms))
	seen := make(map[string]bool, len(ms))
	var size int64
	for i, m := range ms {
		if err := prepareMessage(m, bodies[i]); err != nil {
			return fmt.Errorf("enqueue many: %w", err)
		}
		if seen[m.ID] {
			return fmt.Errorf("enqueue many %s: duplicate message id", m.ID)
		}
		seen[m.ID] = true
		keys[i] = msgLockKey(m.ID)
		size += int64(len(bodies[i]))
	}
	if err := s.checkSpace(size); err != nil {
		return fmt.Errorf("enqueue many: %w", err)
	}
	defer s.locks.lock(keys...)()
	b := s.db.NewBatch()
	lo := uint64(noDue)
	var evs []Event
	wait := waitDelta{}
	for i, m := range ms {
		err := s.writeIfNew(b, &lo, wait, m, bodies[i])
		if err != nil {
			b.Close()
			return fmt.Errorf("enqueue %s: %w", m.ID, err)
		}
		evs = append(evs, enqueueEvents(m)...)
	}
	if err := wait.write(b); err != nil {
		b.Close()
		return fmt.Errorf("enqueue many: %w", err)
	}
	defer s.due.begin(lo)()
	if err := s.commitEvents(b, evs, nil); err != nil {
		return fmt.Errorf("enqueue %d messages: %w", len(ms), err)
	}
	return nil
}

// writeIfNew is writeNewMessage after checking that m.ID is free; the caller
// holds m's lock.
func (s *PebbleStore) writeIfNew(b *pebble.Batch, lo *uint64, wait waitDelta, m *Message, body []byte) error {
	// Generated IDs are unique; a caller-chosen one may not be. An ID above
	// every ID the store has held cannot be there: NewID's IDs run upwards, so
	// that is the usual case, and it spares a lookup that, for a key that
	// is absent, reads every table on disk. Otherwise a presence check: no
	// record decoded, no error built for the usual answer.
	if s.ids.claim(m.ID) {
		return writeNewMessage(b, lo, wait, m, body)
	}
	_, closer, err := s.db.Get(idKey(kindMessage, m.ID))
	switch {
	case err == nil:
		closer.Close()
		return errors.New("message id already exists")
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	return writeNewMessage(b, lo, wait, m, body)
}

// prepareMessage validates m and fills in the defaults Enqueue documents.
func prepareMessage(m *Message, body []byte) error {
	if m == nil || len(m.Recipients) == 0 {
		return errors.New("message has no recipients")
	}
	if m.Arrived.IsZero() {
		return errors.New("message has no arrival time")
	}
	if m.ID == "" {
		m.ID = NewID(m.Arrived)
	}
	if err := validID(m.ID); err != nil {
		return err
	}
	if m.Size == 0 {
		m.Size = int64(len(body))
	}
	if m.Headers == "" {
		m.Headers = headerBlock(body)
	}
	m.Headers = capHeaders(m.Headers)
	m.From, m.Subject = summary(m.Headers)
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.Address == "" {
			return fmt.Errorf("recipient %d has no address", i)
		}
		r.Index = i
		if r.Domain == "" {
			r.Domain = r.Address[strings.LastIndexByte(r.Address, '@')+1:]
		}
		r.Domain = strings.ToLower(r.Domain)
		if r.State == "" {
			r.State = Queued
		}
		if !knownState(r.State) {
			return fmt.Errorf("recipient %d: unknown state %q", i, r.State)
		}
		switch {
		case !r.State.Pending():
			r.NextAttempt = time.Time{}
		case r.NextAttempt.IsZero():
			r.NextAttempt = m.Arrived
		}
		if r.Updated.IsZero() {
			r.Updated = m.Arrived
		}
	}
	return nil
}

// writeNewMessage puts meta, recipients, due keys and, while any recipient
// is open, the body. A message born final is finalised at once (Q4). *lo
// takes the smallest due time written (dueMark); wait counts the pending
// recipients (R2).
func writeNewMessage(b *pebble.Batch, lo *uint64, wait waitDelta, m *Message, body []byte) error {
	rec := msgRecord{
		ID: m.ID, Sender: m.Sender, Arrived: m.Arrived, Size: m.Size,
		ClientAddr: m.ClientAddr, Helo: m.Helo, Headers: m.Headers, Rcpts: len(m.Recipients),
	}
	rec.NoDSN, rec.Tag, rec.Metadata, rec.Pool = m.NoDSN, m.Tag, m.Metadata, m.Pool
	rec.From, rec.Subject = m.From, m.Subject
	for _, r := range m.Recipients {
		if !r.State.Final() {
			rec.Open++
		}
		if err := putRecipient(b, m.ID, &rcptRecord{Recipient: r}); err != nil {
			return err
		}
		if r.State.Pending() {
			wait[r.Domain]++
			if err := setDue(b, lo, r.NextAttempt, m.ID, r.Index); err != nil {
				return err
			}
		}
	}
	if rec.Open > 0 {
		if err := b.Set(idKey(kindBody, m.ID), body, nil); err != nil {
			return err
		}
	} else {
		rec.Final = m.Arrived
		if err := b.Set(finalKey(rec.Final, m.ID), nil, nil); err != nil {
			return err
		}
	}
	return putMessage(b, &rec)
}

// Lease implements Store. Recipients no longer pending are skipped; an
// unknown message or recipient is an error wrapping ErrNotFound.
func (s *PebbleStore) Lease(ctx context.Context, leases []Lease) error {
	if err := ctx.Err(); err != nil || len(leases) == 0 {
		return err
	}
	keys := make([]string, 0, len(leases))
	for _, l := range leases {
		if l.Until.IsZero() {
			return fmt.Errorf("lease %s/%d: zero Until", l.ID, l.Rcpt)
		}
		keys = append(keys, msgLockKey(l.ID))
	}
	unlock := s.locks.lock(keys...)
	defer unlock()
	b := s.db.NewIndexedBatch()
	lo := uint64(noDue)
	for _, l := range leases {
		if err := leaseOne(b, &lo, l); err != nil {
			b.Close()
			return fmt.Errorf("lease %s/%d: %w", l.ID, l.Rcpt, err)
		}
	}
	defer s.due.begin(lo)()
	return s.commitRelease(b, unlock)
}

func leaseOne(b *pebble.Batch, lo *uint64, l Lease) error {
	r, err := getRecipient(b, l.ID, l.Rcpt)
	if err != nil || !r.State.Pending() {
		return err
	}
	if err := b.Delete(dueKey(r.NextAttempt, l.ID, l.Rcpt), nil); err != nil {
		return err
	}
	r.NextAttempt = l.Until
	if err := setDue(b, lo, r.NextAttempt, l.ID, l.Rcpt); err != nil {
		return err
	}
	return putRecipient(b, l.ID, r)
}

// Apply implements Store. Updates for recipients already final are skipped
// whole (a late result after an operator deleted the recipient). Any other
// failure commits nothing.
func (s *PebbleStore) Apply(ctx context.Context, updates []Update) error {
	if err := ctx.Err(); err != nil || len(updates) == 0 {
		return err
	}
	keys, err := s.applyLockKeys(updates)
	if err != nil {
		return err
	}
	unlock := s.locks.lock(keys...)
	defer unlock()
	tx := s.newTx()
	tx.release = unlock
	for _, u := range updates {
		if err := tx.apply(u); err != nil {
			tx.b.Close()
			return fmt.Errorf("apply %s/%d: %w", u.ID, u.Rcpt, err)
		}
	}
	for _, m := range tx.msgs {
		if err := putMessage(tx.b, m); err != nil {
			tx.b.Close()
			return err
		}
	}
	return tx.commit()
}

// applyLockKeys validates updates and names the stripes Apply must hold:
// every message, and every suppressed address (entries are merged).
func (s *PebbleStore) applyLockKeys(updates []Update) ([]string, error) {
	keys := make([]string, 0, len(updates))
	for i := range updates {
		u := &updates[i]
		if !knownState(u.State) {
			return nil, fmt.Errorf("apply %s/%d: unknown state %q", u.ID, u.Rcpt, u.State)
		}
		if u.State.Pending() && u.NextAttempt.IsZero() {
			return nil, fmt.Errorf("apply %s/%d: state %s needs NextAttempt", u.ID, u.Rcpt, u.State)
		}
		keys = append(keys, msgLockKey(u.ID))
		// Delivered and bounced merge into the address's history (H1).
		history := u.State == Delivered || u.State == Bounced
		if u.Suppress == nil && !u.StreakAdd && !u.StreakReset && !history {
			continue
		}
		addr := u.Address // the caller's word, checked under the lock (apply)
		if addr == "" {
			// A recipient's address never changes, so reading it unlocked is safe.
			r, err := getRecipient(s.db, u.ID, u.Rcpt)
			if err != nil {
				return nil, fmt.Errorf("apply %s/%d: %w", u.ID, u.Rcpt, err)
			}
			addr = r.Address
		}
		keys = append(keys, suppLockKey(strings.ToLower(addr)))
		if u.Suppress != nil && u.Suppress.Address != "" && !strings.EqualFold(u.Suppress.Address, addr) {
			keys = append(keys, suppLockKey(strings.ToLower(u.Suppress.Address)))
		}
	}
	return keys, nil
}

// applyTx is one Apply's batch. The batch is indexed so later updates in the
// same call read what earlier ones wrote.
type applyTx struct {
	s    *PebbleStore
	b    *pebble.Batch
	msgs map[string]*msgRecord // written once, at the end
	evs  []Event               // numbered and added at commit
	lo   uint64                // smallest due time written (dueMark)
	wait waitDelta             // waiting recipients per domain (R2), added at commit
	// shared: a p/ entry is in b, so commit wakes the shared outbox.
	shared bool
	// release, when set, lets the caller's stripes go once b is applied
	// (commitRelease).
	release func()
}

func (s *PebbleStore) newTx() *applyTx {
	return &applyTx{s: s, b: s.db.NewIndexedBatch(), msgs: map[string]*msgRecord{}, lo: noDue, wait: waitDelta{}}
}

// commit commits the batch with its events, registered with the due mark.
func (tx *applyTx) commit() error {
	if err := tx.wait.write(tx.b); err != nil {
		tx.b.Close()
		return err
	}
	defer tx.s.due.begin(tx.lo)()
	if err := tx.s.commitEvents(tx.b, tx.evs, tx.release); err != nil {
		return err
	}
	if tx.shared {
		tx.s.wakeShared()
	}
	return nil
}

func (tx *applyTx) message(id string) (*msgRecord, error) {
	if m, ok := tx.msgs[id]; ok {
		return m, nil
	}
	m, err := getMessage(tx.b, id)
	if err != nil {
		return nil, err
	}
	tx.msgs[id] = m
	return m, nil
}

func (tx *applyTx) apply(u Update) error {
	m, err := tx.message(u.ID)
	if err != nil {
		return err
	}
	r, err := getRecipient(tx.b, u.ID, u.Rcpt)
	if err != nil || r.State.Final() {
		return err
	}
	if u.Address != "" && !strings.EqualFold(u.Address, r.Address) {
		// The wrong stripe was locked: refuse rather than race.
		return fmt.Errorf("update names %q, the recipient is %q", u.Address, r.Address)
	}
	if r.State == Held && u.State.Pending() && u.CountAttempt {
		// A job was in flight when the operator held it: record the
		// attempt, stay held. A delivery or a bounce still wins.
		u.State, u.NextAttempt = Held, time.Time{}
	}
	if r.State.Pending() {
		if err := tx.b.Delete(dueKey(r.NextAttempt, u.ID, u.Rcpt), nil); err != nil {
			return err
		}
	}
	if err := tx.updateRecipient(r, u); err != nil {
		return err
	}
	if e, ok := stateEvent(m, r, u, tx.s.clock.Now()); ok {
		tx.evs = append(tx.evs, e)
	}
	if u.State.Final() {
		if err := tx.closeRecipient(m, u); err != nil {
			return err
		}
		if err := tx.recordHistory(r, u.ID); err != nil {
			return err
		}
	}
	if u.StreakAdd || u.StreakReset {
		if err := tx.streak(r.Address, u); err != nil {
			return err
		}
	}
	if u.Suppress != nil {
		return tx.suppress(r, u)
	}
	return nil
}

// updateRecipient sets the new state, due key and timeline entry of r.
func (tx *applyTx) updateRecipient(r *rcptRecord, u Update) error {
	tx.wait.change(r.Domain, r.State, u.State)
	r.State = u.State
	switch {
	case u.Attempt != nil:
		r.Updated = u.Attempt.At
	case !u.NextAttempt.IsZero():
		r.Updated = u.NextAttempt
	}
	if u.Reply != nil {
		reply := *u.Reply
		r.LastReply = &reply
	}
	r.LastAboutAddress = u.AboutAddress
	if u.CountAttempt {
		r.Attempts++
	}
	r.NextAttempt = time.Time{}
	if u.State.Pending() {
		r.NextAttempt = u.NextAttempt
		if err := setDue(tx.b, &tx.lo, r.NextAttempt, u.ID, u.Rcpt); err != nil {
			return err
		}
	}
	if u.Attempt != nil {
		if err := setRecord(tx.b, timelineKey(u.ID, u.Rcpt, r.Timeline), u.Attempt); err != nil {
			return err
		}
		r.Timeline++
	}
	return putRecipient(tx.b, u.ID, r)
}

// closeRecipient counts a recipient that just became final; the last one
// removes the body and enters the message in the final index (Q4).
func (tx *applyTx) closeRecipient(m *msgRecord, u Update) error {
	m.Open--
	if m.Open > 0 {
		return nil
	}
	m.Final = tx.s.clock.Now()
	if u.Attempt != nil {
		m.Final = u.Attempt.At
	}
	if err := tx.b.Delete(idKey(kindBody, m.ID), nil); err != nil {
		return err
	}
	return tx.b.Set(finalKey(m.Final, m.ID), nil, nil)
}

func (tx *applyTx) suppress(r *rcptRecord, u Update) error {
	sup := *u.Suppress
	if sup.Address == "" {
		sup.Address = r.Address
	}
	if sup.MessageID == "" {
		sup.MessageID = u.ID
	}
	if sup.LastSeen.IsZero() && u.Attempt != nil {
		sup.LastSeen = u.Attempt.At
	}
	if sup.LastSeen.IsZero() {
		sup.LastSeen = tx.s.clock.Now()
	}
	tx.evs = append(tx.evs, suppressedEvent(sup))
	shared, err := tx.s.mergeSuppression(tx.b, sup)
	tx.shared = tx.shared || shared
	return err
}

func putMessage(b *pebble.Batch, m *msgRecord) error {
	return setRecord(b, idKey(kindMessage, m.ID), m)
}

func putRecipient(b *pebble.Batch, id string, r *rcptRecord) error {
	return setRecord(b, rcptKey(id, r.Index), r)
}
