package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

func webhooksCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "webhooks", Short: "Inspect, retry and test the [[webhook]] endpoints (through the running daemon)"}
	cmd.AddCommand(webhooksLsCmd(g), webhooksDeadCmd(g), webhooksRetryCmd(g), webhooksTestCmd(g))
	return g.setup(cmd)
}

func webhooksLsCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "ls",
		Short: "List webhooks: backlog, dead letters, disabled (410), last error",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			return cliError(listWebhooks(cmd.Context(), api, g.json, cmd.OutOrStdout()))
		},
	})
}

func listWebhooks(ctx context.Context, api admin.API, asJSON bool, w io.Writer) error {
	l, err := api.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, l.Webhooks)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tBACKLOG\tIN FLIGHT\tDEAD\tDELIVERED\tLAST ERROR\tURL")
	t := now()
	for _, e := range l.Webhooks {
		state := "ok"
		switch {
		case e.Disabled:
			state = "disabled"
		case e.NextRetry != nil && e.NextRetry.After(t):
			state = "backoff " + relative(*e.NextRetry, t)
		}
		last := "-"
		if e.LastErrorAt != nil {
			last = fmt.Sprintf("%s %s", stamp(*e.LastErrorAt), clip(e.LastError, 60))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", e.Name, state, e.Backlog, e.InFlight, e.DeadLetters,
			e.Delivered, last, e.URL)
	}
	return tw.Flush()
}

func webhooksDeadCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "dead NAME",
		Short: "List a webhook's dead letters: the events its endpoint refused (--json: an array of them)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			return cliError(listDeadLetters(cmd.Context(), api, argv[0], g.json, cmd.OutOrStdout()))
		},
	})
}

func listDeadLetters(ctx context.Context, api admin.API, name string, asJSON bool, w io.Writer) error {
	arr := &jsonArray{w: w}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tQUEUE ID\tRECIPIENT\tTRIES\tLAST TRY\tERROR")
	}
	var after uint64
	for {
		page, err := api.WebhookDeadLetters(ctx, name, after, 0)
		if err != nil {
			return err
		}
		for _, d := range page.DeadLetters {
			if asJSON {
				err = arr.add(d)
			} else {
				e := d.Event
				_, err = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, stamp(e.At), e.Kind, dash(e.ID),
					dash(e.Rcpt), d.Attempts, stamp(d.At), clip(d.Error, 60))
			}
			if err != nil {
				return err
			}
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	if asJSON {
		return arr.close()
	}
	return tw.Flush()
}

func webhooksRetryCmd(g *group) *cobra.Command {
	var dead bool
	cmd := &cobra.Command{
		Use:   "retry NAME",
		Short: "Enable a webhook a 410 disabled and send its events now; --dead also re-sends its dead letters",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			res, err := api.RetryWebhook(cmd.Context(), argv[0], dead)
			if err != nil {
				return cliError(err)
			}
			w := cmd.OutOrStdout()
			if g.json {
				return printJSON(w, res)
			}
			var said []string
			if res.Enabled {
				said = append(said, "enabled again")
			}
			if dead {
				said = append(said, fmt.Sprintf("%d dead letters re-sent: %d delivered, %d still refused", res.Resent,
					res.Delivered, res.Failed))
			}
			if len(said) == 0 {
				said = append(said, "retrying now")
			}
			fmt.Fprintf(w, "%s: %s\n", res.Name, strings.Join(said, "; "))
			if res.Failed > 0 {
				return &exitError{exitFailure, fmt.Errorf("%s: %d dead letters were refused again (mtaq webhooks ls shows the last error)",
					res.Name, res.Failed)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dead, "dead", false, "also re-send the dead-letter list, and wait for the answers")
	return g.jsonFlag(cmd)
}

func webhooksTestCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "test NAME",
		Short: "Send a signed test event and print the receiver's status (exit 1 unless 2xx)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			res, err := api.TestWebhook(cmd.Context(), argv[0])
			if err != nil {
				return cliError(err)
			}
			w := cmd.OutOrStdout()
			if g.json {
				err = printJSON(w, res)
			} else if res.Status == 0 {
				fmt.Fprintf(w, "%s: no answer from %s: %s\n", res.Name, res.URL, res.Error)
			} else {
				fmt.Fprintf(w, "%s: %s answered %d in %.0f ms\n", res.Name, res.URL, res.Status, res.DurationMS)
			}
			if err == nil && (res.Status < 200 || res.Status > 299) {
				err = &exitError{exitFailure, fmt.Errorf("%s: the test event was not accepted", res.Name)}
			}
			return err
		},
	})
}
