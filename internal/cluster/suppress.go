package cluster

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// pushLimit bounds the outbox entries one transaction carries.
const pushLimit = 500

// catchUpBatch bounds the rows one local batch applies.
const catchUpBatch = 1000

// pushLoop drains the outbox whenever the queue says an entry committed,
// and retries with backoff while the database is away; entries wait in
// Pebble meanwhile (Q6).
func (n *Node) pushLoop(ctx context.Context) {
	failures := 0
	for {
		more, err := n.push(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			n.setErr(err)
			if unreachable(err) {
				n.log.Debug("push failed; the outbox keeps the changes", zap.Error(err), zap.Int("failures", failures))
			} else {
				n.log.Warn("push refused; the outbox keeps the changes and retries", zap.Error(err), zap.Int("failures", failures))
			}
			if !n.sleep(ctx, backoff(failures)) {
				return
			}
			continue
		}
		if failures > 0 {
			failures = 0
			n.setErr(nil)
		}
		if more {
			continue
		}
		t := n.o.Clock.NewTimer(n.o.Resync)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.o.Store.SharedWake():
		case <-t.C():
		}
		t.Stop()
	}
}

// push sends one batch of outbox entries in one transaction and deletes
// them locally once it committed. It reports whether more may be waiting.
func (n *Node) push(ctx context.Context) (bool, error) {
	changes, err := n.o.Store.SharedPending(ctx, pushLimit)
	if err != nil || len(changes) == 0 {
		return false, err
	}
	var top int64
	err = pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		var err error
		top, err = n.pushBatch(ctx, tx, changes)
		return err
	})
	if err != nil {
		return false, err
	}
	if err := n.o.Store.SharedDone(ctx, changes); err != nil {
		return false, err
	}
	n.log.Debug("pushed suppression changes", zap.Int("changes", len(changes)), zap.Int64("version", top))
	n.beatSoon()
	return len(changes) == pushLimit, nil
}

// row is one mtaq_suppressions row.
type row struct {
	address, reason, messageID string
	firstSeen, lastSeen        time.Time
	count                      int64
	expires                    *time.Time
	reply                      []byte
	removed                    bool
	version                    int64
}

// pushBatch applies changes in seq order inside tx, each once (its ID is
// recorded), and returns the highest version written (0: nothing new). Four
// round trips whatever the batch size: the new IDs, the rows they touch,
// the upserts pipelined, the notification.
func (n *Node) pushBatch(ctx context.Context, tx pgx.Tx, changes []queue.SharedChange) (int64, error) {
	// Writers one at a time: versions are then committed in order.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockSuppressions); err != nil {
		return 0, err
	}
	ids := make([]string, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	fresh := map[string]bool{}
	rs, err := tx.Query(ctx, `INSERT INTO mtaq_suppression_changes (id, node) SELECT unnest($1::text[]), $2
		ON CONFLICT DO NOTHING RETURNING id`, ids, n.o.Node)
	if err != nil {
		return 0, err
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return 0, err
		}
		fresh[id] = true
	}
	if rs.Close(); rs.Err() != nil {
		return 0, rs.Err()
	}
	var addrs []string
	for _, c := range changes {
		if fresh[c.ID] {
			addrs = append(addrs, c.Suppression.Address)
		}
	}
	if len(addrs) == 0 {
		return 0, nil
	}
	rows, err := readRows(ctx, tx, addrs)
	if err != nil {
		return 0, err
	}
	// Merged in seq order, so two changes to one address in the batch
	// apply as they happened; one upsert per address.
	var order []string
	touched := map[string]bool{}
	for _, c := range changes {
		if !fresh[c.ID] {
			continue
		}
		old, exists := rows[c.Suppression.Address]
		var r row
		if c.Removed {
			if !exists {
				old = &row{firstSeen: c.At, lastSeen: c.At}
			}
			r = *old
			r.removed = true
		} else {
			var cur row
			if exists {
				cur = *old
			}
			if r, err = merge(cur, exists && !old.removed, c.Suppression); err != nil {
				return 0, err
			}
		}
		r.address = c.Suppression.Address
		if !touched[r.address] {
			touched[r.address] = true
			order = append(order, r.address)
		}
		rows[r.address] = &r
	}
	var b pgx.Batch
	for _, a := range order {
		r := rows[a]
		b.Queue(`INSERT INTO mtaq_suppressions
			(address, reason, first_seen, last_seen, count, expires, reply, message_id, removed, version, node, updated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('mtaq_suppression_version'), $10, now())
			ON CONFLICT (address) DO UPDATE SET reason = $2, first_seen = $3, last_seen = $4, count = $5, expires = $6,
				reply = $7, message_id = $8, removed = $9, version = excluded.version, node = $10, updated = now()
			RETURNING version`,
			a, r.reason, r.firstSeen, r.lastSeen, r.count, r.expires, r.reply, r.messageID, r.removed, n.o.Node)
	}
	var top int64
	br := tx.SendBatch(ctx, &b)
	for range b.Len() {
		var v int64
		if err := br.QueryRow().Scan(&v); err != nil {
			br.Close()
			return 0, err
		}
		top = max(top, v)
	}
	if err := br.Close(); err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(top, 10))
	return top, err
}

// readRows returns the current rows of addrs, by address.
func readRows(ctx context.Context, tx pgx.Tx, addrs []string) (map[string]*row, error) {
	rs, err := tx.Query(ctx, `SELECT address, reason, first_seen, last_seen, count, expires, reply, message_id, removed
		FROM mtaq_suppressions WHERE address = ANY($1)`, addrs)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := map[string]*row{}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.address, &r.reason, &r.firstSeen, &r.lastSeen, &r.count, &r.expires, &r.reply, &r.messageID,
			&r.removed); err != nil {
			return nil, err
		}
		out[r.address] = &r
	}
	return out, rs.Err()
}

// merge is the local merge (queue's mergeSuppression) done on the shared
// row: counts add up, first seen is the earliest, last seen the latest;
// reason, expiry, reply and message come from the latest sighting (empty
// fields keep the old). A tombstoned row starts over.
func merge(old row, live bool, s queue.Suppression) (row, error) {
	var reply []byte
	if s.Reply != nil {
		var err error
		if reply, err = json.Marshal(s.Reply); err != nil {
			return row{}, err
		}
	}
	var expires *time.Time
	if !s.Expires.IsZero() {
		e := s.Expires.UTC()
		expires = &e
	}
	first := s.Created
	if first.IsZero() {
		first = s.LastSeen
	}
	cur := row{reason: s.Reason, firstSeen: first, lastSeen: s.LastSeen, count: int64(max(s.Count, 1)),
		expires: expires, reply: reply, messageID: s.MessageID}
	if !live {
		return cur, nil
	}
	out := old
	out.removed = false
	out.count = old.count + cur.count
	if cur.firstSeen.Before(old.firstSeen) {
		out.firstSeen = cur.firstSeen
	}
	if cur.lastSeen.Before(old.lastSeen) {
		// An older sighting pushed late (the outbox waited): it counts,
		// but the newer one's details stay.
		return out, nil
	}
	out.lastSeen = cur.lastSeen
	out.expires = cur.expires
	if cur.reason != "" {
		out.reason = cur.reason
	}
	if cur.reply != nil {
		out.reply = cur.reply
	}
	if cur.messageID != "" {
		out.messageID = cur.messageID
	}
	return out, nil
}

// listenLoop keeps a connection that LISTENs, catching up from the local
// version after every (re)connect, on every notification and every Resync;
// a notification only says "look", the version column says what.
func (n *Node) listenLoop(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := n.listen(ctx, func() { failures = 0; n.setErr(nil) })
		if ctx.Err() != nil {
			return
		}
		failures++
		n.setErr(err)
		n.log.Debug("listen connection lost", zap.Error(err), zap.Int("failures", failures))
		if !n.sleep(ctx, backoff(failures)) {
			return
		}
	}
}

func (n *Node) listen(ctx context.Context, healthy func()) error {
	conn, err := pgx.ConnectConfig(ctx, n.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing a connection we are done with
	for _, ch := range []string{notifyChannel, destChannel, nodesChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	// Listening first, then reading: a change committed in between is
	// both read now and notified.
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	n.destSignal(n.destResync)
	healthy()
	for {
		wctx, cancel := context.WithTimeout(ctx, n.o.Resync)
		note, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil && !timedOut {
			return err
		}
		switch {
		case note != nil && note.Channel == destChannel:
			n.onDestination(note.Payload) // self-contained; the table is read after a reconnect
			continue
		case note != nil && note.Channel == nodesChannel:
			if err := n.countNodes(ctx); err != nil {
				return err
			}
			continue
		case note == nil: // the periodic resync
			n.destSignal(n.destResync)
		}
		if err := n.catchUp(ctx); err != nil {
			return err
		}
	}
}

// catchUp applies every row newer than the local version, in version order,
// a batch at a time, each batch with its version in one local commit.
func (n *Node) catchUp(ctx context.Context) error {
	for {
		after, _, err := n.o.Store.SharedVersion(ctx)
		if err != nil {
			return err
		}
		rows, top, err := n.fetch(ctx, after)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return n.joined(ctx)
		}
		applied, err := n.o.Store.ApplyShared(ctx, rows, top)
		if err != nil {
			return err
		}
		n.log.Debug("applied shared suppressions", zap.Int("rows", len(rows)), zap.Int("applied", applied),
			zap.Uint64("version", top))
		n.beatSoon()
		if len(rows) < catchUpBatch {
			return n.joined(ctx)
		}
	}
}

// joined records, the first time, that this node copied the whole list.
func (n *Node) joined(ctx context.Context) error {
	_, joined, err := n.o.Store.SharedVersion(ctx)
	if err != nil || joined {
		return err
	}
	n.log.Info("copied the shared suppression list")
	return n.o.Store.SharedJoined(ctx)
}

func (n *Node) fetch(ctx context.Context, after uint64) ([]queue.SharedRow, uint64, error) {
	rs, err := n.pool.Query(ctx, `SELECT address, reason, first_seen, last_seen, count, expires, reply, message_id,
		removed, version FROM mtaq_suppressions WHERE version > $1 ORDER BY version LIMIT $2`, int64(after), catchUpBatch)
	if err != nil {
		return nil, 0, err
	}
	defer rs.Close()
	var out []queue.SharedRow
	var top uint64
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.address, &r.reason, &r.firstSeen, &r.lastSeen, &r.count, &r.expires, &r.reply,
			&r.messageID, &r.removed, &r.version); err != nil {
			return nil, 0, err
		}
		s := queue.Suppression{Address: r.address, Reason: r.reason, Created: r.firstSeen.UTC(),
			LastSeen: r.lastSeen.UTC(), Count: int(r.count), MessageID: r.messageID}
		if r.expires != nil {
			s.Expires = r.expires.UTC()
		}
		if r.reply != nil {
			s.Reply = &queue.Reply{}
			if err := json.Unmarshal(r.reply, s.Reply); err != nil {
				return nil, 0, err
			}
		}
		out = append(out, queue.SharedRow{Suppression: s, Removed: r.removed, Version: uint64(r.version)})
		top = uint64(r.version)
	}
	return out, top, rs.Err()
}
