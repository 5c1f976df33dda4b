package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Sent counters: what each source address took on for each destination
// domain per UTC day, for the scheduler's warm-up caps and `mtaq stats`
// (docs/OPERATIONS.md: IP pools and warm-up). Keys:
//
//	u/c/<day u32>/<source ip>\x00<domain>   u64 count
//	u/s/<source ip>                         u32 day the address first sent: its warm-up day 0
//
// Counts are kept for the current and previous day only; first days are
// kept for good (one small key per address ever configured).
const kindSent = 'u'

// SentCount is one counter: N recipients taken on from SourceIP for
// Domain on Day.
type SentCount struct {
	Day      int    `json:"day"` // Day(t)
	SourceIP string `json:"source_ip"`
	Domain   string `json:"domain"`
	N        int    `json:"n"`
}

// Day is t's UTC day number (days since 1970-01-01), the unit of the
// warm-up caps.
func Day(t time.Time) int { return int(t.UTC().Unix() / 86400) }

// DayStart is the start of UTC day n.
func DayStart(n int) time.Time { return time.Unix(int64(n)*86400, 0).UTC() }

func sentDayPrefix(day int) []byte {
	return binary.BigEndian.AppendUint32(append(prefix(kindSent), 'c', '/'), uint32(day))
}

func sentKey(day int, ip, domain string) []byte {
	k := append(sentDayPrefix(day), '/')
	return append(append(append(k, ip...), 0), domain...)
}

func sentStartKey(ip string) []byte { return append(append(prefix(kindSent), 's', '/'), ip...) }

// SentOn returns day's counters, one prefix scan (a handful of source
// addresses times the destinations they sent to).
func (s *PebbleStore) SentOn(ctx context.Context, day int) ([]SentCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := append(sentDayPrefix(day), '/')
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []SentCount
	for it.First(); it.Valid(); it.Next() {
		rest := it.Key()[len(p):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(it.Value()) != 8 {
			return nil, fmt.Errorf("sent counter %q: malformed", it.Key())
		}
		out = append(out, SentCount{Day: day, SourceIP: string(rest[:i]), Domain: string(rest[i+1:]),
			N: int(binary.BigEndian.Uint64(it.Value()))})
	}
	return out, it.Error()
}

// SentStarts returns each source address's first sending day.
func (s *PebbleStore) SentStarts(ctx context.Context) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := append(prefix(kindSent), 's', '/')
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]int{}
	for it.First(); it.Valid(); it.Next() {
		if len(it.Value()) != 4 {
			return nil, fmt.Errorf("sent start %q: malformed", it.Key())
		}
		out[string(it.Key()[len(p):])] = int(binary.BigEndian.Uint32(it.Value()))
	}
	return out, it.Error()
}

// AddSent adds counts to their counters, records the first day of an
// address not seen before, and drops counters older than the day before
// the newest count's. It does not sync: the scheduler calls it just
// before the synced Lease of the same recipients, whose fsync makes it
// durable too (Pebble's log is written in order). A crash in between
// loses counts of mail that was not sent either.
func (s *PebbleStore) AddSent(ctx context.Context, counts []SentCount) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(counts) == 0 {
		return nil
	}
	s.sentMu.Lock() // read-modify-write of the counters
	defer s.sentMu.Unlock()
	b := s.db.NewIndexedBatch()
	defer b.Close()
	newest := 0
	for _, c := range counts {
		newest = max(newest, c.Day)
		if err := addCounter(b, sentKey(c.Day, c.SourceIP, c.Domain), uint64(c.N)); err != nil {
			return err
		}
		sk := sentStartKey(c.SourceIP)
		if _, closer, err := b.Get(sk); err == nil {
			_ = closer.Close()
		} else if errors.Is(err, pebble.ErrNotFound) {
			if err := b.Set(sk, binary.BigEndian.AppendUint32(nil, uint32(c.Day)), nil); err != nil {
				return err
			}
		} else {
			return err
		}
	}
	if newest > 1 {
		if err := b.DeleteRange(sentDayPrefix(0), sentDayPrefix(newest-1), nil); err != nil {
			return err
		}
	}
	return mapNoSpace(b.Commit(pebble.NoSync))
}

func addCounter(b *pebble.Batch, key []byte, n uint64) error {
	v, closer, err := b.Get(key)
	switch {
	case err == nil:
		if len(v) == 8 {
			n += binary.BigEndian.Uint64(v)
		}
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	return b.Set(key, binary.BigEndian.AppendUint64(nil, n), nil)
}
