package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtaq/mtaq/queue"
)

// MessageEvent is one outbox event of a message and what each webhook
// did with it.
type MessageEvent struct {
	queue.Event
	Webhooks []EventDelivery
}

// EventDelivery is one webhook's handling of one event. State is
// "pending" (after its cursor), "dead letter" (given up on: Status, Error
// and Attempts say why) or "settled" (at or below its cursor and not a
// dead letter: delivered, not a kind it subscribes to, or dropped past
// its max_age).
type EventDelivery struct {
	Webhook  string
	State    string
	Status   int
	Error    string
	Attempts int
}

// deadLetters is the part of the store that keeps dead letters.
type deadLetters interface {
	DeadLetters(ctx context.Context, name string, after uint64, limit int) ([]queue.DeadLetter, error)
}

// Bounds of MessageEvents' search: the outbox has no index by message,
// so it looks near each moment the message changed (its arrival and every
// timeline entry), eventWindow events from the first at or after it.
const (
	eventWindow = 300
	eventSlack  = time.Second
)

// MessageEvents returns the events the outbox still holds for message id
// (oldest first) with each webhook's handling of them. The search is
// bounded (about 20 point reads and eventWindow events per moment), so an
// event written far from the change it reports may be missed; that never
// happens for events written in the change's own batch (Q5).
func (s *Service) MessageEvents(ctx context.Context, id string) ([]MessageEvent, error) {
	ob, ok := s.store.(queue.Outbox)
	if !ok {
		return nil, errors.New("this queue keeps no events")
	}
	m, err := s.store.Message(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, noMessage(id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", id, err)
	}
	moments := []time.Time{m.Arrived}
	for i := range m.Recipients {
		tl, err := s.store.Timeline(ctx, id, i)
		if err != nil {
			return nil, fmt.Errorf("reading the timeline of %s/%d: %w", id, i, err)
		}
		for _, a := range tl {
			moments = append(moments, a.At)
		}
	}
	slices.SortFunc(moments, func(a, b time.Time) int { return a.Compare(b) })
	found := map[uint64]queue.Event{}
	var scannedTo uint64 // windows overlap for close moments: skip what was read
	for _, at := range moments {
		after, err := eventsBefore(ctx, ob, at.Add(-eventSlack))
		if err != nil {
			return nil, err
		}
		after = max(after, scannedTo)
		evs, err := ob.Events(ctx, after, eventWindow)
		if err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		for _, ev := range evs {
			if ev.ID == id {
				found[ev.Seq] = ev
			}
		}
		if len(evs) > 0 {
			scannedTo = evs[len(evs)-1].Seq
		}
	}
	out := make([]MessageEvent, 0, len(found))
	for _, ev := range found {
		out = append(out, MessageEvent{Event: ev})
	}
	slices.SortFunc(out, func(a, b MessageEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	if s.webhooks == nil {
		return out, nil
	}
	dl, _ := s.store.(deadLetters)
	for _, w := range s.webhooks.List() {
		for i := range out {
			d := EventDelivery{Webhook: w.Name, State: "pending"}
			if out[i].Seq <= w.Cursor {
				d.State = "settled"
				if dl != nil && w.Consumer != "" {
					l, err := dl.DeadLetters(ctx, w.Consumer, out[i].Seq-1, 1)
					if err != nil {
						return nil, fmt.Errorf("reading %s's dead letters: %w", w.Name, err)
					}
					if len(l) == 1 && l[0].Event.Seq == out[i].Seq {
						d = EventDelivery{Webhook: w.Name, State: "dead letter", Status: l[0].Status, Error: l[0].Error, Attempts: l[0].Attempts}
					}
				}
			}
			out[i].Webhooks = append(out[i].Webhooks, d)
		}
	}
	return out, nil
}

// eventsBefore is the highest seq of an event before t (0: none), by
// binary search over seqs: events are numbered in commit order, so their
// times rise with their seqs (to within a batch).
func eventsBefore(ctx context.Context, ob queue.Outbox, t time.Time) (uint64, error) {
	first, err := ob.Events(ctx, 0, 1)
	if err != nil || len(first) == 0 {
		return 0, err
	}
	if !first[0].At.Before(t) {
		return first[0].Seq - 1, nil
	}
	// Invariant: the event at lo is before t; the answer is >= lo.
	lo, hi := first[0].Seq, ^uint64(0)>>1
	if l, ok := ob.(interface{ LastEvent() uint64 }); ok {
		hi = l.LastEvent()
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		evs, err := ob.Events(ctx, mid-1, 1) // the first event at or after mid
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || !evs[0].At.Before(t) {
			hi = mid - 1
		} else {
			lo = evs[0].Seq
		}
	}
	return lo, nil
}
