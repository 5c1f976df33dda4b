package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Shared throttles (docs/CLUSTER.md). The configured per-domain limits are
// the fleet's; each node takes limit / Nodes(), Nodes() being the nodes
// whose heartbeat is younger than the lease (three heartbeats), counted by
// every node after its own heartbeat and whenever a node registers. With the
// database away the last count stays. Nothing here is per message: a count
// per heartbeat, a row and a NOTIFY per destination state change.

// Notification channels besides the suppressions'.
const (
	destChannel  = "mtaq_destinations"
	nodesChannel = "mtaq_nodes"
)

// DestinationEvent is one destination's change as the fleet shares it
// (the scheduler's DestEvent; the daemon translates).
type DestinationEvent struct {
	Domain string        `json:"d"`
	Kind   string        `json:"k"` // throttled, parked, ok
	Wait   time.Duration `json:"w"` // the pause or park wait it started with
	Left   time.Duration `json:"l"` // what is left of it when sent
	Reply  string        `json:"r,omitempty"`
	Node   string        `json:"n"`
}

// maxReply bounds the reply text carried (a NOTIFY payload is < 8000 bytes).
const maxReply = 300

// Hooks is what the node tells the rest of the daemon about the fleet.
type Hooks struct {
	// Destination applies another node's destination change.
	Destination func(DestinationEvent)
	// Nodes hears the live node count when it changes.
	Nodes func(int)
}

// pendingDest is a change waiting to be pushed, with when it happened.
type pendingDest struct {
	e  DestinationEvent
	at time.Time
}

// SetHooks installs h and reads the destination changes still in effect,
// so a node that starts while a destination is parked parks it too.
func (n *Node) SetHooks(h Hooks) {
	n.hooks.Store(&h)
	if c := n.nodes.Load(); c > 0 && h.Nodes != nil {
		h.Nodes(int(c))
	}
	n.destSignal(n.destResync)
}

// Nodes is the number of nodes sharing the destination limits: the live
// ones at the last count, which stays while the database is away. A node
// that never counted, even before a restart, assumes 1.
func (n *Node) Nodes() int {
	return max(1, int(n.nodes.Load()))
}

// Lease is how long a node counts as alive after its last heartbeat.
func (n *Node) Lease() time.Duration { return 3 * n.o.Heartbeat }

// PublishDestination queues this node's destination change for the fleet;
// it never blocks. A newer change to a domain replaces one not yet sent.
func (n *Node) PublishDestination(e DestinationEvent) {
	e.Node = n.o.Node
	if len(e.Reply) > maxReply {
		e.Reply = e.Reply[:maxReply]
	}
	n.destMu.Lock()
	n.destPending[e.Domain] = pendingDest{e: e, at: n.o.Clock.Now()}
	n.destMu.Unlock()
	n.destSignal(n.destWake)
}

func (n *Node) destSignal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// countNodes reads how many nodes are alive and keeps the count: the
// nodes heartbeating within the lease, not stopped. Back from an outage the
// others' rows are as stale as this node's was, so until this node has
// heartbeated for a whole lease a node that did not stop and was seen
// within the hour still counts (the count may grow, not shrink on
// staleness alone).
func (n *Node) countNodes(ctx context.Context) error {
	var live, recent int32
	err := n.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE last_seen > now() - make_interval(secs => $1)),
		count(*) FILTER (WHERE last_seen > now() - interval '1 hour')
		FROM mtaq_nodes WHERE NOT stopped`, n.Lease().Seconds()).Scan(&live, &recent)
	if err != nil {
		return err
	}
	old := n.nodes.Load()
	c := live
	if !n.steady() {
		c = max(live, min(old, recent))
	}
	c = max(c, 1) // this node, even if its row was just taken over
	if n.nodes.Swap(c); old != c {
		n.log.Info("fleet size", zap.Int32("nodes", c), zap.Int32("was", old))
		if err := n.o.Store.SetSharedNodes(int(c)); err != nil {
			n.log.Warn("recording the fleet size", zap.Error(err))
		}
		if h := n.hooks.Load(); h != nil && h.Nodes != nil {
			h.Nodes(int(c))
		}
	}
	return nil
}

// leave marks the node stopped, after its deliveries ended, so the others
// take its share now rather than after the lease; with the database away
// the lease does it.
func (n *Node) leave() {
	if !n.isReady() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE mtaq_nodes SET stopped = true WHERE name = $1 AND node_id = $2",
			n.o.Node, n.nodeID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", nodesChannel, n.o.Node)
		return err
	})
	if err != nil {
		n.log.Debug("could not mark the node stopped; its share returns after the lease", zap.Error(err))
	}
}

// steady reports whether this node's heartbeats have succeeded for a
// whole lease: only then may a lower count be believed.
func (n *Node) steady() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.beatOK.IsZero() && n.o.Clock.Now().Sub(n.beatOK) >= n.Lease()
}

// beatResult records whether the last heartbeat went through.
func (n *Node) beatResult(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err != nil:
		n.beatOK = time.Time{}
	case n.beatOK.IsZero():
		n.beatOK = n.o.Clock.Now()
	}
}

// destLoop pushes destination changes and applies the ones in effect after
// a (re)connect or the periodic resync.
func (n *Node) destLoop(ctx context.Context) {
	failures := 0
	resync := false
	for {
		err := n.pushDestinations(ctx)
		if err == nil && resync {
			if err = n.readDestinations(ctx); err == nil {
				resync = false
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := n.o.Resync
		if err != nil {
			failures++
			n.setErr(err)
			n.log.Debug("destination sync failed", zap.Error(err), zap.Int("failures", failures))
			wait = backoff(failures)
		} else {
			failures = 0
		}
		t := n.o.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.destWake:
		case <-n.destResync:
			resync = true
		case <-t.C():
			resync = resync || err == nil
		}
		t.Stop()
	}
}

// pushDestinations writes the pending changes and notifies, one
// transaction; a change whose wait ran out while the database was away is
// dropped. On failure the changes stay pending unless a newer one came.
func (n *Node) pushDestinations(ctx context.Context) error {
	n.destMu.Lock()
	pend := n.destPending
	n.destPending = map[string]pendingDest{}
	n.destMu.Unlock()
	if len(pend) == 0 {
		return nil
	}
	now := n.o.Clock.Now()
	err := pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		for _, p := range pend {
			e := p.e
			e.Left = e.Wait - now.Sub(p.at)
			if e.Kind != "ok" && e.Left <= 0 {
				continue
			}
			e.Left = max(e.Left, 0)
			payload, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO mtaq_destinations (domain, kind, wait_ms, until, reply, node, updated)
				VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6, now())
				ON CONFLICT (domain) DO UPDATE SET kind = $2, wait_ms = $3, until = now() + make_interval(secs => $4),
				reply = $5, node = $6, updated = now()`,
				e.Domain, e.Kind, e.Wait.Milliseconds(), e.Left.Seconds(), e.Reply, e.Node); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", destChannel, string(payload)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.destMu.Lock()
		for d, p := range pend {
			if _, newer := n.destPending[d]; !newer {
				n.destPending[d] = p
			}
		}
		n.destMu.Unlock()
		return err
	}
	n.log.Debug("shared destination changes", zap.Int("changes", len(pend)))
	return nil
}

// readDestinations applies the other nodes' changes still in effect: what
// a notification may have carried while this node was not listening.
func (n *Node) readDestinations(ctx context.Context) error {
	h := n.hooks.Load()
	if h == nil || h.Destination == nil {
		return nil
	}
	rs, err := n.pool.Query(ctx, `SELECT domain, kind, wait_ms, extract(epoch FROM until - now()) * 1000, reply, node
		FROM mtaq_destinations WHERE until > now() AND node <> $1 AND kind <> 'ok'`, n.o.Node)
	if err != nil {
		return err
	}
	var evs []DestinationEvent
	for rs.Next() {
		var e DestinationEvent
		var wait int64
		var left float64
		if err := rs.Scan(&e.Domain, &e.Kind, &wait, &left, &e.Reply, &e.Node); err != nil {
			rs.Close()
			return err
		}
		e.Wait, e.Left = time.Duration(wait)*time.Millisecond, time.Duration(left*float64(time.Millisecond))
		evs = append(evs, e)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for _, e := range evs {
		h.Destination(e)
	}
	return nil
}

// onDestination applies one notified change from another node.
func (n *Node) onDestination(payload string) {
	var e DestinationEvent
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		n.log.Warn("unreadable destination notification", zap.String("payload", payload), zap.Error(err))
		return
	}
	if e.Node == n.o.Node {
		return
	}
	if h := n.hooks.Load(); h != nil && h.Destination != nil {
		h.Destination(e)
	}
}

// pruneDestinations forgets changes whose wait ended a day ago.
func (n *Node) pruneDestinations(ctx context.Context) error {
	_, err := n.pool.Exec(ctx, "DELETE FROM mtaq_destinations WHERE until < now() - interval '1 day'")
	return err
}
