package daemon

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/cluster"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// fleet is this node's part in fleet mode ([cluster]); a nil *fleet is the
// single-node mode and every method is a no-op on it.
type fleet struct {
	node *cluster.Node
	name string
}

// startCluster joins the fleet when [cluster] is configured.
func startCluster(c conf.Config, o Options, store *queue.PebbleStore) (*fleet, error) {
	if c.Cluster == nil {
		return nil, nil
	}
	dsn, err := c.Cluster.DSN()
	if err != nil {
		return nil, err
	}
	name := c.Cluster.NodeName(c.Hostname)
	n, err := cluster.Start(cluster.Options{DSN: dsn, Node: name, AdvertiseAdmin: c.Cluster.AdvertiseAdmin,
		Store: store, Clock: o.Clock, Logger: o.Logger, Heartbeat: c.Cluster.Heartbeat.Duration})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	o.Logger.Info("joined the fleet", zap.String("node", name))
	return &fleet{node: n, name: name}, nil
}

// share is the scheduler's view of the fleet's destination limits; nil
// (not a typed nil) without [cluster].
func (f *fleet) share() scheduler.FleetShare {
	if f == nil {
		return nil
	}
	return fleetShare{f.node}
}

// connect lets the fleet's destination changes and node count reach sched.
func (f *fleet) connect(sched *scheduler.Scheduler) {
	if f == nil {
		return
	}
	f.node.SetHooks(cluster.Hooks{
		Destination: func(e cluster.DestinationEvent) {
			sched.ApplyRemote(context.Background(), scheduler.DestEvent{Domain: e.Domain, Kind: e.Kind,
				Wait: e.Wait, Left: e.Left, Reply: e.Reply, Node: e.Node})
		},
		Nodes: func(int) { sched.Wake() }, // a larger share may start jobs now
	})
}

// fleetShare adapts the cluster node to scheduler.FleetShare: the
// scheduler does not import the cluster, nor the cluster the scheduler.
type fleetShare struct{ n *cluster.Node }

func (s fleetShare) Nodes() int { return s.n.Nodes() }
func (s fleetShare) Publish(e scheduler.DestEvent) {
	s.n.PublishDestination(cluster.DestinationEvent{Domain: e.Domain, Kind: e.Kind, Wait: e.Wait, Reply: e.Reply})
}

// nodeName is cluster.node (or the hostname); "" without [cluster].
func (f *fleet) nodeName() string {
	if f == nil {
		return ""
	}
	return f.name
}

func (f *fleet) stop() {
	if f != nil {
		f.node.Stop()
	}
}

// statusFunc is the admin API's view of the fleet; nil without [cluster].
func (f *fleet) statusFunc() func(context.Context) (*admin.ClusterStatus, error) {
	if f == nil {
		return nil
	}
	return f.status
}

func (f *fleet) status(ctx context.Context) (*admin.ClusterStatus, error) {
	st, err := f.node.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := &admin.ClusterStatus{Node: st.Node, Database: "ok", Schema: st.Schema, SchemaKnown: st.Known,
		SharedVersion: st.SharedVersion, Nodes: []admin.ClusterNode{}}
	if st.Database != "" {
		out.Database = st.Database
	}
	self := false
	for _, n := range st.Nodes {
		cn := clusterNode(n)
		if n.Name == st.Node {
			// Its own counts now, not as of its last heartbeat.
			self = true
			cn.Self, cn.Queued, cn.Outbox, cn.Applied, cn.Lag = true, st.Local.Queued, st.Local.Outbox, st.Local.Applied, st.Local.Lag
		}
		out.Nodes = append(out.Nodes, cn)
	}
	if !self {
		cn := clusterNode(st.Local)
		cn.Self = true
		out.Nodes = append(out.Nodes, cn)
	}
	return out, nil
}

func clusterNode(n cluster.NodeStatus) admin.ClusterNode {
	return admin.ClusterNode{Name: n.Name, Version: n.Version, Admin: n.Admin, Started: n.Started, LastSeen: n.LastSeen,
		HeartbeatAge: n.Age.Seconds(), Alive: n.Alive, Queued: n.Queued, Outbox: n.Outbox, Applied: n.Applied, Lag: n.Lag}
}

// watch adds the fleet-mode gauges to reg.
func (f *fleet) watch(reg *metrics.Registry) {
	if f == nil {
		return
	}
	reg.WatchCluster(func() metrics.ClusterState {
		up, outbox, applied, err := f.node.Gauges(context.Background())
		if err != nil {
			return metrics.ClusterState{}
		}
		return metrics.ClusterState{DatabaseUp: up, Outbox: outbox, AppliedVersion: applied, Nodes: f.node.Nodes()}
	})
}
