package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterAbsentIsSingleNode(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster != nil {
		t.Fatalf("cluster %+v without a [cluster] table", c.Cluster)
	}
}

func TestClusterKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("mtaq.toml", []byte(`hostname = "mta.example.com"
[cluster]
postgres = "postgres://mtaq@db.example.com/mtaq"
advertise_admin = "10.0.0.5:8025"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster == nil || c.Cluster.Postgres != "postgres://mtaq@db.example.com/mtaq" || c.Cluster.AdvertiseAdmin != "10.0.0.5:8025" {
		t.Fatalf("got %+v", c.Cluster)
	}
	if n := c.Cluster.NodeName(c.Hostname); n != "mta.example.com" {
		t.Fatalf("node %q, want the hostname", n)
	}
	if dsn, err := c.Cluster.DSN(); err != nil || dsn != c.Cluster.Postgres {
		t.Fatalf("dsn %q, %v", dsn, err)
	}
}

func TestClusterErrorsNameFileLineKey(t *testing.T) {
	t.Parallel()
	// Line 1 is the hostname; a missing key is reported at its table.
	for _, tc := range []struct{ doc, want string }{
		{"[cluster]\nnode = \"a\"\n", "mtaq.toml:2: cluster.postgres: [cluster] needs postgres or postgres_file"},
		{"[cluster]\npostgres = \"host=db\"\npostgres_file = \"/x\"\n", "mtaq.toml:4: cluster.postgres_file: set cluster.postgres or cluster.postgres_file, not both"},
		{"[cluster]\npostgres = \"db.example.com\"\n", "mtaq.toml:3: cluster.postgres: not a postgres:// URL"},
		{"[cluster]\npostgres = \"host=db\"\nnode = \"a b\"\n", `mtaq.toml:4: cluster.node: "a b": use letters`},
		{"[cluster]\npostgres = \"host=db\"\nadvertise_admin = \"nope\"\n", "mtaq.toml:4: cluster.advertise_admin:"},
		{"[cluster]\npostgres = \"host=db\"\nnodes = \"a\"\n", "mtaq.toml:4: cluster.nodes"},
		{"[cluster]\npostgres = \"host=db\"\nheartbeat = \"10ms\"\n", "mtaq.toml:4: cluster.heartbeat: must be between 200ms and 1m"},
	} {
		_, err := Parse("mtaq.toml", []byte("hostname = \"mta.example.com\"\n"+tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestClusterPostgresFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "dsn")
	if err := os.WriteFile(p, []byte("postgres://mtaq:secret@db/mtaq\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{PostgresFile: p}
	if dsn, err := c.DSN(); err != nil || dsn != "postgres://mtaq:secret@db/mtaq" {
		t.Fatalf("dsn %q, %v", dsn, err)
	}
	cfg := Defaults()
	cfg.Hostname = "mta.example.com"
	cfg.Cluster = &Cluster{PostgresFile: filepath.Join(dir, "missing")}
	if err := CheckFiles("mtaq.toml", cfg); err == nil || !strings.Contains(err.Error(), "cluster.postgres_file: cannot read") {
		t.Fatalf("CheckFiles: %v", err)
	}
}
