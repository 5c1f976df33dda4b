package dsn

import (
	"context"
	"strings"

	"github.com/mtaq/mtaq/queue"
)

// recipients turns a group's events into report blocks, dropping delay
// events that do not call for a warning (D5).
func (h *Handler) recipients(ctx context.Context, m *queue.Message, g group) ([]Recipient, error) {
	var out []Recipient
	seen := map[string]bool{}
	for _, e := range g.evs {
		if seen[e.Rcpt] {
			continue
		}
		seen[e.Rcpt] = true
		if g.action == Delayed {
			warn, err := h.warnDue(ctx, m, e)
			if err != nil {
				return nil, err
			}
			if !warn {
				continue
			}
		}
		out = append(out, h.recipient(m, e, g.action))
	}
	return out, nil
}

func (h *Handler) recipient(m *queue.Message, e queue.Event, a Action) Recipient {
	r := Recipient{Address: e.Rcpt, Action: a, Expired: e.Kind == queue.EventExpired, Category: e.Category,
		MX: e.MX, LastTry: e.At}
	if e.Reply != nil {
		r.Code, r.Enhanced, r.Text = e.Reply.Code, e.Reply.Enhanced, e.Reply.Text
	}
	if a == Delayed && h.o.Expire > 0 {
		r.RetryUntil = m.Arrived.Add(h.o.Expire)
	}
	return r
}

// warnDue reports whether deferred event e is the recipient's first
// deferral at least DelayWarning after arrival: its persisted timeline
// holds at most one deferred attempt (this one) from the threshold up to
// the event. The event's time may be a little after its attempt's.
func (h *Handler) warnDue(ctx context.Context, m *queue.Message, e queue.Event) (bool, error) {
	threshold := m.Arrived.Add(h.o.DelayWarning)
	if e.At.Before(threshold) {
		return false, nil
	}
	idx := rcptIndex(m, e.Rcpt)
	if idx < 0 {
		return false, nil
	}
	if r := m.Recipients[idx]; r.State.Final() {
		return false, nil // it has failed or been delivered since: no warning now
	}
	tl, err := h.o.Store.Timeline(ctx, m.ID, idx)
	if err != nil {
		return false, err
	}
	n := 0
	for _, a := range tl {
		if !a.At.Before(threshold) && !a.At.After(e.At) && a.Decision == string(queue.Deferred) {
			n++
		}
	}
	return n <= 1, nil
}

// rcptIndex finds addr among m's recipients, exact match first.
func rcptIndex(m *queue.Message, addr string) int {
	for i, r := range m.Recipients {
		if r.Address == addr {
			return i
		}
	}
	for i, r := range m.Recipients {
		if strings.EqualFold(r.Address, addr) {
			return i
		}
	}
	return -1
}
