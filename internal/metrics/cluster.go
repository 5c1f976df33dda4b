package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterState is fleet mode's gauges ([cluster] only).
type ClusterState struct {
	DatabaseUp     bool   // the last database operation succeeded
	Outbox         int    // suppression changes not yet in the database
	AppliedVersion uint64 // newest shared suppression version in the local copy
	Nodes          int    // nodes sharing the per-domain limits (live, or last known)
}

var (
	clusterUpDesc = prometheus.NewDesc("mtaq_cluster_database_up",
		"1 while fleet mode's PostgreSQL answers; 0 while the node runs on its local copy.", nil, nil)
	clusterOutboxDesc = prometheus.NewDesc("mtaq_cluster_outbox",
		"Suppression changes made on this node that wait to reach PostgreSQL.", nil, nil)
	clusterVersionDesc = prometheus.NewDesc("mtaq_cluster_applied_version",
		"Newest shared suppression version in this node's copy (compare across nodes for lag).", nil, nil)
	clusterNodesDesc = prometheus.NewDesc("mtaq_cluster_nodes",
		"Nodes sharing the per-domain limits: each node takes limit / this (the live nodes, or the last count while the database is away).", nil, nil)
)

// WatchCluster adds the fleet-mode gauges, read from f at each scrape
// (keep it cheap). Call it at most once.
func (r *Registry) WatchCluster(f func() ClusterState) {
	r.reg.MustRegister(clusterCollector(f))
}

type clusterCollector func() ClusterState

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterUpDesc
	ch <- clusterOutboxDesc
	ch <- clusterVersionDesc
	ch <- clusterNodesDesc
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c()
	up := 0.0
	if st.DatabaseUp {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(clusterUpDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(clusterOutboxDesc, prometheus.GaugeValue, float64(st.Outbox))
	ch <- prometheus.MustNewConstMetric(clusterVersionDesc, prometheus.GaugeValue, float64(st.AppliedVersion))
	ch <- prometheus.MustNewConstMetric(clusterNodesDesc, prometheus.GaugeValue, float64(st.Nodes))
}
