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
		e := Event{At: m.Arrived, ID: m.ID, Rcpt: r.Address, Sender: m.Sender, Tag: m.Tag, Metadata: m.Metadata,
			From: m.From, Subject: m.Subject}
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
		Attempt: r.Attempts, Reply: u.Reply, Suppressed: u.Suppress != nil, Tag: m.Tag, Metadata: m.Metadata,
		From: m.From, Subject: m.Subject, domain: r.Domain}
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

// headerBlock returns body's header block: the leading lines that are
// header fields (name, colon) or their continuations, up to the empty line
// or the first line that is neither, cut at a line end to fit
// MaxKeptHeaders. A body that does not start with a header keeps none.
func headerBlock(body []byte) string {
	end := 0
	for end < len(body) && end <= MaxKeptHeaders {
		line := body[end:]
		n := bytes.IndexByte(line, '\n')
		if n < 0 {
			n = len(line) - 1
		}
		if !headerLine(line[:n+1], end > 0) {
			break
		}
		end += n + 1
	}
	return capHeaders(string(body[:end]))
}

// headerLine: a continuation (leading white space) after a field, or a
// field name of printable ASCII followed by a colon (RFC 5322 2.2).
func headerLine(l []byte, cont bool) bool {
	if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
		return cont
	}
	i := bytes.IndexByte(l, ':')
	if i < 1 {
		return false
	}
	for _, c := range l[:i] {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
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
