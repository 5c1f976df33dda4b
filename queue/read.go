package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// get reads and decodes one record; a missing key is ErrNotFound.
func get[T any](r pebble.Reader, key []byte, dec func([]byte) (T, error)) (T, error) {
	var zero T
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return zero, ErrNotFound
	}
	if err != nil {
		return zero, err
	}
	defer closer.Close()
	return dec(v)
}

func getMessage(r pebble.Reader, id string) (*msgRecord, error) {
	if validID(id) != nil {
		return nil, fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	m, err := get(r, idKey(kindMessage, id), decodeMessage)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return m, err
}

func getRecipient(r pebble.Reader, id string, idx int) (*rcptRecord, error) {
	if validID(id) != nil || idx < 0 || idx > int(^uint32(0)) {
		return nil, fmt.Errorf("recipient %q/%d: %w", id, idx, ErrNotFound)
	}
	rec, err := get(r, rcptKey(id, idx), decodeRecipient)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("recipient %s/%d: %w", id, idx, ErrNotFound)
	}
	return rec, err
}

// scan calls fn for every key in [lower, upper) until fn returns false or an
// error. Keys and values are only valid during the call.
func scan(r pebble.Reader, lower, upper []byte, fn func(k, v []byte) (bool, error)) error {
	return scanDir(r, lower, upper, false, fn)
}

// scanKeys is scan without reading values (bodies can be large).
func scanKeys(r pebble.Reader, lower, upper []byte, fn func(k []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		more, err := fn(it.Key())
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// getRecipients reads recipients 0..n-1 of id by point lookups, in index
// order as loadRecipients returns them; nil, nil when one is missing, for
// the caller to scan instead.
func getRecipients(r pebble.Reader, id string, n int) ([]Recipient, error) {
	out := make([]Recipient, 0, n)
	for i := range n {
		rec, err := getRecipient(r, id, i)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec.Recipient)
	}
	return out, nil
}

func loadRecipients(r pebble.Reader, id string) ([]Recipient, error) {
	var out []Recipient
	p := rcptPrefix(id)
	err := scan(r, p, prefixEnd(p), func(_, v []byte) (bool, error) {
		rec, err := decodeRecipient(v)
		if err != nil {
			return false, err
		}
		out = append(out, rec.Recipient)
		return true, nil
	})
	return out, err
}

// pointRcpts is the most recipients loadMessage reads with point lookups
// instead of a range scan. A lookup stops at the memtable that holds the
// key, where a fresh message's recipients are; a scan must also seek in
// every table whose bounds cover r/<id>, which in L0 is every table, and
// Pebble's block cache holds next to nothing (docs/BENCHMARKS.md §4).
const pointRcpts = 8

// loadMessage assembles a Message from one consistent view.
func loadMessage(r pebble.Reader, rec *msgRecord) (*Message, error) {
	var rcpts []Recipient
	var err error
	if rec.Rcpts > 0 && rec.Rcpts <= pointRcpts {
		rcpts, err = getRecipients(r, rec.ID, rec.Rcpts)
	}
	if rcpts == nil && err == nil {
		rcpts, err = loadRecipients(r, rec.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", rec.ID, err)
	}
	m := &Message{
		ID: rec.ID, Sender: rec.Sender, Arrived: rec.Arrived, Size: rec.Size,
		ClientAddr: rec.ClientAddr, Helo: rec.Helo, Headers: rec.Headers, Recipients: rcpts,
	}
	m.NoDSN, m.Tag, m.Metadata, m.Pool = rec.NoDSN, rec.Tag, rec.Metadata, rec.Pool
	m.From, m.Subject = rec.From, rec.Subject
	return m, nil
}

// Message implements Store. It reads from a snapshot so the envelope and
// recipients agree even while Apply runs.
func (s *PebbleStore) Message(ctx context.Context, id string) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	rec, err := getMessage(snap, id)
	if err != nil {
		return nil, err
	}
	return loadMessage(snap, rec)
}

// Body implements Store. A message whose recipients are all final has no
// body any more (Q4): ErrNotFound.
func (s *PebbleStore) Body(ctx context.Context, id string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if validID(id) != nil {
		return nil, fmt.Errorf("body %q: %w", id, ErrNotFound)
	}
	b, err := get(s.db, idKey(kindBody, id), func(v []byte) ([]byte, error) {
		return bytes.Clone(v), nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("body %s: %w", id, ErrNotFound)
	}
	return b, err
}

// Timeline implements Store; ErrNotFound when the recipient does not exist.
func (s *PebbleStore) Timeline(ctx context.Context, id string, rcpt int) ([]Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	if _, err := getRecipient(snap, id, rcpt); err != nil {
		return nil, err
	}
	var out []Attempt
	p := timelinePrefix(id, rcpt)
	err := scan(snap, p, prefixEnd(p), func(_, v []byte) (bool, error) {
		a, err := decodeAttempt(v)
		if err != nil {
			return false, err
		}
		out = append(out, *a)
		return true, nil
	})
	return out, err
}

// Due implements Store: one range scan of the due index from the low
// watermark (dueMark). limit <= 0 means no limit. Order is the due key's
// time in unix nanoseconds.
func (s *PebbleStore) Due(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Due
	err := s.scanDue(dueUpper(now), func(k []byte) (bool, error) {
		n, id, idx, err := parseDueKey(k)
		if err != nil {
			return false, err
		}
		out = append(out, Due{At: time.Unix(0, int64(n)).UTC(), ID: id, Rcpt: idx, Order: n})
		return limit <= 0 || len(out) < limit, nil
	}, timeNanos(now)+1) // timeNanos < 2^63: no overflow
	return out, err
}

// NextDue implements Store: the first key of the due index at or above the
// low watermark, and below before.
func (s *PebbleStore) NextDue(ctx context.Context, before time.Time) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	upper, empty := prefixEnd(prefix(kindDue)), uint64(noDue)
	if !before.IsZero() {
		upper, empty = dueLower(timeNanos(before)), timeNanos(before)
	}
	var at time.Time
	var found bool
	err := s.scanDue(upper, func(k []byte) (bool, error) {
		n, _, _, err := parseDueKey(k)
		at, found = time.Unix(0, int64(n)).UTC(), err == nil
		return false, err
	}, empty)
	return at, found, err
}

// scanDue walks due keys from the watermark up to upper and then raises the
// watermark to the first key seen or, when there was none, to empty: the
// time upper stands for.
func (s *PebbleStore) scanDue(upper []byte, fn func(k []byte) (bool, error), empty uint64) error {
	low, tok, floor := s.due.read()
	lower := dueLower(low)
	if bytes.Compare(lower, upper) >= 0 {
		s.due.drop(tok)
		return nil // nothing live below upper: no iterator at all
	}
	first, seen := empty, false
	err := scanKeys(s.db, lower, upper, func(k []byte) (bool, error) {
		if !seen {
			n, _, _, err := parseDueKey(k)
			if err != nil {
				return false, err
			}
			first, seen = n, true
		}
		return fn(k)
	})
	if err != nil {
		s.due.drop(tok)
		return err
	}
	s.due.raise(tok, floor, first)
	return nil
}

// List implements Store. It walks messages in ID order from one snapshot and
// holds only the matches. State, Domain and Rcpt must all hold for one
// recipient of a message; Tag for the message.
func (s *PebbleStore) List(ctx context.Context, f Filter) ([]*Message, error) {
	p, err := s.ListPage(ctx, f)
	if err != nil {
		return nil, err
	}
	return p.Messages, nil
}

// ListPage implements Store. IDs sort by arrival, so newest first is the
// same range scanned backwards: no second index.
func (s *PebbleStore) ListPage(ctx context.Context, f Filter) (*Page, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	lower := prefix(kindMessage)
	upper := prefixEnd(prefix(kindMessage))
	if f.After != "" {
		if f.Newest {
			upper = idKey(kindMessage, f.After)
		} else {
			lower = append(idKey(kindMessage, f.After), 0)
		}
	}
	if !f.Since.IsZero() {
		// The smallest ID of that millisecond: IDs start with the arrival.
		if from := idKey(kindMessage, idFloor(f.Since)); bytes.Compare(from, lower) > 0 {
			lower = from
		}
	}
	if !f.Until.IsZero() {
		// The next millisecond's floor: match drops the rest of Until's.
		if to := idKey(kindMessage, idFloor(f.Until.Add(time.Millisecond))); bytes.Compare(to, upper) < 0 {
			upper = to
		}
	}
	page := &Page{}
	scanned := 0
	pf := f.prefilter()
	var rit *rcptCursor
	if pf.rcpt() {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix(kindRcpt), UpperBound: prefixEnd(prefix(kindRcpt))})
		if err != nil {
			return nil, err
		}
		defer it.Close()
		rit = &rcptCursor{it: it, reverse: f.Newest}
	}
	err := scanDir(snap, lower, upper, f.Newest, func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		scanned++
		id := string(k[len(prefix(kindMessage)):])
		if pf.message(v) && (rit == nil || pf.recipients(rit, id)) {
			rec, err := decodeMessage(v)
			if err != nil {
				return false, err
			}
			if f.matchRecord(rec) {
				m, err := loadMessage(snap, rec)
				if err != nil {
					return false, err
				}
				if f.match(m) {
					page.Messages = append(page.Messages, m)
				}
			}
		}
		if f.Limit > 0 && len(page.Messages) >= f.Limit || f.Scan > 0 && scanned >= f.Scan {
			page.Resume = id
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// prefilter holds byte strings a record must contain to possibly match,
// so a search decodes only candidates: records are JSON, and decoding
// them is most of a scan's cost. Each needle is a necessary condition
// (ASCII case folded where the filter is case-insensitive); a filter
// value JSON would escape, or with non-ASCII letters, gets no needle.
type prefilter struct {
	tag, sender         []byte // in the message record
	addr, domain, state []byte // in some recipient record
}

func (f *Filter) prefilter() prefilter {
	return prefilter{tag: needle(f.Tag, false), sender: needle(f.Sender, true),
		addr: needle(f.Rcpt, true), domain: needle(atDomain(f.Domain), true), state: quoted(needle(string(f.State), false))}
}

func atDomain(d string) string {
	if d == "" {
		return ""
	}
	return "@" + d
}

func quoted(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(append([]byte{'"'}, b...), '"')
}

// needle is s as it appears inside a JSON string, lower-cased when fold;
// nil when s is empty or could be written otherwise.
func needle(s string, fold bool) []byte {
	if s == "" {
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '<' || c == '>' || c == '&' || c == '"' {
			return nil
		}
	}
	if fold {
		s = strings.ToLower(s)
	}
	return []byte(s)
}

func (p *prefilter) rcpt() bool { return p.addr != nil || p.domain != nil || p.state != nil }

func (p *prefilter) message(v []byte) bool {
	return (p.tag == nil || bytes.Contains(v, p.tag)) && (p.sender == nil || containsFold(v, p.sender))
}

// rcptCursor walks the recipient records in step with a scan of the
// message records, in the same direction: one seek, then Next (or Prev)
// past the records of the messages before. A seek per message read the
// blocks again each time (Pebble's block cache holds none while a 64 MB
// memtable is reserved out of its 8 MB): 11 µs a message.
type rcptCursor struct {
	it          *pebble.Iterator
	reverse     bool
	ok, started bool
}

// recipients says whether one of id's recipient records contains every
// recipient needle, reading raw values through c. Calls come in the
// cursor's direction: ids ascending, or descending when reverse.
func (p *prefilter) recipients(c *rcptCursor, id string) bool {
	pre := rcptPrefix(id)
	it := c.it
	if c.reverse {
		end := prefixEnd(pre)
		if !c.started {
			c.ok, c.started = it.SeekLT(end), true
		}
		for c.ok && bytes.Compare(it.Key(), end) >= 0 {
			c.step()
		}
	} else {
		if !c.started {
			c.ok, c.started = it.SeekGE(pre), true
		}
		for c.ok && bytes.Compare(it.Key(), pre) < 0 {
			c.step()
		}
	}
	for c.ok && bytes.HasPrefix(it.Key(), pre) {
		v, err := it.ValueAndErr()
		if err != nil {
			return true // let the full read report it
		}
		if (p.addr == nil || containsFold(v, p.addr)) && (p.domain == nil || containsFold(v, p.domain)) &&
			(p.state == nil || bytes.Contains(v, p.state)) {
			return true
		}
		c.step()
	}
	return false
}

// step moves c one record on in its direction.
func (c *rcptCursor) step() {
	if c.reverse {
		c.ok = c.it.Prev()
	} else {
		c.ok = c.it.Next()
	}
}

// containsFold is bytes.Contains with ASCII letters of hay folded; needle
// is lower case.
func containsFold(hay, needle []byte) bool {
	n := len(needle)
	for i := 0; i+n <= len(hay); i++ {
		j := 0
		for ; j < n; j++ {
			c := hay[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// scanDir is scan, backwards when reverse.
func scanDir(r pebble.Reader, lower, upper []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	for ok := first(); ok; ok = next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// matchRecord checks what the message record alone answers, so a search
// by tag or sender skips the recipients of the messages it rules out.
func (f *Filter) matchRecord(rec *msgRecord) bool {
	return (f.Tag == "" || rec.Tag == f.Tag) && (f.Sender == "" || strings.EqualFold(rec.Sender, f.Sender))
}

func (f *Filter) match(m *Message) bool {
	if f.Tag != "" && m.Tag != f.Tag {
		return false
	}
	if f.Sender != "" && !strings.EqualFold(m.Sender, f.Sender) {
		return false
	}
	if !f.Since.IsZero() && m.Arrived.Before(f.Since) || !f.Until.IsZero() && !m.Arrived.Before(f.Until) {
		return false
	}
	if f.State == "" && f.Domain == "" && f.Rcpt == "" {
		return true
	}
	for _, r := range m.Recipients {
		if (f.State == "" || r.State == f.State) &&
			(f.Domain == "" || strings.EqualFold(r.Domain, f.Domain)) &&
			(f.Rcpt == "" || strings.EqualFold(r.Address, f.Rcpt)) {
			return true
		}
	}
	return false
}
