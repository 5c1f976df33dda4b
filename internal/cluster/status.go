package cluster

import (
	"context"
	"fmt"
	"time"
)

// Status is the fleet as this node sees it (mtaq cluster status).
type Status struct {
	Node string // this node
	// Database is "" while the database answers, else its last error.
	Database string
	// Schema is the database's schema version (0 when unreachable) and
	// Known the newest this binary knows.
	Schema, Known int
	// SharedVersion is the newest suppression version in the database;
	// each node's Lag is how far its copy is behind it.
	SharedVersion int64
	// Local is this node's own view, read now rather than from its last
	// heartbeat: what it holds even when the database is away.
	Local NodeStatus
	Nodes []NodeStatus // every registered node, by name; empty when unreachable
}

// NodeStatus is one node's row: what it reported with its last heartbeat.
type NodeStatus struct {
	Name    string
	Version string
	Admin   string
	Started time.Time
	// LastSeen and Age: the last heartbeat, and how long ago by the
	// database's clock. Alive: within three heartbeats and not stopped.
	LastSeen time.Time
	Age      time.Duration
	Alive    bool
	Queued   int64 // pending recipients
	Outbox   int64 // suppression changes not yet pushed
	Applied  int64 // newest shared version in its copy
	Lag      int64 // SharedVersion - Applied, never negative
}

// Status reads the node registry. The database being away is not an
// error: Database says so and Local still reports this node.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	st := &Status{Node: n.o.Node, Known: SchemaVersion()}
	queued, outbox, applied, err := n.localCounts(ctx, true)
	if err != nil {
		return nil, err
	}
	st.Local = NodeStatus{Name: n.o.Node, Version: n.o.Version, Admin: n.o.AdvertiseAdmin, Alive: true,
		Queued: queued, Outbox: outbox, Applied: applied}
	if err := n.readFleet(ctx, st); err != nil {
		st.Database = err.Error()
		st.Nodes = nil
		return st, nil
	}
	if h := n.Healthy(); h != nil {
		st.Database = h.Error()
	}
	st.Local.Lag = max(0, st.SharedVersion-applied)
	return st, nil
}

func (n *Node) readFleet(ctx context.Context, st *Status) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mtaq_schema_migrations").Scan(&st.Schema); err != nil {
		return err
	}
	if err := n.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mtaq_suppressions").Scan(&st.SharedVersion); err != nil {
		return err
	}
	rows, err := n.pool.Query(ctx, `SELECT name, version, admin, started, last_seen, now() - last_seen, queued, outbox,
		applied_version, stopped FROM mtaq_nodes ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	stale := 3 * n.o.Heartbeat
	for rows.Next() {
		var ns NodeStatus
		var stopped bool
		if err := rows.Scan(&ns.Name, &ns.Version, &ns.Admin, &ns.Started, &ns.LastSeen, &ns.Age, &ns.Queued, &ns.Outbox,
			&ns.Applied, &stopped); err != nil {
			return fmt.Errorf("reading mtaq_nodes: %w", err)
		}
		ns.Started, ns.LastSeen = ns.Started.UTC(), ns.LastSeen.UTC()
		ns.Alive = ns.Age < stale && !stopped
		ns.Lag = max(0, st.SharedVersion-ns.Applied)
		st.Nodes = append(st.Nodes, ns)
	}
	return rows.Err()
}

// Gauges is what the metrics read at each scrape: the database's state as
// last seen, the outbox size and the applied version (key-only reads).
func (n *Node) Gauges(ctx context.Context) (up bool, outbox int, applied uint64, err error) {
	if outbox, err = n.o.Store.SharedCount(ctx); err != nil {
		return false, 0, 0, err
	}
	applied, _, err = n.o.Store.SharedVersion(ctx)
	return n.Healthy() == nil && n.isReady(), outbox, applied, err
}
