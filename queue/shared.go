package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The shared suppression list (fleet mode, docs/CLUSTER.md). The queue
// knows nothing of PostgreSQL; it keeps two kinds of record for whoever
// syncs the local list with the fleet's:
//
//	p/<seq u64>   a local suppression change not yet in the shared list
//	q/<addr>\x00<seq u64>
//	              its address index, written and deleted with it, so
//	              "is a change to addr pending?" is one seek
//	v/<name>      marks: v/suppressions is the highest shared version
//	              applied here, v/joined that the whole list was copied
//	              once, v/node_id this data directory's identity, v/nodes
//	              the fleet's node count last seen (limits split by it)
//
// Invariant Q6 (the shared outbox), with Options.SharedOutbox on: every
// local suppression change (Suppress, SuppressMany, Unsuppress, Apply and
// ApplyFeedback suppressing) writes its p/ entry in the batch of its s/
// change; seqs are taken under the address's stripe, so one address's
// entries are in change order; an entry is deleted (SharedDone) only after
// the shared list committed it, and pushing one twice is harmless (its ID
// is unique). ApplyShared never overwrites an address with a p/ entry
// still pending, so a change made here is not undone by an older shared
// row before it has been pushed.

const (
	kindShared     = 'p'
	kindSharedAddr = 'q'
	kindMark       = 'v'
)

// SharedChange is one p/ entry: a suppression added (a sighting, to merge)
// or removed on this node.
type SharedChange struct {
	Seq uint64 `json:"-"`
	// ID is random and unique: the shared list applies each change once.
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Removed bool      `json:"removed,omitempty"`
	// Suppression is the sighting as this node saw it (Count: how many it
	// adds); for a removal only Address is set.
	Suppression Suppression `json:"suppression"`
}

// SharedRow is one entry of the shared list as the fleet holds it.
type SharedRow struct {
	Suppression
	Removed bool
	Version uint64
}

const (
	markSuppressions = "suppressions"
	markJoined       = "joined"
	markNodes        = "nodes"
)

func sharedKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(prefix(kindShared), seq)
}

func parseSharedKey(k []byte) (uint64, error) {
	if len(k) != 2+8 || k[0] != kindShared || k[1] != '/' {
		return 0, fmt.Errorf("shared outbox key %q: %w", k, errBadKey)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

func markKey(name string) []byte { return append(prefix(kindMark), name...) }

// sharedAddrPrefix is q/<addr>\x00: addresses hold no NUL, so it is a
// prefix of exactly one address's index keys.
func sharedAddrPrefix(addr string) []byte {
	return append(append(prefix(kindSharedAddr), addr...), 0)
}

func sharedAddrKey(addr string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(sharedAddrPrefix(addr), seq)
}

// pendingFor reports whether addr has a p/ entry waiting (its q/ index).
func pendingFor(r pebble.Reader, addr string) (bool, error) {
	p := sharedAddrPrefix(addr)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, joinClose(nil, it)
}

func decodeSharedChange(b []byte) (*SharedChange, error) {
	var c SharedChange
	if err := decode(b, &c); err != nil {
		return nil, fmt.Errorf("shared outbox record: %w", err)
	}
	a := c.Suppression.Address
	if c.ID == "" || a == "" || a != strings.ToLower(a) {
		return nil, errors.New("shared outbox record: empty id or address not lower case")
	}
	return &c, nil
}

// sharedOutbox numbers p/ entries. Open starts after the highest entry
// left, so a new entry sorts after every pending one.
type sharedOutbox struct {
	next atomic.Uint64
	wake chan struct{}
}

func initShared(r pebble.Reader) (*sharedOutbox, error) {
	p := prefix(kindShared)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	var hi uint64
	if it.Last() {
		hi, err = parseSharedKey(it.Key())
	}
	if err = joinClose(err, it); err != nil {
		return nil, fmt.Errorf("reading the shared outbox: %w", err)
	}
	o := &sharedOutbox{wake: make(chan struct{}, 1)}
	o.next.Store(hi + 1)
	return o, nil
}

// putShared adds c to b as the next p/ entry when the shared outbox is on,
// with a random ID unless c has one. The caller holds the address's stripe.
func (s *PebbleStore) putShared(b *pebble.Batch, c SharedChange) (bool, error) {
	if s.shared == nil {
		return false, nil
	}
	if c.ID == "" {
		var id [16]byte
		rand.Read(id[:]) // never fails (crypto/rand)
		c.ID = hex.EncodeToString(id[:])
	}
	c.Suppression.Address = strings.ToLower(c.Suppression.Address)
	if c.At.IsZero() {
		c.At = s.clock.Now()
	}
	v, err := encode(&c)
	if err != nil {
		return false, err
	}
	seq := s.shared.next.Add(1) - 1
	if err := b.Set(sharedKey(seq), v, nil); err != nil {
		return false, err
	}
	return true, b.Set(sharedAddrKey(c.Suppression.Address, seq), nil, nil)
}

// wakeShared tells SharedWake's reader that an entry has committed.
func (s *PebbleStore) wakeShared() {
	if s.shared == nil {
		return
	}
	select {
	case s.shared.wake <- struct{}{}:
	default:
	}
}

// SharedWake receives after a p/ entry commits; nil when the shared outbox
// is off. One receive may stand for several entries.
func (s *PebbleStore) SharedWake() <-chan struct{} {
	if s.shared == nil {
		return nil
	}
	return s.shared.wake
}

// SharedPending returns up to limit p/ entries in seq order.
func (s *PebbleStore) SharedPending(ctx context.Context, limit int) ([]SharedChange, error) {
	var out []SharedChange
	p := prefix(kindShared)
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		seq, err := parseSharedKey(k)
		if err != nil {
			return false, err
		}
		c, err := decodeSharedChange(v)
		if err != nil {
			return false, fmt.Errorf("%s: %w", k, err)
		}
		c.Seq = seq
		out = append(out, *c)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// SharedCount counts the p/ entries waiting (a key-only scan).
func (s *PebbleStore) SharedCount(ctx context.Context) (int, error) {
	return s.countKeys(ctx, kindShared)
}

// PendingCount counts the recipients still to be delivered (queued or
// deferred): a key-only scan of the due index.
func (s *PebbleStore) PendingCount(ctx context.Context) (int, error) {
	return s.countKeys(ctx, kindDue)
}

func (s *PebbleStore) countKeys(ctx context.Context, kind byte) (int, error) {
	n := 0
	p := prefix(kind)
	err := scanKeys(s.db, p, prefixEnd(p), func([]byte) (bool, error) {
		n++
		return true, ctx.Err()
	})
	return n, err
}

// SharedDone deletes p/ entries (as SharedPending returned them) the
// shared list has committed, with their q/ index keys. Not synced: an
// entry that comes back after a crash is pushed again, which the shared
// list ignores (Q6).
func (s *PebbleStore) SharedDone(ctx context.Context, done []SharedChange) error {
	if err := ctx.Err(); err != nil || len(done) == 0 {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, c := range done {
		if err := b.Delete(sharedKey(c.Seq), nil); err != nil {
			return err
		}
		if err := b.Delete(sharedAddrKey(c.Suppression.Address, c.Seq), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

// SharedVersion returns the highest shared version applied here and
// whether this node has joined: copied the whole shared list once
// (SharedJoined). A node that has not has no copy to run on, even if part
// of one arrived before it stopped.
func (s *PebbleStore) SharedVersion(ctx context.Context) (uint64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	v, err := get(s.db, markKey(markSuppressions), decodeMark)
	if errors.Is(err, ErrNotFound) {
		v, err = 0, nil
	}
	if err != nil {
		return 0, false, err
	}
	_, closer, err := s.db.Get(markKey(markJoined))
	if errors.Is(err, pebble.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	closer.Close()
	return v, true, nil
}

// SharedJoined records, synced, that the whole shared list has been copied
// once.
func (s *PebbleStore) SharedJoined(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Set(markKey(markJoined), nil, pebble.Sync); err != nil {
		return fmt.Errorf("shared list joined: %w", mapNoSpace(err))
	}
	return nil
}

// SharedNodes returns the fleet's node count recorded by SetSharedNodes,
// 0 when none was: what a node restarted while the database is away
// divides the per-domain limits by.
func (s *PebbleStore) SharedNodes() (int, error) {
	v, err := get(s.db, markKey(markNodes), decodeMark)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return int(v), err
}

// SetSharedNodes records the fleet's node count, unsynced: a crash may
// lose the last change, leaving an older count, which the next database
// read corrects.
func (s *PebbleStore) SetSharedNodes(n int) error {
	if err := s.db.Set(markKey(markNodes), binary.BigEndian.AppendUint64(nil, uint64(max(n, 0))), pebble.NoSync); err != nil {
		return fmt.Errorf("fleet node count: %w", mapNoSpace(err))
	}
	return nil
}

func decodeMark(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("mark of %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// ApplyShared writes rows from the shared list into the local copy and
// moves v/suppressions to version, in one synced batch. A removed row
// deletes the local entry, any other replaces it: the shared list is the
// source of truth. An address with a p/ entry pending is left alone (Q6);
// its change comes back with a higher version once pushed. Nothing is
// added to the outbox or the event log: the change was reported where it
// was made. It returns how many rows it wrote.
func (s *PebbleStore) ApplyShared(ctx context.Context, rows []SharedRow, version uint64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys := make([]string, len(rows))
	for i := range rows {
		rows[i].Address = strings.ToLower(rows[i].Address)
		keys[i] = suppLockKey(rows[i].Address)
	}
	defer s.locks.lock(keys...)()
	// Under the stripes, no new p/ entry can appear for these addresses.
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for _, r := range rows {
		if r.Address == "" {
			continue
		}
		pending, err := pendingFor(s.db, r.Address)
		if err != nil {
			return 0, err
		}
		if pending {
			continue
		}
		n++
		if r.Removed {
			err = b.Delete(suppressKey(r.Address), nil)
		} else {
			var v []byte
			if v, err = encode(&r.Suppression); err == nil {
				s.addSuppressed(r.Address) // F1
				err = b.Set(suppressKey(r.Address), v, nil)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("shared suppression %s: %w", r.Address, err)
		}
	}
	if err := b.Set(markKey(markSuppressions), binary.BigEndian.AppendUint64(nil, version), nil); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("applying shared suppressions: %w", mapNoSpace(err))
	}
	return n, nil
}

// seedChunk bounds the entries one SharedSeed batch carries.
const seedChunk = 500

// SharedSeed copies every local suppression into the shared outbox, for a
// node joining the fleet with a list of its own (before its first sync),
// so the fleet learns what this node learnt alone. Each entry's ID is
// idPrefix and the address, so seeding again after a crash part-way adds
// nothing twice. It returns how many entries it queued.
func (s *PebbleStore) SharedSeed(ctx context.Context, idPrefix string) (int, error) {
	if s.shared == nil {
		return 0, errors.New("shared outbox is off")
	}
	total := 0
	after := ""
	for {
		page, err := s.Suppressions(ctx, after, seedChunk)
		if err != nil || len(page) == 0 {
			return total, err
		}
		after = page[len(page)-1].Address
		keys := make([]string, len(page))
		for i, sup := range page {
			keys[i] = suppLockKey(sup.Address)
		}
		n, err := s.seedPage(page, keys, idPrefix)
		total += n
		if err != nil {
			return total, err
		}
		s.wakeShared()
	}
}

func (s *PebbleStore) seedPage(page []Suppression, keys []string, idPrefix string) (int, error) {
	defer s.locks.lock(keys...)()
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for _, sup := range page {
		// Re-read under the stripe: it may have been removed since.
		cur, err := get(s.db, suppressKey(sup.Address), decodeSuppression)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if _, err := s.putShared(b, SharedChange{ID: idPrefix + cur.Address, At: cur.LastSeen, Suppression: *cur}); err != nil {
			return n, err
		}
		n++
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("seeding the shared outbox: %w", mapNoSpace(err))
	}
	return n, nil
}

// NodeID returns this data directory's identity in the fleet (v/node_id),
// made and synced the first time: a node restarting on its own data is
// recognised, another machine using the same node name is not.
func (s *PebbleStore) NodeID() (string, error) {
	v, closer, err := s.db.Get(markKey("node_id"))
	if err == nil {
		defer closer.Close()
		return string(v), nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return "", err
	}
	var id [16]byte
	rand.Read(id[:])
	sid := hex.EncodeToString(id[:])
	if err := s.db.Set(markKey("node_id"), []byte(sid), pebble.Sync); err != nil {
		return "", fmt.Errorf("node id: %w", mapNoSpace(err))
	}
	return sid, nil
}

// shared verifies the p/ and v/ records decode, that no p/ seq is at or
// above the next one to be handed out (Q6's ordering), and that p/ entries
// and their q/ index keys match one to one.
func (c *checker) shared() error {
	indexed := map[uint64]string{} // seq -> address, from q/
	q := prefix(kindSharedAddr)
	err := scanKeys(c.r, q, prefixEnd(q), func(k []byte) (bool, error) {
		nul := len(k) - 9 // the seq is the last 8 bytes
		if nul < 3 || k[nul] != 0 || bytes.IndexByte(k[2:nul], 0) >= 0 {
			c.fail("Q6 shared index key %q: %v", k, errBadKey)
			return true, nil
		}
		indexed[binary.BigEndian.Uint64(k[nul+1:])] = string(k[2:nul])
		return true, nil
	})
	if err != nil {
		return err
	}
	p := prefix(kindShared)
	err = scan(c.r, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		seq, err := parseSharedKey(k)
		if err != nil {
			c.fail("Q6 %v", err)
			return true, nil
		}
		ch, err := decodeSharedChange(v)
		if err != nil {
			c.fail("Q6 %s: %v", k, err)
		} else if a, ok := indexed[seq]; !ok || a != ch.Suppression.Address {
			c.fail("Q6 shared outbox entry %d for %s has index %q", seq, ch.Suppression.Address, a)
		}
		delete(indexed, seq)
		if c.sharedNext > 0 && seq >= c.sharedNext {
			c.fail("Q6 shared outbox entry %d at or above the next seq %d", seq, c.sharedNext)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for seq, a := range indexed {
		c.fail("Q6 shared index for %s names entry %d, which does not exist", a, seq)
	}
	v, err := get(c.r, markKey(markSuppressions), decodeMark)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.fail("Q6 v/%s: %v (version %d)", markSuppressions, err, v)
	}
	return nil
}
