// Package cluster is fleet mode's link to PostgreSQL ([cluster],
// docs/CLUSTER.md). It owns the shared schema and its embedded migrations,
// this node's heartbeat row in the node registry, and the two loops that
// keep the shared suppression list and the node's local copy in step: the
// pusher sends the queue's shared outbox (p/ entries) to PostgreSQL, and the
// listener applies every node's changes to the local copy (LISTEN/NOTIFY,
// then catch-up by version, never the notification alone).
//
// It does not decide what is suppressed (policy and the scheduler do), it
// is not on the mail path (RCPT and delivery check the local Pebble copy),
// and it never holds mail: with the database away the node runs on its
// copy and the outbox waits.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/buildinfo"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// Local is the node's queue as the cluster uses it (*queue.PebbleStore
// opened with SharedOutbox).
type Local interface {
	SharedPending(ctx context.Context, limit int) ([]queue.SharedChange, error)
	SharedDone(ctx context.Context, done []queue.SharedChange) error
	SharedWake() <-chan struct{}
	SharedVersion(ctx context.Context) (uint64, bool, error)
	SharedJoined(ctx context.Context) error
	ApplyShared(ctx context.Context, rows []queue.SharedRow, version uint64) (int, error)
	SharedSeed(ctx context.Context, idPrefix string) (int, error)
	SharedCount(ctx context.Context) (int, error)
	PendingCount(ctx context.Context) (int, error)
	NodeID() (string, error)
	SharedNodes() (int, error)
	SetSharedNodes(n int) error
}

// Options configure Start.
type Options struct {
	DSN            string
	Node           string // unique in the fleet
	AdvertiseAdmin string
	Version        string // for the registry; "" is this binary's
	Store          Local
	// Clock paces heartbeats, retries and the periodic catch-up; nil is
	// the wall clock.
	Clock  clock.Clock
	Logger *zap.Logger
	// Heartbeat is how often the node row is refreshed (0: 5 s); a name
	// unseen for 3 heartbeats may be taken by another data directory.
	Heartbeat time.Duration
	// Resync is the periodic catch-up in case a notification was lost
	// while the connection looked healthy (0: 30 s).
	Resync time.Duration
	// StartTimeout bounds reaching the database at start (0: 10 s).
	StartTimeout time.Duration
}

// Node is this node's membership of the fleet.
type Node struct {
	o      Options
	log    *zap.Logger
	pool   *pgxpool.Pool
	nodeID string
	cancel context.CancelFunc
	done   chan struct{}
	// beat asks for a heartbeat soon: the applied version moved, so the
	// lag others read is current.
	beat chan struct{}

	mu       sync.Mutex
	ready    bool  // schema checked and node registered
	lastErr  error // the database's last failure, nil while healthy
	degraded bool  // logged as unreachable, so recovery is logged once
	queued   int64 // the last pending count, taken at queuedAt
	queuedAt time.Time
	beatOK   time.Time // heartbeats have succeeded since; zero after a failure

	// Shared throttles (throttle.go).
	nodes       atomic.Int32 // live nodes at the last count; 0: never counted
	hooks       atomic.Pointer[Hooks]
	destMu      sync.Mutex
	destPending map[string]pendingDest
	destWake    chan struct{} // a change to push
	destResync  chan struct{} // read the changes in effect
}

// notifyChannel is the LISTEN/NOTIFY channel; the payload (a version) is a
// hint only.
const notifyChannel = "mtaq_suppressions"

// initialCopyTimeout bounds the catch-up at start (a joining node copies
// the whole list: about a million rows a minute).
const initialCopyTimeout = 10 * time.Minute

// Errors Start refuses with; a database that cannot be reached is not one
// of them when the node has a local copy to run on.
var (
	ErrDuplicateNode = errors.New("another data directory runs under this node name")
	ErrNeverSynced   = errors.New("the database is unreachable and this node has never copied the shared suppression list")
)

// Start connects, migrates the schema and registers the node, then runs the
// loops until Stop. A schema newer than this binary, a node name in use
// by a live node elsewhere, or a bad DSN refuse to start. An unreachable
// database only refuses a node that never synchronised; one that has runs on
// its local copy and keeps retrying.
func Start(o Options) (*Node, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Version == "" {
		o.Version = buildinfo.Read().Version
	}
	o.Heartbeat = cmpDur(o.Heartbeat, 5*time.Second)
	o.Resync = cmpDur(o.Resync, 30*time.Second)
	o.StartTimeout = cmpDur(o.StartTimeout, 10*time.Second)
	cfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("cluster.postgres: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.MaxConns = 4
	nodeID, err := o.Store.NodeID()
	if err != nil {
		return nil, err
	}
	if _, synced, err := o.Store.SharedVersion(context.Background()); err != nil {
		return nil, err
	} else if !synced {
		// Joining: what this node learnt alone goes to the fleet, before
		// the first copy could overwrite it.
		seeded, err := o.Store.SharedSeed(context.Background(), "seed-"+nodeID+"-")
		if err != nil {
			return nil, err
		}
		if seeded > 0 {
			o.Logger.Info("joining the fleet with a local suppression list: sharing it", zap.Int("entries", seeded))
		}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster.postgres: %w", err)
	}
	n := &Node{o: o, log: o.Logger.Named("cluster").With(zap.String("node", o.Node)), pool: pool, nodeID: nodeID,
		done: make(chan struct{}), beat: make(chan struct{}, 1),
		destPending: map[string]pendingDest{}, destWake: make(chan struct{}, 1), destResync: make(chan struct{}, 1)}
	// The count this node last saw: what it divides the limits by if the
	// database cannot be reached now.
	if c, err := o.Store.SharedNodes(); err != nil {
		pool.Close()
		return nil, err
	} else if c > 0 {
		n.nodes.Store(int32(c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.StartTimeout)
	err = n.prepare(ctx)
	cancel()
	if err == nil {
		// The copy before any mail is taken. The database answers, so a
		// long list gets the time it needs, within reason.
		ctx, cancel := context.WithTimeout(context.Background(), initialCopyTimeout)
		err = n.catchUp(ctx)
		cancel()
	}
	if err != nil {
		if !unreachable(err) {
			pool.Close()
			return nil, err
		}
		if _, synced, verr := o.Store.SharedVersion(context.Background()); verr != nil || !synced {
			pool.Close()
			return nil, fmt.Errorf("%w: %v", ErrNeverSynced, err)
		}
		n.setErr(err)
	}
	ctx, n.cancel = context.WithCancel(context.Background())
	go n.run(ctx)
	return n, nil
}

func cmpDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// unreachable reports whether err is the database being away (connection
// refused or lost, timeouts) rather than it refusing us.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Server-side: only "cannot connect now" (starting, shutting down).
		return pgErr.Code == "57P03" || pgErr.Code == "57P01"
	}
	if errors.Is(err, ErrSchemaNewer) || errors.Is(err, ErrDuplicateNode) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		errors.Is(err, net.ErrClosed) || isConnectError(err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// prepare migrates the schema and registers the node; the loops wait for it.
func (n *Node) prepare(ctx context.Context) error {
	from, to, err := migrate(ctx, n.pool)
	if err != nil {
		return err
	}
	if from != to {
		n.log.Info("database schema migrated", zap.Int("from", from), zap.Int("to", to))
	}
	if err := n.register(ctx); err != nil {
		return err
	}
	if err := n.countNodes(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	n.ready = true
	n.mu.Unlock()
	return nil
}

// register claims the node name for this data directory: refused while
// another data directory's row under the name is fresh.
func (n *Node) register(ctx context.Context) error {
	stale := 3 * n.o.Heartbeat
	return pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		// One registration at a time: two nodes starting under one new
		// name would otherwise both find no row.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockNodes); err != nil {
			return err
		}
		var other string
		var age time.Duration
		err := tx.QueryRow(ctx, `SELECT node_id, now() - last_seen FROM mtaq_nodes WHERE name = $1 FOR UPDATE`,
			n.o.Node).Scan(&other, &age)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case other != n.nodeID && age < stale:
			return fmt.Errorf("%w: node %q was seen %s ago; set cluster.node to a name of its own",
				ErrDuplicateNode, n.o.Node, age.Round(time.Millisecond))
		}
		_, err = tx.Exec(ctx, `INSERT INTO mtaq_nodes (name, node_id, version, admin, started, last_seen)
			VALUES ($1, $2, $3, $4, now(), now())
			ON CONFLICT (name) DO UPDATE SET node_id = $2, version = $3, admin = $4, started = now(), last_seen = now(),
				stopped = false`,
			n.o.Node, n.nodeID, n.o.Version, n.o.AdvertiseAdmin)
		if err != nil {
			return err
		}
		// The others recount now rather than at their next heartbeat, so
		// their shares shrink before this node delivers.
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", nodesChannel, n.o.Node)
		return err
	})
}

// heartbeat refreshes the node row; a row taken over by another data
// directory (this node was away longer than 3 heartbeats) is reported.
func (n *Node) heartbeat(ctx context.Context) error {
	queued, outbox, applied, err := n.localCounts(ctx, false)
	if err != nil {
		return err
	}
	tag, err := n.pool.Exec(ctx, `UPDATE mtaq_nodes SET last_seen = now(), version = $3, admin = $4,
		queued = $5, outbox = $6, applied_version = $7, stopped = false
		WHERE name = $1 AND node_id = $2`, n.o.Node, n.nodeID, n.o.Version, n.o.AdvertiseAdmin, queued, outbox, applied)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	return n.register(ctx)
}

// localCounts is what a heartbeat reports: pending recipients, outbox
// entries and the shared version applied. The pending count is a key-only
// scan of the due index (a million keys take a fraction of a second), so
// heartbeats reuse one up to queuedEvery old; fresh forces a new one.
func (n *Node) localCounts(ctx context.Context, fresh bool) (queued, outbox, applied int64, err error) {
	n.mu.Lock()
	q, at := n.queued, n.queuedAt
	n.mu.Unlock()
	if now := n.o.Clock.Now(); fresh || at.IsZero() || now.Sub(at) >= queuedEvery {
		c, err := n.o.Store.PendingCount(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		q = int64(c)
		n.mu.Lock()
		n.queued, n.queuedAt = q, now
		n.mu.Unlock()
	}
	o, err := n.o.Store.SharedCount(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	v, _, err := n.o.Store.SharedVersion(ctx)
	return q, int64(o), int64(v), err
}

// queuedEvery bounds how often heartbeats count the pending recipients.
const queuedEvery = 30 * time.Second

// setErr records the database's state and logs only its changes.
func (n *Node) setErr(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lastErr = err
	switch {
	case err != nil && !n.degraded:
		n.degraded = true
		n.log.Warn("database unreachable: running on the local suppression copy, changes wait in the outbox",
			zap.Error(err))
	case err == nil && n.degraded:
		n.degraded = false
		n.log.Info("database reachable again")
	}
}

// Healthy reports whether the last database operation succeeded.
func (n *Node) Healthy() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

func (n *Node) isReady() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready
}

func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	// Until the schema is known good nothing is read or written.
	for failures := 1; !n.isReady(); failures++ {
		err := n.prepare(ctx)
		if err == nil {
			n.setErr(nil)
			break
		}
		if ctx.Err() != nil {
			return
		}
		wait := backoff(failures)
		if !unreachable(err) {
			n.log.Error("cannot join the fleet; running on the local copy", zap.Error(err))
			wait = n.o.Resync
		}
		n.setErr(err)
		if !n.sleep(ctx, wait) {
			return
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); n.pushLoop(ctx) }()
	go func() { defer wg.Done(); n.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); n.destLoop(ctx) }()
	n.listenLoop(ctx)
	wg.Wait()
}

// sleep waits d on the node's clock; false when ctx ended first.
func (n *Node) sleep(ctx context.Context, d time.Duration) bool {
	return clock.Sleep(ctx, n.o.Clock, d)
}

func (n *Node) heartbeatLoop(ctx context.Context) {
	var pruned time.Time
	for {
		if now := n.o.Clock.Now(); now.Sub(pruned) >= pruneEvery {
			if err := n.prune(ctx); err == nil {
				pruned = now
			}
		}
		err := n.heartbeat(ctx)
		n.beatResult(err)
		if err == nil {
			err = n.countNodes(ctx)
		}
		if err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrDuplicateNode) {
				n.log.Error("node name taken over by another data directory", zap.Error(err))
			}
			n.setErr(err)
		}
		t := n.o.Clock.NewTimer(n.o.Heartbeat)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-n.beat:
			// At most one early beat per minBeat, however busy the list.
			t.Stop()
			if !n.sleep(ctx, minBeat) {
				return
			}
		}
	}
}

// Change IDs are kept keepChanges, long past any repeated push (one only
// happens at the start after a crash); every node prunes every pruneEvery.
const (
	keepChanges = 30 * 24 * time.Hour
	pruneEvery  = time.Hour
)

func (n *Node) prune(ctx context.Context) error {
	if err := n.pruneDestinations(ctx); err != nil {
		return err
	}
	tag, err := n.pool.Exec(ctx, "DELETE FROM mtaq_suppression_changes WHERE applied < now() - make_interval(secs => $1)",
		keepChanges.Seconds())
	if err == nil && tag.RowsAffected() > 0 {
		n.log.Debug("pruned old change IDs", zap.Int64("rows", tag.RowsAffected()))
	}
	return err
}

// minBeat spaces heartbeats asked for early.
const minBeat = 200 * time.Millisecond

// beatSoon asks for an early heartbeat.
func (n *Node) beatSoon() {
	select {
	case n.beat <- struct{}{}:
	default:
	}
}

// backoff is the retry wait after the failures-th failure in a row:
// 100 ms doubling to 5 s, so a database that comes back is used soon.
func backoff(failures int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < failures && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// Stop ends the loops and closes the connections. Whatever is still in
// the outbox stays there for the next start.
func (n *Node) Stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
	n.leave()
	n.pool.Close()
}
