package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Feedback kinds: what a report that arrived after delivery says.
const (
	// FeedbackBounce: a DSN with action failed, for mail we had handed
	// over (the destination accepted it, then gave up on it).
	FeedbackBounce = "bounce"
	// FeedbackDelay: a DSN with action delayed; the destination still
	// tries. It changes no state.
	FeedbackDelay = "delay"
	// FeedbackComplaint: an ARF report; the recipient marked it as spam.
	FeedbackComplaint = "complaint"
)

// Feedback is one report about a message already sent, as the inbound
// side read it. ApplyFeedback decides what it matches; the caller decides
// what the reply means (Class, Category, Suppress) and whether QueueID can
// be trusted (Verified).
type Feedback struct {
	// Key identifies the report (a hash of its bytes): a key already
	// applied within retention changes nothing again.
	Key  string    `json:"key"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// QueueID is the message the report names; "" when it names none.
	QueueID string `json:"queue_id,omitempty"`
	// Verified: QueueID came from a return-path token whose MAC checked,
	// so the message was ours even when retention has purged it. Without
	// it the message must exist and have MessageID as its Message-ID.
	Verified  bool   `json:"verified,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Rcpt is the address the report names; "" when redacted, in which
	// case a message with one recipient still matches.
	Rcpt string `json:"recipient,omitempty"`
	// OriginalRcpt is the address the message was sent to when the
	// report names it (a DSN's Original-Recipient) and Rcpt is what the
	// destination expanded it to; it matches when Rcpt does not.
	OriginalRcpt string `json:"original_recipient,omitempty"`
	// Reply is the status and diagnostic text a DSN carries.
	Reply        *Reply `json:"reply,omitempty"`
	ReportingMTA string `json:"reporting_mta,omitempty"`
	// Client is the address the report came from ("" from `bounce receive`).
	Client       string `json:"client,omitempty"`
	FeedbackType string `json:"feedback_type,omitempty"`
	Class        string `json:"class,omitempty"`
	Category     string `json:"category,omitempty"`
	// Suppress is written (merged) for the address when the report
	// matches; its Address and MessageID are filled in.
	Suppress *Suppression `json:"suppress,omitempty"`
	Subject  string       `json:"subject,omitempty"`
}

// FeedbackRecord is a report as kept for `mtaq bounce ls`: what it said,
// and what it matched.
type FeedbackRecord struct {
	Feedback
	Matched bool `json:"matched"`
	// Reason says why it matched nothing, or what limited it ("message
	// purged: address suppressed only").
	Reason     string `json:"reason,omitempty"`
	Suppressed bool   `json:"suppressed"`
	// SenderDomain is the matched message's sending domain (SendingDomain),
	// for complaint rates; "" when it was purged.
	SenderDomain string `json:"sender_domain,omitempty"`
}

// FeedbackResult is ApplyFeedback's answer.
type FeedbackResult struct {
	FeedbackRecord
	// Duplicate: the key was applied before; nothing changed.
	Duplicate bool
}

// Reasons a report matched nothing.
const (
	NoMatchNoMessage    = "names no message of ours"
	NoMatchUnknown      = "message unknown (purged or never ours) and no verified token"
	NoMatchNoRecipient  = "names no recipient, and the message has several"
	NoMatchNotRecipient = "names an address that was not a recipient of the message"
	NoMatchNeverSent    = "the recipient was never sent the message"
	NoMatchMessageID    = "Message-ID differs from the message's"
)

// ApplyFeedback matches f to a message and recipient and applies what it
// says in one synced batch with its record and events, exactly once per
// Key:
//
//	bounce     a delivered recipient becomes bounced; the attempt is added
//	           to its timeline; bounced event with Async
//	delay      a delayed event only
//	complaint  timeline entry and a complained event
//
// plus f.Suppress when set. A verified report whose message was purged
// still suppresses the address it names. A report that matches nothing is
// only recorded.
func (s *PebbleStore) ApplyFeedback(ctx context.Context, f Feedback) (FeedbackResult, error) {
	if err := ctx.Err(); err != nil {
		return FeedbackResult{}, err
	}
	if f.Key == "" || f.At.IsZero() {
		return FeedbackResult{}, errors.New("feedback: key and time are required")
	}
	switch f.Kind {
	case FeedbackBounce, FeedbackDelay, FeedbackComplaint:
	default:
		return FeedbackResult{}, fmt.Errorf("feedback: unknown kind %q", f.Kind)
	}
	f.Rcpt = strings.ToLower(f.Rcpt)
	f.OriginalRcpt = strings.ToLower(f.OriginalRcpt)
	// Recipients' addresses never change, so the match can be read before
	// the locks; the state is read again under them.
	m, idx, reason, err := s.matchFeedback(f)
	if err != nil {
		return FeedbackResult{}, err
	}
	senderDomain := ""
	switch {
	case idx >= 0:
		f.Rcpt = strings.ToLower(m.Recipients[idx].Address)
		senderDomain = SendingDomain(m.From, m.Sender)
	case reason == "" && f.OriginalRcpt != "":
		// Purged: the address to stop mailing is the one mail went to.
		f.Rcpt = f.OriginalRcpt
	}
	keys := []string{"k/" + f.Key}
	if f.QueueID != "" {
		keys = append(keys, msgLockKey(f.QueueID))
	}
	if f.Rcpt != "" {
		keys = append(keys, suppLockKey(f.Rcpt))
	}
	defer s.locks.lock(keys...)()
	if _, closer, err := s.db.Get(feedbackKey(f.Key)); err == nil {
		closer.Close()
		return FeedbackResult{Duplicate: true, FeedbackRecord: FeedbackRecord{Feedback: f}}, nil
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return FeedbackResult{}, err
	}
	tx := s.newTx()
	rec := FeedbackRecord{Feedback: f, Reason: reason, SenderDomain: senderDomain}
	switch {
	case idx >= 0:
		rec.Matched = true
		err = tx.feedback(f, idx, &rec)
	case reason == "" && f.Rcpt != "":
		// Verified, purged: the address is all that is left to act on.
		rec.Matched, rec.Reason = true, "message purged: address suppressed only"
		tx.feedbackEvent(f, nil)
		if f.Suppress != nil {
			rec.Suppressed = true
			err = tx.suppressFeedback(f)
		}
	}
	if err == nil {
		err = tx.putFeedback(rec)
	}
	if err == nil {
		for _, m := range tx.msgs {
			if err = putMessage(tx.b, m); err != nil {
				break
			}
		}
	}
	if err != nil {
		tx.b.Close()
		return FeedbackResult{}, fmt.Errorf("feedback %s: %w", f.Key, err)
	}
	if err := tx.commit(); err != nil {
		return FeedbackResult{}, fmt.Errorf("feedback %s: %w", f.Key, err)
	}
	return FeedbackResult{FeedbackRecord: rec}, nil
}

// matchFeedback finds f's message and recipient index (-1 with a reason
// when there is none; -1 and no reason for a verified report about a
// purged message that names an address).
func (s *PebbleStore) matchFeedback(f Feedback) (*Message, int, string, error) {
	if f.QueueID == "" {
		return nil, -1, NoMatchNoMessage, nil
	}
	if validID(f.QueueID) != nil {
		return nil, -1, NoMatchNoMessage, nil
	}
	m, err := s.Message(context.Background(), f.QueueID)
	if errors.Is(err, ErrNotFound) {
		if f.Verified && (f.Rcpt != "" || f.OriginalRcpt != "") {
			return nil, -1, "", nil
		}
		return nil, -1, NoMatchUnknown, nil
	}
	if err != nil {
		return nil, -1, "", err
	}
	if !f.Verified && (f.MessageID == "" || !sameMessageID(fieldValue(m.Headers, "Message-Id"), f.MessageID)) {
		return nil, -1, NoMatchMessageID, nil
	}
	idx := -1
	if f.Rcpt == "" {
		if len(m.Recipients) != 1 {
			return nil, -1, NoMatchNoRecipient, nil
		}
		idx = 0
	} else {
		for _, a := range []string{f.Rcpt, f.OriginalRcpt} {
			for i, r := range m.Recipients {
				if a != "" && idx < 0 && strings.EqualFold(r.Address, a) {
					idx = i
				}
			}
		}
		if idx < 0 {
			return nil, -1, NoMatchNotRecipient, nil
		}
	}
	if m.Recipients[idx].Attempts == 0 {
		return nil, -1, NoMatchNeverSent, nil
	}
	return m, idx, "", nil
}

func sameMessageID(a, b string) bool {
	trim := func(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }
	return a != "" && trim(a) == trim(b)
}

// feedback applies a matched report to recipient idx of f.QueueID.
func (tx *applyTx) feedback(f Feedback, idx int, rec *FeedbackRecord) error {
	m, err := tx.message(f.QueueID)
	if err != nil {
		return err
	}
	r, err := getRecipient(tx.b, f.QueueID, idx)
	if err != nil {
		return err
	}
	if f.Kind == FeedbackDelay {
		tx.feedbackEvent(f, m)
		return nil
	}
	a := &Attempt{At: f.At, MX: f.ReportingMTA, Stage: "async", Class: f.Class, Category: f.Category,
		Decision: "complained", Suppressed: f.Suppress != nil}
	if f.Reply != nil {
		a.Reply = *f.Reply
	}
	if f.Kind == FeedbackBounce {
		a.Decision = "bounced"
		if r.State == Delivered {
			r.State = Bounced
			if f.Reply != nil {
				reply := *f.Reply
				r.LastReply = &reply
			}
		}
	}
	v, err := encode(a)
	if err != nil {
		return err
	}
	if err := tx.b.Set(timelineKey(f.QueueID, idx, r.Timeline), v, nil); err != nil {
		return err
	}
	r.Timeline++
	r.Updated = f.At
	if err := putRecipient(tx.b, f.QueueID, r); err != nil {
		return err
	}
	if f.Kind == FeedbackBounce {
		// The later truth wins in the address's history too (H1); the
		// address's stripe is held (ApplyFeedback).
		if err := tx.recordHistory(r, f.QueueID); err != nil {
			return err
		}
	}
	tx.feedbackEvent(f, m)
	if f.Suppress == nil {
		return nil
	}
	rec.Suppressed = true
	return tx.suppressFeedback(f)
}

// feedbackEvent adds the event f makes; m is nil when purged.
func (tx *applyTx) feedbackEvent(f Feedback, m *msgRecord) {
	e := Event{At: f.At, ID: f.QueueID, Rcpt: f.Rcpt, Reply: f.Reply, Class: f.Class, Category: f.Category,
		Suppressed: f.Suppress != nil, Async: true, MX: f.ReportingMTA, FeedbackType: f.FeedbackType}
	switch f.Kind {
	case FeedbackBounce:
		e.Kind = EventBounced
	case FeedbackDelay:
		e.Kind = EventDelayed
	default:
		e.Kind = EventComplained
	}
	if f.Suppress != nil {
		e.Reason = f.Suppress.Reason
	}
	if m != nil {
		e.Sender, e.Tag, e.Metadata, e.From, e.Subject = m.Sender, m.Tag, m.Metadata, m.From, m.Subject
	}
	tx.evs = append(tx.evs, e)
}

func (tx *applyTx) suppressFeedback(f Feedback) error {
	sup := *f.Suppress
	sup.Address = f.Rcpt
	if sup.MessageID == "" {
		sup.MessageID = f.QueueID
	}
	if sup.LastSeen.IsZero() {
		sup.LastSeen = f.At
	}
	if sup.Reply == nil {
		sup.Reply = f.Reply
	}
	tx.evs = append(tx.evs, suppressedEvent(sup))
	shared, err := tx.s.mergeSuppression(tx.b, sup)
	tx.shared = tx.shared || shared
	return err
}

// putFeedback writes the report's record and its key.
func (tx *applyTx) putFeedback(rec FeedbackRecord) error {
	v, err := encode(rec)
	if err != nil {
		return err
	}
	lk := feedbackLogKey(rec.At, rec.Key)
	if err := tx.b.Set(lk, v, nil); err != nil {
		return err
	}
	return tx.b.Set(feedbackKey(rec.Key), lk, nil)
}

func feedbackKey(key string) []byte { return append(prefix(kindFeedbackKey), key...) }

func feedbackLogKey(at time.Time, key string) []byte {
	k := binary.BigEndian.AppendUint64(prefix(kindFeedback), timeNanos(at))
	return append(k, key...)
}

// FeedbackFilter selects records for Feedbacks.
type FeedbackFilter struct {
	Unmatched bool   // only reports that matched nothing
	QueueID   string // only reports about this message
	Kind      string // only this kind
	Before    time.Time
	Limit     int // 0: 100
}

// Feedbacks lists kept reports, newest first.
func (s *PebbleStore) Feedbacks(ctx context.Context, f FeedbackFilter) ([]FeedbackRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	upper := prefixEnd(prefix(kindFeedback))
	if !f.Before.IsZero() {
		upper = binary.BigEndian.AppendUint64(prefix(kindFeedback), timeNanos(f.Before))
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix(kindFeedback), UpperBound: upper})
	if err != nil {
		return nil, err
	}
	var out []FeedbackRecord
	for ok := it.Last(); ok && len(out) < f.Limit; ok = it.Prev() {
		if err := ctx.Err(); err != nil {
			return nil, joinClose(err, it)
		}
		var r FeedbackRecord
		if err := decode(it.Value(), &r); err != nil {
			return nil, joinClose(fmt.Errorf("%x: %w", it.Key(), err), it)
		}
		if (f.Unmatched && r.Matched) || (f.QueueID != "" && r.QueueID != f.QueueID) || (f.Kind != "" && r.Kind != f.Kind) {
			continue
		}
		out = append(out, r)
	}
	return out, joinClose(nil, it)
}

// TrimFeedback removes report records older than before, and their keys
// (a report repeated after that is applied again). Not part of Store:
// retention is the daemon's housekeeping.
func (s *PebbleStore) TrimFeedback(ctx context.Context, before time.Time) (int, error) {
	upper := binary.BigEndian.AppendUint64(prefix(kindFeedback), timeNanos(before))
	total := 0
	for {
		var keys [][]byte
		err := scanKeys(s.db, prefix(kindFeedback), upper, func(k []byte) (bool, error) {
			keys = append(keys, bytes.Clone(k))
			return len(keys) < purgeChunk*16, ctx.Err()
		})
		if err != nil || len(keys) == 0 {
			return total, err
		}
		if err := s.trimFeedback(keys); err != nil {
			return total, fmt.Errorf("trim feedback: %w", err)
		}
		total += len(keys)
	}
}

func (s *PebbleStore) trimFeedback(logKeys [][]byte) error {
	b := s.db.NewBatch()
	for _, lk := range logKeys {
		key := string(lk[len(prefix(kindFeedback))+8:])
		unlock := s.locks.lock("k/" + key)
		cur, err := get(s.db, feedbackKey(key), func(v []byte) ([]byte, error) { return bytes.Clone(v), nil })
		if err == nil && bytes.Equal(cur, lk) {
			err = b.Delete(feedbackKey(key), nil)
		} else if errors.Is(err, ErrNotFound) {
			err = nil
		}
		unlock()
		if err == nil {
			err = b.Delete(lk, nil)
		}
		if err != nil {
			b.Close()
			return err
		}
	}
	return s.commit(b)
}

// SenderCounts is one sending domain's delivered recipients and
// complaints in a window: the complaint rate mailbox providers watch.
type SenderCounts struct {
	Domain     string `json:"domain"`
	Delivered  int    `json:"delivered"`
	Complaints int    `json:"complaints"`
}

// CountBySender counts, per sending domain (the From field's domain, else
// the envelope sender's), recipients delivered at or after since and
// complaints that matched a message and arrived at or after since. It
// reads the messages that arrived since since minus maxAge (mail is
// delivered up to retry.expire after it arrives) and the kept reports:
// an operator's command, not a hot path.
func (s *PebbleStore) CountBySender(ctx context.Context, since time.Time, maxAge time.Duration) ([]SenderCounts, error) {
	by := map[string]*SenderCounts{}
	get := func(d string) *SenderCounts {
		if by[d] == nil {
			by[d] = &SenderCounts{Domain: d}
		}
		return by[d]
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	lower := idKey(kindMessage, encodeID(uint64(max(since.Add(-maxAge).UnixMilli(), 0)), 0))
	err := scan(snap, lower, prefixEnd(prefix(kindMessage)), func(_, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		m, err := decodeMessage(v)
		if err != nil {
			return false, err
		}
		n := 0
		err = scan(snap, rcptPrefix(m.ID), prefixEnd(rcptPrefix(m.ID)), func(_, rv []byte) (bool, error) {
			r, err := decodeRecipient(rv)
			if err == nil && r.State == Delivered && !r.Updated.Before(since) {
				n++
			}
			return err == nil, err
		})
		if err == nil && n > 0 {
			get(SendingDomain(m.From, m.Sender)).Delivered += n
		}
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	err = scan(snap, binary.BigEndian.AppendUint64(prefix(kindFeedback), timeNanos(since)), prefixEnd(prefix(kindFeedback)),
		func(_, v []byte) (bool, error) {
			var r FeedbackRecord
			if err := decode(v, &r); err != nil {
				return false, err
			}
			if r.Kind == FeedbackComplaint && r.Matched {
				get(r.SenderDomain).Complaints++
			}
			return true, nil
		})
	out := make([]SenderCounts, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b SenderCounts) int {
		if a.Delivered != b.Delivered {
			return b.Delivered - a.Delivered
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	return out, err
}

// SendingDomain is the domain a message is sent as: the From field's,
// else the envelope sender's (lower case; "" for neither).
func SendingDomain(from, sender string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		from = a.Address
	} else {
		from = ""
	}
	for _, addr := range []string{from, sender} {
		if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
			return strings.ToLower(addr[i+1:])
		}
	}
	return ""
}
