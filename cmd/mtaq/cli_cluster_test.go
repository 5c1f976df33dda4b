package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/pgtest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// Two nodes on one database: `mtaq suppress add` on one is seen by `mtaq
// suppress show` on the other, and `mtaq cluster status` lists both.
func TestCLICluster(t *testing.T) {
	dsn := pgtest.DSN(t, pgtest.Addr)
	table := func(node string) string {
		return fmt.Sprintf("[cluster]\npostgres = %q\nnode = %q\nadvertise_admin = \"10.0.0.9:8025\"\n", dsn, node)
	}
	n1 := newCLINetWith(t, table("cli1"))
	n2 := newCLINetWith(t, table("cli2"))

	n1.ok("suppress", "add", "Fleet@Example.com", "--reason", "complaint")
	waitfor.NoError(t, func() error {
		if _, errs, code := n2.run(nil, "suppress", "show", "fleet@example.com"); code != 0 {
			return fmt.Errorf("suppress show on cli2: exit %d %s", code, errs)
		}
		return nil
	})
	n2.ok("suppress", "rm", "fleet@example.com")
	waitfor.NoError(t, func() error {
		if _, _, code := n1.run(nil, "suppress", "show", "fleet@example.com"); code != 1 {
			return fmt.Errorf("suppress show on cli1 after rm on cli2: exit %d", code)
		}
		return nil
	})

	var st admin.ClusterStatus
	waitfor.NoError(t, func() error {
		if err := json.Unmarshal([]byte(n2.ok("cluster", "status", "--json")), &st); err != nil {
			return err
		}
		if len(st.Nodes) != 2 || st.Nodes[0].Lag != 0 || st.Nodes[1].Lag != 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if st.Node != "cli2" || st.Database != "ok" || st.Schema < 1 || st.Schema != st.SchemaKnown || st.SharedVersion < 2 ||
		st.Nodes[0].Name != "cli1" || st.Nodes[0].Self || !st.Nodes[1].Self || !st.Nodes[0].Alive ||
		st.Nodes[0].Admin != "10.0.0.9:8025" || st.Nodes[0].Version == "" {
		t.Fatalf("cluster status --json: %+v", st)
	}
	out := n1.ok("cluster", "status")
	t.Logf("mtaq cluster status:\n%s", out)
	for _, want := range []string{fmt.Sprintf("Asked cli1. Database: ok; schema %d (this mtaq knows %d)", st.SchemaKnown, st.SchemaKnown), "cli1 *  up", "cli2    up", "10.0.0.9:8025"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster status lacks %q:\n%s", want, out)
		}
	}
}

func TestCLIClusterStatusSingleNode(t *testing.T) {
	n := newCLINet(t)
	_, errs, code := n.run(nil, "cluster", "status")
	if code != 2 || !strings.Contains(errs, "not in fleet mode") {
		t.Fatalf("cluster status without [cluster]: exit %d %q", code, errs)
	}
}
