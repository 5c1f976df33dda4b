package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// maxReported bounds the violations Check spells out.
const maxReported = 10

// Check implements Store. It reads one snapshot and verifies Q1 (due keys
// match pending recipients, both ways), W1 (none below the due watermark),
// Q4 (body iff an open recipient), the open-recipient counter, the final
// index, D1/D2 (consumer.go), the shared outbox (Q6) and the waiting
// counters (R2, rollup.go). Q2 and Q3 are properties of the write paths; Check sees their
// result as Q1 and Q4 holding.
func (s *PebbleStore) Check(ctx context.Context) error {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	// Read after the snapshot: every key in it is committed, so W1 holds.
	c := checker{ctx: ctx, r: snap, dueLow: s.due.get(), histTrim: s.histTrim.nanos.Load(), supp: s.supp}
	if s.shared != nil {
		c.sharedNext = s.shared.next.Load()
	}
	steps := []func() error{c.messages, c.dueKeys, c.bodies, c.finals, c.events, c.consumers, c.shared, c.waiting, c.suppFilter}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("queue check: %w", err)
		}
	}
	return c.result()
}

type checker struct {
	ctx        context.Context
	r          pebble.Reader
	dueLow     uint64 // the due watermark (W1 in duemark.go)
	histTrim   int64  // TrimHistory's newest horizon: older outcomes may be gone (H1)
	sharedNext uint64 // the next p/ seq (Q6 in shared.go); 0 when off
	supp       *suppFilter
	violations []string
	n          int
}

func (c *checker) fail(format string, args ...any) {
	c.n++
	if len(c.violations) < maxReported {
		c.violations = append(c.violations, fmt.Sprintf(format, args...))
	}
}

func (c *checker) result() error {
	if c.n == 0 {
		return nil
	}
	return fmt.Errorf("queue check: %d violation(s): %s", c.n, strings.Join(c.violations, "; "))
}

func (c *checker) exists(key []byte) (bool, error) {
	_, closer, err := c.r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

func (c *checker) messages() error {
	p := prefix(kindMessage)
	return scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := c.ctx.Err(); err != nil {
			return false, err
		}
		m, err := decodeMessage(v)
		if err != nil {
			c.fail("%s: %v", k, err)
			return true, nil
		}
		return true, c.message(m)
	})
}

func (c *checker) message(m *msgRecord) error {
	rcpts, err := loadRecipients(c.r, m.ID)
	if err != nil {
		c.fail("message %s: %v", m.ID, err)
		return nil
	}
	if len(rcpts) != m.Rcpts {
		c.fail("message %s: %d recipients, meta says %d", m.ID, len(rcpts), m.Rcpts)
	}
	open := 0
	for i, r := range rcpts {
		if r.Index != i {
			c.fail("message %s: recipient %d has index %d", m.ID, i, r.Index)
		}
		if !r.State.Final() {
			open++
		}
		if err := c.history(m.ID, &r); err != nil {
			return err
		}
		if !r.State.Pending() {
			continue
		}
		ok, err := c.exists(dueKey(r.NextAttempt, m.ID, r.Index))
		if err != nil {
			return err
		}
		if !ok {
			c.fail("Q1 %s/%d: %s with no due key at %s", m.ID, i, r.State, r.NextAttempt)
		}
	}
	if open != m.Open {
		c.fail("message %s: %d open recipients, counter says %d", m.ID, open, m.Open)
	}
	return c.finalState(m, open)
}

// finalState checks Q4 and the final index for one message.
func (c *checker) finalState(m *msgRecord, open int) error {
	body, err := c.exists(idKey(kindBody, m.ID))
	if err != nil {
		return err
	}
	if body != (open > 0) {
		c.fail("Q4 %s: body present=%v with %d open recipients", m.ID, body, open)
	}
	if m.Final.IsZero() != (open > 0) {
		c.fail("message %s: final time %v with %d open recipients", m.ID, m.Final, open)
	}
	if m.Final.IsZero() {
		return nil
	}
	indexed, err := c.exists(finalKey(m.Final, m.ID))
	if err != nil {
		return err
	}
	if !indexed {
		c.fail("message %s: final but not in the final index", m.ID)
	}
	return nil
}

// history checks H1 for one recipient: a delivered or bounced one is on
// record in its address's history at its time or later.
func (c *checker) history(id string, r *Recipient) error {
	if r.State != Delivered && r.State != Bounced || r.Updated.UnixNano() < c.histTrim {
		return nil
	}
	h, err := get(c.r, historyKey(r.Address), decodeHistory)
	switch {
	case errors.Is(err, ErrNotFound):
		c.fail("H1 %s/%d: %s with no history for %s", id, r.Index, r.State, r.Address)
		return nil
	case err != nil:
		c.fail("H1 %s/%d: %v", id, r.Index, err)
		return nil
	}
	at := h.Delivered
	if r.State == Bounced {
		at = h.Bounced
	}
	// The outcome's time is its timeline entry's (a later complaint moves
	// Updated, not the outcome).
	var when time.Time
	p := timelinePrefix(id, r.Index)
	err = scan(c.r, p, prefixEnd(p), func(_, v []byte) (bool, error) {
		if a, err := decodeAttempt(v); err == nil && a.Decision == string(r.State) {
			when = a.At
		}
		return true, nil
	})
	switch {
	case err != nil:
		return err
	case at.IsZero(), at.Before(when):
		c.fail("H1 %s/%d: %s at %s, history says %s", id, r.Index, r.State, when, at)
	}
	return nil
}

// dueKeys checks the other direction of Q1: every due key points at a
// pending recipient whose NextAttempt is the key's time.
func (c *checker) dueKeys() error {
	p := prefix(kindDue)
	return scanKeys(c.r, p, prefixEnd(p), func(k []byte) (bool, error) {
		n, id, idx, err := parseDueKey(k)
		if err != nil {
			c.fail("%v", err)
			return true, nil
		}
		if n < c.dueLow {
			c.fail("W1 due key %s/%d at %d below the watermark %d", id, idx, n, c.dueLow)
		}
		r, err := getRecipient(c.r, id, idx)
		switch {
		case errors.Is(err, ErrNotFound):
			c.fail("Q1 due key for missing recipient %s/%d", id, idx)
		case err != nil:
			c.fail("Q1 due key for %s/%d: %v", id, idx, err)
		case !r.State.Pending():
			c.fail("Q1 due key for %s/%d in state %s", id, idx, r.State)
		case timeNanos(r.NextAttempt) != n:
			c.fail("Q1 due key for %s/%d at %d, next attempt %s", id, idx, n, r.NextAttempt)
		}
		return true, nil
	})
}

// bodies finds bodies whose message is gone (Q4 from the other side).
func (c *checker) bodies() error {
	p := prefix(kindBody)
	return scanKeys(c.r, p, prefixEnd(p), func(k []byte) (bool, error) {
		id := string(k[len(p):])
		ok, err := c.exists(idKey(kindMessage, id))
		if err == nil && !ok {
			c.fail("Q4 body %s without a message", id)
		}
		return true, err
	})
}

// finals finds final-index keys for missing or open messages.
func (c *checker) finals() error {
	p := prefix(kindFinal)
	return scanKeys(c.r, p, prefixEnd(p), func(k []byte) (bool, error) {
		n, id, err := parseFinalKey(k)
		if err != nil {
			c.fail("%v", err)
			return true, nil
		}
		m, err := getMessage(c.r, id)
		switch {
		case err != nil:
			c.fail("final index %s: %v", id, err)
		case m.Final.IsZero() || timeNanos(m.Final) != n:
			c.fail("final index %s at %d, message final %v", id, n, m.Final)
		}
		return true, nil
	})
}

// suppFilter checks F1 (suppfilter.go): the filter never says "absent" for
// a suppressed address.
func (c *checker) suppFilter() error {
	if c.supp == nil {
		return nil
	}
	p := prefix(kindSuppress)
	return scan(c.r, p, prefixEnd(p), func(k, _ []byte) (bool, error) {
		if addr := string(k[len(p):]); !c.supp.mayHold(addr) {
			c.fail("F1: suppressed %s is absent from the suppression filter", addr)
		}
		return true, c.ctx.Err()
	})
}
