package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is an operator's command on a message's recipients.
type Action string

// Operator actions. None of them counts an attempt or advances backoff:
// operator holds are local deferrals, not failures, and none suppresses.
const (
	ActHold    Action = "hold"    // pending → held: no attempts, no expiry
	ActRelease Action = "release" // held → queued (deferred if attempted), due now
	ActRetry   Action = "retry"   // pending → due now, attempts unchanged
	ActDelete  Action = "delete"  // not final → deleted
	ActBounce  Action = "bounce"  // not final → failed, "failed by operator"
)

// Actions lists every operator action, for validation and help.
var Actions = []Action{ActHold, ActRelease, ActRetry, ActDelete, ActBounce}

// Operation is one action on one message; Domain, when set, limits it to
// the recipients at that domain (case-insensitive).
type Operation struct {
	Action Action
	ID     string
	Domain string
	Now    time.Time
}

// OperatorReply is the reply recorded on recipients failed by an operator.
const OperatorReply = "failed by operator"

// Hold implements Store: every pending recipient of id becomes held.
func (s *PebbleStore) Hold(ctx context.Context, id string, now time.Time) (int, error) {
	return s.Operate(ctx, Operation{Action: ActHold, ID: id, Now: now})
}

// Release implements Store: every held recipient of id is due at now.
func (s *PebbleStore) Release(ctx context.Context, id string, now time.Time) (int, error) {
	return s.Operate(ctx, Operation{Action: ActRelease, ID: id, Now: now})
}

// Retry implements Store: every pending recipient of id is due at now.
func (s *PebbleStore) Retry(ctx context.Context, id string, now time.Time) (int, error) {
	return s.Operate(ctx, Operation{Action: ActRetry, ID: id, Now: now})
}

// Delete implements Store: every open recipient of id becomes deleted.
func (s *PebbleStore) Delete(ctx context.Context, id string, now time.Time) (int, error) {
	return s.Operate(ctx, Operation{Action: ActDelete, ID: id, Now: now})
}

// Bounce implements Store: every open recipient of id fails now.
func (s *PebbleStore) Bounce(ctx context.Context, id string, now time.Time) (int, error) {
	return s.Operate(ctx, Operation{Action: ActBounce, ID: id, Now: now})
}

// Operate implements Store. It reads and changes the message under its lock
// in one synced batch and returns how many recipients changed; ErrNotFound
// (wrapped) for an unknown message. A job in flight for a changed recipient
// still reports back: Apply skips it if it is now final, keeps it held if
// the result was another deferral, and lets a delivery win.
func (s *PebbleStore) Operate(ctx context.Context, op Operation) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if op.Now.IsZero() {
		return 0, fmt.Errorf("%s %s: zero time", op.Action, op.ID)
	}
	defer s.locks.lock(msgLockKey(op.ID))()
	tx := s.newTx()
	m, err := tx.message(op.ID)
	if err != nil {
		tx.b.Close()
		return 0, fmt.Errorf("%s: %w", op.Action, err)
	}
	rcpts, err := loadRecipients(tx.b, op.ID)
	if err != nil {
		tx.b.Close()
		return 0, fmt.Errorf("%s %s: %w", op.Action, op.ID, err)
	}
	n := 0
	for _, r := range rcpts {
		if op.Domain != "" && !strings.EqualFold(r.Domain, op.Domain) {
			continue
		}
		u, ok := op.update(r)
		if !ok {
			continue
		}
		if err := tx.apply(u); err != nil {
			tx.b.Close()
			return 0, fmt.Errorf("%s %s/%d: %w", op.Action, op.ID, r.Index, err)
		}
		n++
	}
	if n == 0 {
		tx.b.Close()
		return 0, nil
	}
	if err := putMessage(tx.b, m); err != nil {
		tx.b.Close()
		return 0, err
	}
	if err := tx.commit(); err != nil {
		return 0, fmt.Errorf("%s %s: %w", op.Action, op.ID, err)
	}
	return n, nil
}

// update maps one recipient through op; false when op does not apply to
// the recipient's state. LastAboutAddress is carried over so a release does
// not change what expiry later decides.
func (op Operation) update(r Recipient) (Update, bool) {
	u := Update{ID: op.ID, Rcpt: r.Index, AboutAddress: r.LastAboutAddress}
	mark := func(decision string) *Attempt {
		return &Attempt{At: op.Now, Decision: decision, Category: "operator"}
	}
	switch {
	case op.Action == ActHold && r.State.Pending():
		u.State, u.Attempt = Held, mark("held")
	case op.Action == ActRelease && r.State == Held:
		u.State, u.NextAttempt, u.Attempt = Queued, op.Now, mark("released")
		if r.Attempts > 0 {
			u.State = Deferred
		}
	case op.Action == ActRetry && r.State.Pending():
		u.State, u.NextAttempt = r.State, op.Now
	case op.Action == ActDelete && !r.State.Final():
		u.State, u.Attempt = Deleted, mark("deleted")
	case op.Action == ActBounce && !r.State.Final():
		reply := Reply{Text: OperatorReply}
		u.State, u.Reply, u.Attempt = Failed, &reply, mark("failed")
		u.Attempt.Reply = reply
	default:
		return Update{}, false
	}
	return u, true
}

// ValidAction reports whether a is one of Actions.
func ValidAction(a Action) bool { return slices.Contains(Actions, a) }
