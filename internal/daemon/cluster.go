package daemon

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/cluster"
	"github.com/mtaq/mtaq/queue"
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
		Store: store, Clock: o.Clock, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	o.Logger.Info("joined the fleet", zap.String("node", name))
	return &fleet{node: n, name: name}, nil
}

func (f *fleet) stop() {
	if f != nil {
		f.node.Stop()
	}
}
