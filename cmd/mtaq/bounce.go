package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

// exitTempFail (EX_TEMPFAIL) tells a pipe transport (Postfix's pipe(8),
// Exim's pipe) to try again: the daemon is down or could not record the
// report. exitDataErr tells it that retrying will not help.
const exitTempFail = 75

// maxReceiveBytes bounds what bounce receive reads from stdin; the daemon
// applies [bounce] max_message_bytes below it.
const maxReceiveBytes = 64 << 20

func bounceCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "bounce", Short: "Bounces and complaints: parse reports, hand them to the daemon, list kept ones"}
	cmd.AddCommand(bounceParseCmd(), bounceReceiveCmd(g), bounceLsCmd(g))
	return g.setup(cmd)
}

func bounceParseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "parse [FILE...]",
		Short: "Print what each report email says, one JSON object a line (stdin when no FILE); needs no daemon",
		RunE: func(cmd *cobra.Command, files []string) error {
			if code := bounceParse(files, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				return &exitError{code, errors.New("some input could not be parsed (see above)")}
			}
			return nil
		},
	}
}

func bounceReceiveCmd(g *group) *cobra.Command {
	var rcpts []string
	cmd := &cobra.Command{
		Use:   "receive",
		Short: "Apply one bounce or complaint email read on stdin (for an existing inbound MX's pipe); exit 75 means try again",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(g.config)
			if err != nil {
				return &exitError{exitConfig, err}
			}
			return receiveReport(cmd.Context(), admin.NewClient(c.AdminSocketPath()), cmd.InOrStdin(), rcpts, g.json,
				cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringArrayVar(&rcpts, "recipient", nil, "the envelope recipient (the return-path token), e.g. Postfix pipe's ${recipient}; repeatable")
	return g.jsonFlag(cmd)
}

func receiveReport(ctx context.Context, api admin.API, in io.Reader, rcpts []string, asJSON bool, w io.Writer) error {
	raw, err := io.ReadAll(io.LimitReader(in, maxReceiveBytes+1))
	if err != nil {
		return &exitError{exitTempFail, fmt.Errorf("reading the report from stdin: %w", err)}
	}
	if len(raw) > maxReceiveBytes {
		return &exitError{exitDataErr, fmt.Errorf("report over %d bytes", maxReceiveBytes)}
	}
	res, err := api.ReceiveReport(ctx, raw, rcpts)
	switch {
	case errors.Is(err, admin.ErrInvalid):
		return &exitError{exitDataErr, err}
	case err != nil:
		return &exitError{exitTempFail, err}
	}
	if asJSON {
		return printJSON(w, res)
	}
	if len(res.Applied) == 0 {
		_, err = fmt.Fprintf(w, "%s: nothing to apply\n", res.Kind)
		return err
	}
	for _, a := range res.Applied {
		what := "matched " + a.QueueID
		if !a.Matched {
			what = "unmatched: " + a.Reason
		}
		if a.Suppressed {
			what += ", suppressed"
		}
		if _, err := fmt.Fprintf(w, "%s %s %s: %s\n", res.Kind, a.Kind, orDash(a.Rcpt), what); err != nil {
			return err
		}
	}
	return nil
}

func bounceLsCmd(g *group) *cobra.Command {
	var f admin.ReportFilter
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List kept reports, newest first (--unmatched: only those that matched no message)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			return cliError(listReports(cmd.Context(), api, f, g.json, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().BoolVar(&f.Unmatched, "unmatched", false, "only reports that matched no message")
	cmd.Flags().StringVar(&f.QueueID, "queue-id", "", "only reports about this message")
	cmd.Flags().StringVar(&f.Kind, "kind", "", "only bounce, delay or complaint")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many")
	return g.jsonFlag(cmd)
}

func listReports(ctx context.Context, api admin.API, f admin.ReportFilter, asJSON bool, w io.Writer) error {
	page, err := api.ListReports(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, page.Reports)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tRECIPIENT\tQUEUE ID\tMATCHED\tSUPPRESSED\tCLIENT\tDETAIL")
	for _, r := range page.Reports {
		detail := r.Reason
		if detail == "" && r.Reply != nil {
			detail = fmt.Sprintf("%d %s %s", r.Reply.Code, r.Reply.Enhanced, r.Reply.Text)
		}
		if detail == "" && r.FeedbackType != "" {
			detail = "Feedback-Type: " + r.FeedbackType
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%s\t%s\n", stamp(r.At), r.Kind, orDash(r.Rcpt), orDash(r.QueueID),
			r.Matched, r.Suppressed, orDash(r.Client), oneLine(detail, 100))
	}
	return tw.Flush()
}

// oneLine cuts s to n bytes on one line, for tables.
func oneLine(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' || c == '\t' {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
