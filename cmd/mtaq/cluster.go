package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

func clusterCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "cluster", Short: "Fleet mode: the nodes sharing this node's database (through the running daemon)"}
	cmd.AddCommand(clusterStatusCmd(g))
	return g.setup(cmd)
}

func clusterStatusCmd(g *group) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Nodes, heartbeat age, version, queue size, outbox and suppression lag (--json for scripts)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			st, err := api.ClusterStatus(cmd.Context())
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			return printCluster(cmd.OutOrStdout(), st)
		},
	}
	return g.jsonFlag(cmd)
}

func printCluster(w io.Writer, st *admin.ClusterStatus) error {
	fmt.Fprintf(w, "Asked %s. Database: %s", st.Node, st.Database)
	if st.Schema > 0 {
		fmt.Fprintf(w, "; schema %d (this mtaq knows %d); shared suppression version %d", st.Schema, st.SchemaKnown, st.SharedVersion)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tHEARTBEAT\tVERSION\tADMIN\tQUEUED\tOUTBOX\tLAG")
	for _, n := range st.Nodes {
		name, state, beat := n.Name, "down", "-"
		if n.Self {
			name += " *"
		}
		if n.Alive {
			state = "up"
		}
		if !n.LastSeen.IsZero() {
			beat = (time.Duration(n.HeartbeatAge * float64(time.Second))).Round(100*time.Millisecond).String() + " ago"
		}
		admin := n.Admin
		if admin == "" {
			admin = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", name, state, beat, n.Version, admin, n.Queued, n.Outbox, n.Lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n* the node asked (its counts are current; the others' are from their last heartbeat).")
	fmt.Fprintln(w, "QUEUED: recipients to deliver; OUTBOX: suppression changes not yet in the database;")
	fmt.Fprintln(w, "LAG: shared suppression versions its copy is behind. Down: no heartbeat for 3 intervals.")
	return nil
}
