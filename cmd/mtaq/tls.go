package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/tlsrpt"
)

func tlsCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "tls", Short: "Outbound TLS: TLS reporting (RFC 8460) counts (through the running daemon)"}
	cmd.AddCommand(tlsReportCmd(g))
	return g.setup(cmd)
}

func tlsReportCmd(g *group) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report DOMAIN",
		Short: "Today's TLS sessions to DOMAIN so far, by policy and result type, as its TLS-RPT report will say (--json: the RFC 8460 report)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			rep, err := api.TLSReport(cmd.Context(), a[0])
			if err != nil {
				return cliError(err)
			}
			if g.json {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", rep.Report)
				return err
			}
			return printTLSReport(cmd.OutOrStdout(), rep)
		},
	}
	return g.jsonFlag(cmd)
}

func printTLSReport(w io.Writer, r *admin.TLSReport) error {
	var rep tlsrpt.Report
	if err := json.Unmarshal(r.Report, &rep); err != nil {
		return err
	}
	fmt.Fprintf(w, "TLS sessions to %s on %s (UTC) so far\n", r.Domain, rep.DateRange.Start.Format("2006-01-02"))
	if len(rep.Policies) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	for _, p := range rep.Policies {
		fmt.Fprintf(w, "\npolicy %s", p.Policy.Type)
		if len(p.Policy.MXHost) > 0 {
			fmt.Fprintf(w, " (mx %s)", strings.Join(p.Policy.MXHost, ", "))
		}
		fmt.Fprintf(w, ": %d successful, %d failed\n", p.Summary.Successful, p.Summary.Failed)
		for _, s := range p.Policy.String {
			fmt.Fprintf(w, "  | %s\n", s)
		}
		if len(p.FailureDetails) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  RESULT\tMX\tIP\tSESSIONS\tREASON")
		for _, f := range p.FailureDetails {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", f.ResultType, orDash(f.ReceivingMXHostname), orDash(f.ReceivingIP),
				f.FailedSessionCount, clip(orDash(f.FailureReasonCode), 80))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
