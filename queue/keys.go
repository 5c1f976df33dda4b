package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Key layout. Every key starts with a one-letter record kind and '/'; numbers
// are big-endian so that byte order is numeric order and a range scan over a
// prefix visits records in the order callers want (IDs by arrival, due keys
// by time).
//
//	m/<id>                         message meta (envelope, counters)
//	b/<id>                         body, raw bytes
//	r/<id>/<idx u32>               recipient
//	t/<id>/<idx u32>/<seq u32>     timeline entry (Attempt)
//	d/<nanos u64><id>/<idx u32>    due index, empty value
//	s/<lower-case address>         suppression
//	f/<nanos u64><id>              final index (retention), empty value
//	x/<lower-case address>         soft-bounce streak
//	e/<seq u64>                    outbox event (Event), see outbox.go
//	c/<consumer name>              outbox cursor: last handled seq, u64
//	a/<nanos u64><key>             feedback report record (FeedbackRecord)
//	k/<key>                        feedback key: its a/ key, so a report applies once
//	i/<hex sha256(scope, key)>     idempotency: expiry u64 nanos + the first response
//	w/<consumer>/<seq u64>         dead letter: an event a consumer gave up on (DeadLetter)
//	g/<consumer>                   a consumer's hold: it stopped itself (Hold)
//	h/<lower-case address>         delivery history: last delivered, last bounced (H1)
//	u/c/<day u32>/<ip>\x00<domain>  sent today per source IP and destination (warm-up), see sent.go
//	u/s/<ip>                       a source IP's first sending day (warm-up day 0), see sent.go
//	p/<seq u64>                    shared-list outbox entry (SharedChange), see shared.go
//	q/<addr>\x00<seq u64>          its address index, see shared.go
//	v/<name>                       shared-list marks (version applied, node id), see shared.go
//	l/<domain>                     MTA-STS policy cached by delivery, see transport.go
//	y/<yyyymmdd>/<domain>          one day's TLS-RPT counts for a policy domain, see transport.go
//	o/h/<hour u64>                 rollup: outcomes in a UTC hour; o/d/<day u64>/<domain>: per day
//	                               and destination; o/w/<domain>: waiting recipients; see rollup.go
//
// IDs never contain '/' (validID), so "r/<id>/" is a prefix of exactly one
// message's recipients.
const (
	kindMessage  = 'm'
	kindBody     = 'b'
	kindRcpt     = 'r'
	kindTimeline = 't'
	kindDue      = 'd'
	kindSuppress = 's'
	kindFinal    = 'f'
	kindStreak   = 'x'
	kindEvent    = 'e'
	kindCursor   = 'c'

	kindFeedback    = 'a'
	kindFeedbackKey = 'k'

	kindIdempotency = 'i'
	kindDead        = 'w'
	kindHold        = 'g'
	kindHistory     = 'h'
)

func prefix(kind byte) []byte { return []byte{kind, '/'} }

// prefixEnd returns the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

func idKey(kind byte, id string) []byte {
	return append(prefix(kind), id...)
}

func rcptPrefix(id string) []byte { return append(idKey(kindRcpt, id), '/') }

func rcptKey(id string, idx int) []byte {
	return binary.BigEndian.AppendUint32(rcptPrefix(id), uint32(idx))
}

func timelinePrefix(id string, idx int) []byte {
	k := binary.BigEndian.AppendUint32(append(idKey(kindTimeline, id), '/'), uint32(idx))
	return append(k, '/')
}

func timelineKey(id string, idx int, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(timelinePrefix(id, idx), seq)
}

// timeNanos maps t to the key's u64; times before 1970 sort as 1970 (they
// only occur with broken clocks, and must not wrap to the far future).
func timeNanos(t time.Time) uint64 {
	return uint64(max(t.UnixNano(), 0))
}

func dueKey(at time.Time, id string, idx int) []byte {
	k := binary.BigEndian.AppendUint64(prefix(kindDue), timeNanos(at))
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint32(k, uint32(idx))
}

// dueUpper is the exclusive upper bound of due keys at or before now.
func dueUpper(now time.Time) []byte {
	n := timeNanos(now)
	if n == ^uint64(0) {
		return prefixEnd(prefix(kindDue))
	}
	return binary.BigEndian.AppendUint64(prefix(kindDue), n+1)
}

var errBadKey = errors.New("malformed key")

// parseDueKey splits d/<nanos><id>/<idx>.
func parseDueKey(k []byte) (nanos uint64, id string, idx int, err error) {
	const fixed = 2 + 8 + 1 + 4
	if len(k) < fixed+1 || k[0] != kindDue || k[1] != '/' || k[len(k)-5] != '/' {
		return 0, "", 0, fmt.Errorf("due key %q: %w", k, errBadKey)
	}
	nanos = binary.BigEndian.Uint64(k[2:10])
	id = string(k[10 : len(k)-5])
	idx = int(binary.BigEndian.Uint32(k[len(k)-4:]))
	return nanos, id, idx, nil
}

func finalKey(at time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(prefix(kindFinal), timeNanos(at))
	return append(k, id...)
}

func parseFinalKey(k []byte) (nanos uint64, id string, err error) {
	if len(k) < 2+8+1 || k[0] != kindFinal || k[1] != '/' {
		return 0, "", fmt.Errorf("final key %q: %w", k, errBadKey)
	}
	return binary.BigEndian.Uint64(k[2:10]), string(k[10:]), nil
}

func suppressKey(addr string) []byte {
	return append(prefix(kindSuppress), strings.ToLower(addr)...)
}

// recordVersion leads every JSON value so the format can change later.
const recordVersion = 1

// msgRecord is the m/<id> value: the envelope without recipients, plus the
// counter that tells Apply when the last recipient became final.
type msgRecord struct {
	ID         string    `json:"id"`
	Sender     string    `json:"sender"`
	Arrived    time.Time `json:"arrived"`
	Size       int64     `json:"size"`
	ClientAddr string    `json:"client_addr,omitempty"`
	Helo       string    `json:"helo,omitempty"`
	Headers    string    `json:"headers,omitempty"`
	Rcpts      int       `json:"rcpts"`
	// Open counts recipients not yet final (queued, deferred, held).
	Open int `json:"open"`
	// Final is when Open reached 0; zero while it has not.
	Final time.Time `json:"final,omitzero"`
	// NoDSN, Tag and Metadata are Message's.
	NoDSN    bool              `json:"no_dsn,omitempty"`
	Tag      string            `json:"tag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Pool     string            `json:"pool,omitempty"`
	// From and Subject are Message's.
	From    string `json:"from,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// rcptRecord is the r/ value: the Recipient plus its timeline length, so
// appending needs no scan.
type rcptRecord struct {
	Recipient
	Timeline uint32 `json:"timeline"`
}

// encode returns v as a record: the version byte, then v as json.Marshal
// writes it.
func encode(v any) ([]byte, error) {
	var out []byte
	err := withEncoded(v, func(rec []byte) error {
		out = bytes.Clone(rec)
		return nil
	})
	return out, err
}

// withEncoded calls use with v as a record in a pooled buffer, valid only
// during the call: what a batch's Set copies needs no copy of its own
// (json.Marshal's result and its copy behind the version byte were 11% of
// the bytes the relay path allocated).
func withEncoded(v any, use func(rec []byte) error) error {
	e := encoders.Get().(*recordEncoder)
	e.buf.Reset()
	e.buf.WriteByte(recordVersion)
	if err := e.enc.Encode(v); err != nil {
		return err // e is dropped with whatever it holds
	}
	rec := e.buf.Bytes()
	err := use(rec[:len(rec)-1]) // without the newline Encode ends with
	if e.buf.Cap() <= maxPooledRecord {
		encoders.Put(e)
	}
	return err
}

// recordEncoder writes records as json.Marshal does (Encode escapes HTML
// alike), behind the version byte.
type recordEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &recordEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// decode is strict: unknown version, unknown fields or trailing bytes are
// errors, so corruption surfaces in Check instead of as zero values.
func decode(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("empty record")
	}
	if b[0] != recordVersion {
		return fmt.Errorf("record version %d, want %d", b[0], recordVersion)
	}
	d := decoders.Get().(*recordDecoder)
	if err := d.decode(b[1:], v); err != nil {
		return err // d is dropped: its buffer may hold the rest of b
	}
	if len(b) <= maxPooledRecord {
		decoders.Put(d)
	}
	return nil
}

// recordDecoder is a strict json.Decoder kept for reuse: records are fed
// to it one at a time through r, as a stream of values, so it is neither
// allocated nor grows its buffer for each record (json.NewDecoder did
// both on every read: 12% of the bytes the relay path allocated). It is
// reused only after a record that was one value and blanks, so what one
// record left in its buffer is blank for the next.
type recordDecoder struct {
	dec *json.Decoder
	r   bytes.Reader
	fed int64 // bytes dec has read from r, over every record
}

var decoders = sync.Pool{New: func() any {
	d := &recordDecoder{}
	d.dec = json.NewDecoder(&d.r)
	d.dec.DisallowUnknownFields()
	return d
}}

// maxPooledRecord keeps the decoder of a rare large record (a dead letter)
// out of the pool, with the buffer it grew.
const maxPooledRecord = 64 << 10

func (d *recordDecoder) decode(rec []byte, v any) error {
	start := d.dec.InputOffset()
	blank := d.fed - start // read from earlier records, not consumed
	d.r.Reset(rec)
	err := d.dec.Decode(v)
	d.fed += int64(len(rec) - d.r.Len()) // what dec read of rec
	d.r.Reset(nil)                       // rec is Pebble's, valid only until its closer runs
	if err != nil {
		return err
	}
	end := d.dec.InputOffset() - start - blank // rec[:end] was the value
	if end < 0 || end > int64(len(rec)) || len(bytes.TrimLeft(rec[end:], " \t\r\n")) > 0 {
		return errors.New("trailing data after record")
	}
	return nil
}

func decodeMessage(b []byte) (*msgRecord, error) {
	var m msgRecord
	if err := decode(b, &m); err != nil {
		return nil, fmt.Errorf("message record: %w", err)
	}
	if validID(m.ID) != nil || m.Rcpts < 1 || m.Open < 0 || m.Open > m.Rcpts {
		return nil, errors.New("message record: fields out of range")
	}
	return &m, nil
}

func decodeRecipient(b []byte) (*rcptRecord, error) {
	var r rcptRecord
	if err := decode(b, &r); err != nil {
		return nil, fmt.Errorf("recipient record: %w", err)
	}
	if r.Index < 0 || !knownState(r.State) {
		return nil, fmt.Errorf("recipient record: bad index %d or state %q", r.Index, r.State)
	}
	return &r, nil
}

func decodeAttempt(b []byte) (*Attempt, error) {
	var a Attempt
	if err := decode(b, &a); err != nil {
		return nil, fmt.Errorf("timeline record: %w", err)
	}
	return &a, nil
}

func decodeSuppression(b []byte) (*Suppression, error) {
	var s Suppression
	if err := decode(b, &s); err != nil {
		return nil, fmt.Errorf("suppression record: %w", err)
	}
	return &s, nil
}

func knownState(s State) bool { return slices.Contains(States(), s) }
