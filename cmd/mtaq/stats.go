package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

func statsCmd() *cobra.Command {
	g := &group{}
	var reset string
	var overview bool
	cmd := &cobra.Command{
		Use:   "stats [--reset DOMAIN | --overview]",
		Short: "Recipients by state and destination, rates over the last 24h, destination limits",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			if reset != "" {
				if err := api.ResetDestination(cmd.Context(), reset); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: limits restored, circuit breaker closed\n", reset)
				return nil
			}
			if overview {
				ov, err := api.Overview(cmd.Context())
				if err != nil {
					return cliError(err)
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), ov)
				}
				return printOverview(cmd.OutOrStdout(), ov)
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
	cmd.Flags().StringVar(&reset, "reset", "", "forget DOMAIN's throttling and close its circuit breaker")
	cmd.Flags().BoolVar(&overview, "overview", false, "outcomes per day for 7 days and rates per destination domain, from the queue's stored counters (the console's Overview; no scan)")
	return g.setup(g.jsonFlag(cmd))
}

// printOverview prints the days and the destinations, worst first.
func printOverview(w io.Writer, ov *admin.Overview) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY (UTC)\tDELIVERED\tDEFERRED\tBOUNCED\tCOMPLAINED")
	for _, d := range ov.Days {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", d.Start.Format("2006-01-02 Mon"), d.Delivered, d.Deferred, d.Bounced, d.Complained)
	}
	fmt.Fprintln(tw, "\nDESTINATION (7 DAYS)\tDELIVERED\tBOUNCED\tBOUNCE RATE\tCOMPLAINED\tCOMPLAINT RATE")
	for _, d := range ov.Domains {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%% %s\t%d\t%.2f%% %s\n", d.Domain, d.Delivered, d.Bounced, 100*d.BounceRate, d.BounceLevel,
			d.Complained, 100*d.ComplaintRate, d.ComplaintLevel)
	}
	return tw.Flush()
}

func printStats(w io.Writer, st *admin.Stats) error {
	fmt.Fprintln(w, "Recipients by state (queue and retained history)")
	for _, s := range queue.States() {
		fmt.Fprintf(w, "  %-10s %8d\n", s, st.States[string(s)])
	}
	fmt.Fprintln(w, "\nDestinations with open recipients")
	if len(st.Destinations) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		// One column per open state.
		open := queue.OpenStates()
		fmt.Fprint(tw, "  DOMAIN")
		for _, s := range open {
			fmt.Fprintf(tw, "\t%s", strings.ToUpper(string(s)))
		}
		fmt.Fprintln(tw, "\tLAST CODE")
		for _, d := range st.Destinations {
			fmt.Fprintf(tw, "  %s", d.Domain)
			for _, s := range open {
				fmt.Fprintf(tw, "\t%d", d.States[string(s)])
			}
			fmt.Fprintf(tw, "\t%s\n", lastCode(d.LastCode))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nLast %s: %d finished\n", strings.TrimSuffix(st.Window, "0m0s"), st.Finished)
	fmt.Fprintf(w, "  delivered     %6d  %5.1f%%\n", st.Delivered, 100*st.DeliveryRate)
	fmt.Fprintf(w, "  hard-bounced  %6d  %5.1f%%  %s\n", st.HardBounced, 100*st.HardBounceRate, levelMark(st.Level))
	fmt.Fprintf(w, "\nSuppressed addresses: %d\n", st.Suppressions)
	if err := printLimits(w, st); err != nil {
		return err
	}
	if err := printSenderSide(w, st); err != nil {
		return err
	}
	if err := printComplaints(w, st); err != nil {
		return err
	}
	if err := printSources(w, st); err != nil {
		return err
	}
	return printUnsigned(w, st)
}

// printSources shows, per pool and source address, what went out today
// against its warm-up cap (a cap is per destination domain: the busiest
// domain is the one that meets it first).
func printSources(w io.Writer, st *admin.Stats) error {
	if len(st.Sources) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nSource addresses today (UTC; warm-up caps are per destination domain)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  POOL\tSOURCE IP\tEHLO\tWARM-UP DAY\tCAP\tSENT\tBUSIEST DOMAIN")
	for _, s := range st.Sources {
		day, limit, busiest := "-", "none", "-"
		if s.WarmupDay >= 0 {
			day = fmt.Sprint(s.WarmupDay)
		}
		if s.Cap > 0 {
			limit = fmt.Sprint(s.Cap)
		}
		if len(s.Domains) > 0 {
			busiest = fmt.Sprintf("%s %d", s.Domains[0].Domain, s.Domains[0].Sent)
			if s.Cap > 0 {
				busiest += fmt.Sprintf("/%d", s.Cap)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Pool, s.SourceIP, orDash(s.EHLO), day, limit, s.Sent, busiest)
	}
	return tw.Flush()
}

// printComplaints shows each sending domain's complaint rate against
// Gmail's marks.
func printComplaints(w io.Writer, st *admin.Stats) error {
	if len(st.Complaints) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nComplaint rate per sending domain (Gmail: keep below %g%%, never reach %g%%)\n",
		100*admin.ComplaintWarningRate, 100*admin.ComplaintCriticalRate)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DOMAIN\t24H COMPLAINTS\t24H DELIVERED\t24H RATE\t7D COMPLAINTS\t7D DELIVERED\t7D RATE\tLEVEL")
	for _, c := range st.Complaints {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.3f%%\t%d\t%d\t%.3f%%\t%s\n", orDash(c.Domain), c.Complaints24h, c.Delivered24h,
			100*c.Rate24h, c.Complaints7d, c.Delivered7d, 100*c.Rate7d, complaintMark(c.Level))
	}
	return tw.Flush()
}

func complaintMark(level string) string {
	return mark(level, admin.ComplaintWarningRate, admin.ComplaintCriticalRate, "ok")
}

// printUnsigned flags mail sent without a DKIM signature: its From
// domains need a [[dkim]] key (README: Sending domain setup).
func printUnsigned(w io.Writer, st *admin.Stats) error {
	if len(st.Unsigned) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nWARNING: sent without DKIM since start (add a [[dkim]] key: mtaq dkim keygen; or dkim_require = true)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FROM DOMAIN\tMESSAGES")
	for _, u := range st.Unsigned {
		fmt.Fprintf(tw, "  %s\t%d\n", orDash(u.Domain), u.Messages)
	}
	return tw.Flush()
}

// printLimits shows destinations whose adaptive state is not the
// configured one: throttled (fewer connections, a pause) or parked.
func printLimits(w io.Writer, st *admin.Stats) error {
	fmt.Fprintln(w, "\nDestination limits (reset with: mtaq stats --reset DOMAIN)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DOMAIN\tSTATE\tLIMIT\tACTIVE\tWAITING\tUNTIL\tLAST REPLY")
	shown := 0
	for _, d := range st.Limits {
		if d.State == "ok" && d.Active == 0 && d.Waiting == 0 {
			continue
		}
		until := d.PausedUntil
		if !d.ParkedUntil.IsZero() {
			until = d.ParkedUntil
		}
		name := d.Domain
		if d.SourceIP != "" {
			name += " from " + d.SourceIP
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d\t%d\t%d\t%s\t%s\n", name, d.State, d.Limit, d.MaxLimit,
			d.Active, d.Waiting, whenText(until), clip(orDash(d.LastReply), 60))
		shown++
	}
	if shown == 0 {
		fmt.Fprintln(tw, "  all destinations at their configured limits")
	}
	return tw.Flush()
}

// printSenderSide shows destinations that refused us for sender-side
// reasons: our side (SPF/DKIM/DMARC, IP reputation) needs fixing.
func printSenderSide(w io.Writer, st *admin.Stats) error {
	if len(st.SenderSide) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nSender-side rejections since start (fix our side; recipients are not suppressed)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DOMAIN\tTOTAL\tLAST WINDOW\tLAST REPLY")
	for _, d := range st.SenderSide {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", d.Domain, d.Total, d.InWindow, clip(orDash(d.LastReply), 60))
	}
	return tw.Flush()
}

func whenText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func lastCode(c int) string {
	if c == 0 {
		return "-"
	}
	return fmt.Sprint(c)
}

// levelMark labels the hard-bounce rate against the thresholds.
func levelMark(level string) string {
	return mark(level, admin.WarningRate, admin.CriticalRate,
		fmt.Sprintf("ok (warning at %g%%, critical at %g%%)", 100*admin.WarningRate, 100*admin.CriticalRate))
}

// mark words a rate's level against its warning and critical marks.
func mark(level string, warn, crit float64, ok string) string {
	switch level {
	case admin.LevelCritical:
		return fmt.Sprintf("CRITICAL (≥ %g%%)", 100*crit)
	case admin.LevelWarning:
		return fmt.Sprintf("WARNING (≥ %g%%)", 100*warn)
	}
	return ok
}
