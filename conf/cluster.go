package conf

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Cluster configures fleet mode: several mtaq nodes sharing the suppression
// list through PostgreSQL (docs/CLUSTER.md). A nil *Cluster (no [cluster]
// table) is the single-node mode, which needs no database.
type Cluster struct {
	// Postgres is a libpq connection string or URL
	// ("postgres://mtaq@db.example.com/mtaq"); PostgresFile names a file
	// holding one, so a password can stay out of the config. One of them.
	Postgres     string `toml:"postgres"`
	PostgresFile string `toml:"postgres_file"`
	// Node names this node in the fleet; "" means the hostname. Two nodes
	// with one name are refused at start.
	Node string `toml:"node"`
	// AdvertiseAdmin is this node's admin TCP address ("10.0.0.5:8025")
	// that fleet commands reach it at; "" means none.
	AdvertiseAdmin string `toml:"advertise_admin"`
	// Heartbeat is how often the node refreshes its row (0: 5s). A node
	// unseen for three heartbeats (the lease) no longer counts toward the
	// split of per-domain limits, and its name may be taken.
	Heartbeat Duration `toml:"heartbeat"`
}

// nodeName is what a node may be called: a DNS-like label set, so it is
// safe in logs, SQL values and CLI output alike.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validateCluster(k *checker, c *Cluster) {
	if c == nil {
		return
	}
	switch {
	case c.Postgres != "" && c.PostgresFile != "":
		k.add("cluster.postgres_file", "set cluster.postgres or cluster.postgres_file, not both")
	case c.Postgres == "" && c.PostgresFile == "":
		k.add("cluster.postgres", "[cluster] needs postgres or postgres_file (the database the fleet shares)")
	case c.Postgres != "" && !validDSN(c.Postgres):
		k.add("cluster.postgres", "not a postgres:// URL or key=value connection string")
	}
	if c.Node != "" && !nodeName.MatchString(c.Node) {
		k.add("cluster.node", "%q: use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)", c.Node)
	}
	if h := c.Heartbeat.Duration; h != 0 && (h < 200*time.Millisecond || h > time.Minute) {
		k.add("cluster.heartbeat", "must be between 200ms and 1m (0: 5s), got %v", h)
	}
	if c.AdvertiseAdmin != "" {
		if err := checkListen(c.AdvertiseAdmin); err != nil {
			k.add("cluster.advertise_admin", "%v", err)
		}
	}
}

// validDSN is a shape check only; the driver parses it for real at start.
func validDSN(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "=")
}

// DSN returns the connection string: cluster.postgres, or the trimmed
// content of cluster.postgres_file (read when the daemon starts, like
// admin.token_file).
func (c *Cluster) DSN() (string, error) {
	if c.PostgresFile == "" {
		return c.Postgres, nil
	}
	b, err := os.ReadFile(c.PostgresFile)
	if err != nil {
		return "", fmt.Errorf("cluster.postgres_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if !validDSN(s) {
		return "", fmt.Errorf("cluster.postgres_file %s: not a postgres:// URL or key=value connection string", c.PostgresFile)
	}
	return s, nil
}

// NodeName is cluster.node, or hostname when it is empty.
func (c *Cluster) NodeName(hostname string) string {
	if c.Node != "" {
		return c.Node
	}
	return hostname
}
