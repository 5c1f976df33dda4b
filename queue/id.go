package queue

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// idAlphabet is Crockford's base32: no I, L, O or U, so IDs read aloud or
// typed from a log are hard to get wrong. It is in ASCII order, which keeps
// the lexicographic order of IDs equal to the order of their 80-bit values.
const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idEncoding is MSB-first, so byte order of the value is character order.
var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// maxIDLen bounds caller-chosen IDs; keys embed them.
const maxIDLen = 64

var idGen struct {
	mu     sync.Mutex
	lastMs uint64
	lastR  uint32
}

// NewID returns a 16-character, time-sortable queue ID: 48 bits of unix
// milliseconds then 32 random bits. IDs made in the same millisecond by one
// process increase, so sorting IDs sorts by creation.
func NewID(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0)) & (1<<48 - 1)
	r := randUint32()
	idGen.mu.Lock()
	if ms == idGen.lastMs && r <= idGen.lastR {
		if idGen.lastR == ^uint32(0) {
			// 2^32 IDs in one millisecond: borrow from the next one.
			ms++
			r = 0
		} else {
			r = idGen.lastR + 1
		}
	}
	idGen.lastMs, idGen.lastR = ms, r
	idGen.mu.Unlock()
	return encodeID(ms, r)
}

func encodeID(ms uint64, r uint32) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], ms<<16) // 48 bits of ms in b[0:6]
	binary.BigEndian.PutUint32(b[6:], r)
	return idEncoding.EncodeToString(b[:])
}

func randUint32() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("queue: crypto/rand: %v", err))
	}
	return binary.BigEndian.Uint32(b[:])
}

// IDTime returns the creation time, to the millisecond, of an ID made by
// NewID; ok is false for other IDs.
func IDTime(id string) (time.Time, bool) { return idTime(id) }

// idTime returns the creation time encoded in an ID made by NewID.
func idTime(id string) (time.Time, bool) {
	b, err := idEncoding.DecodeString(id)
	if err != nil || len(b) != 10 {
		return time.Time{}, false
	}
	ms := binary.BigEndian.Uint64(b[:8]) >> 16
	return time.UnixMilli(int64(ms)).UTC(), true
}

// validID accepts IDs made by NewID and caller-chosen ones that are safe
// inside keys: no '/', bounded length.
func validID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("queue id %q: length must be 1..%d", id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("queue id %q: invalid character %q", id, c)
		}
	}
	return nil
}

// idFloor is the smallest ID NewID can make at t's millisecond: a bound
// for scans by arrival time.
func idFloor(t time.Time) string {
	return encodeID(uint64(max(t.UnixMilli(), 0))&(1<<48-1), 0)
}

// idHigh is the greatest message ID the store has held since it opened
// (found at Open, raised by every message written since). Message keys
// sort as their IDs, so an ID above it is not on disk.
type idHigh struct {
	mu  sync.Mutex
	max string
}

// claim raises the mark to id and reports whether id was above it. The
// caller holds id's message lock, so of two writers of one ID the second
// sees the first's claim and looks the ID up.
func (h *idHigh) claim(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id <= h.max {
		return false
	}
	h.max = id
	return true
}

// initIDHigh finds the greatest message ID on disk.
func initIDHigh(r pebble.Reader) (*idHigh, error) {
	p := prefix(kindMessage)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	h := &idHigh{}
	if it.Last() {
		h.max = string(it.Key()[len(p):])
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return h, nil
}
