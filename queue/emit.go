package queue

import (
	"bytes"
	"time"
)

// Which state changes make events (the outbox's contract with apps):
//
//	Enqueue        queued per pending recipient, rejected per recipient
//	               stored as Rejected (Reason "suppressed")
//	Apply          delivered, bounced, failed, expired, rejected on the
//	               change into that state; deferred only for a counted
//	               attempt (a local deferral, lease or operator retry is
//	               not news); plus suppressed when it writes an entry
//	Suppress(Many) suppressed per entry written
//	Unsuppress     unsuppressed
//	Operate        bounce: failed ("failed by operator"); hold, release,
//	               retry and delete make none (no event kind names them)

// enqueueEvents describes a new message's recipients.
func enqueueEvents(m *Message) []Event {
	var evs []Event
	for _, r := range m.Recipients {
		e := Event{At: m.Arrived, ID: m.ID, Rcpt: r.Address, Sender: m.Sender}
		switch {
		case r.State.Pending():
			e.Kind = EventQueued
		case r.State == Rejected:
			e.Kind, e.Suppressed, e.Reason, e.Reply = EventRejected, true, "suppressed", r.LastReply
		default:
			continue
		}
		evs = append(evs, e)
	}
	return evs
}

// stateEvent returns the event for recipient r after update u, false when
// the change is not one apps are told about.
func stateEvent(m *msgRecord, r *rcptRecord, u Update, now time.Time) (Event, bool) {
	kind := ""
	switch u.State {
	case Delivered:
		kind = EventDelivered
	case Bounced:
		kind = EventBounced
	case Failed:
		kind = EventFailed
	case Expired:
		kind = EventExpired
	case Rejected:
		kind = EventRejected
	case Deferred:
		if u.CountAttempt {
			kind = EventDeferred
		}
	}
	if kind == "" {
		return Event{}, false
	}
	e := Event{Kind: kind, At: now, ID: m.ID, Rcpt: r.Address, Sender: m.Sender,
		Attempt: r.Attempts, Reply: u.Reply, Suppressed: u.Suppress != nil}
	if a := u.Attempt; a != nil {
		e.At, e.MX, e.Class, e.Category = a.At, a.MX, a.Class, a.Category
		if e.Reply == nil {
			reply := a.Reply
			e.Reply = &reply
		}
	}
	if u.Suppress != nil {
		e.Reason = u.Suppress.Reason
	}
	if kind == EventRejected {
		e.Suppressed, e.Reason = true, "suppressed"
	}
	if kind == EventDeferred {
		e.NextAttempt = u.NextAttempt
	}
	return e, true
}

// suppressedEvent describes an entry just written.
func suppressedEvent(sup Suppression) Event {
	return Event{Kind: EventSuppressed, At: sup.LastSeen, ID: sup.MessageID, Rcpt: sup.Address,
		Reply: sup.Reply, Suppressed: true, Reason: sup.Reason}
}

// headerBlock returns body's header block (up to, not including, the empty
// line), cut at a line end to fit MaxKeptHeaders.
func headerBlock(body []byte) string {
	end := len(body)
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	} else if i := bytes.Index(body, []byte("\n\n")); i >= 0 {
		end = i + 1
	}
	if bytes.HasPrefix(body, []byte("\r\n")) || bytes.HasPrefix(body, []byte("\n")) {
		return "" // no headers at all
	}
	return capHeaders(string(body[:end]))
}

func capHeaders(h string) string {
	if len(h) <= MaxKeptHeaders {
		return h
	}
	h = h[:MaxKeptHeaders]
	if i := bytes.LastIndexByte([]byte(h), '\n'); i >= 0 {
		return h[:i+1]
	}
	return ""
}
