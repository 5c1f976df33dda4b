package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

func statsCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Recipients by state and destination, delivery and hard-bounce rates over the last 24h",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			st, err := api.Stats(cmd.Context())
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			return printStats(cmd.OutOrStdout(), st)
		},
	}
	return g.setup(g.jsonFlag(cmd))
}

// stateOrder is the order states are listed in: pending first.
var stateOrder = []queue.State{queue.Queued, queue.Deferred, queue.Held, queue.Delivered, queue.Bounced,
	queue.Failed, queue.Expired, queue.Rejected, queue.Deleted}

// destStates are the columns of the destination table: open states.
var destStates = []queue.State{queue.Queued, queue.Deferred, queue.Held}

func printStats(w io.Writer, st *admin.Stats) error {
	fmt.Fprintln(w, "Recipients by state (queue and retained history)")
	for _, s := range stateOrder {
		fmt.Fprintf(w, "  %-10s %8d\n", s, st.States[string(s)])
	}
	fmt.Fprintln(w, "\nDestinations with open recipients")
	if len(st.Destinations) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  DOMAIN\tQUEUED\tDEFERRED\tHELD\tLAST CODE")
		for _, d := range st.Destinations {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", d.Domain, d.States[string(destStates[0])],
				d.States[string(destStates[1])], d.States[string(destStates[2])], lastCode(d.LastCode))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nLast %s: %d finished\n", strings.TrimSuffix(st.Window, "0m0s"), st.Finished)
	fmt.Fprintf(w, "  delivered     %6d  %5.1f%%\n", st.Delivered, 100*st.DeliveryRate)
	fmt.Fprintf(w, "  hard-bounced  %6d  %5.1f%%  %s\n", st.HardBounced, 100*st.HardBounceRate, levelMark(st.Level))
	fmt.Fprintf(w, "\nSuppressed addresses: %d\n", st.Suppressions)
	return nil
}

func lastCode(c int) string {
	if c == 0 {
		return "-"
	}
	return fmt.Sprint(c)
}

// levelMark labels the hard-bounce rate against the thresholds.
func levelMark(level string) string {
	switch level {
	case admin.LevelCritical:
		return fmt.Sprintf("CRITICAL (≥ %g%%)", 100*admin.CriticalRate)
	case admin.LevelWarning:
		return fmt.Sprintf("WARNING (≥ %g%%)", 100*admin.WarningRate)
	}
	return fmt.Sprintf("ok (warning at %g%%, critical at %g%%)", 100*admin.WarningRate, 100*admin.CriticalRate)
}
