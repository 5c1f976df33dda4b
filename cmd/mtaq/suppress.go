package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/policy"
)

func suppressCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "suppress", Short: "Manage the suppression list (through the running daemon)"}
	cmd.AddCommand(suppressLsCmd(g), suppressAddCmd(g), suppressRmCmd(g), suppressShowCmd(g),
		suppressImportCmd(g), suppressExportCmd(g))
	return g.setup(cmd)
}

func suppressLsCmd(g *group) *cobra.Command {
	var f admin.SuppressionFilter
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List suppressed addresses (--json: an array of entries; expires null = never)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			return cliError(listSuppressions(cmd.Context(), api, f, g.json, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().StringVar(&f.Reason, "reason", "", "only this reason: "+strings.Join(policy.Reasons, ", "))
	return g.jsonFlag(cmd)
}

func listSuppressions(ctx context.Context, api admin.API, f admin.SuppressionFilter, asJSON bool, w io.Writer) error {
	arr := &jsonArray{w: w}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "ADDRESS\tREASON\tCREATED\tEXPIRES\tCOUNT\tLAST REPLY")
	}
	t := now()
	for {
		page, err := api.ListSuppressions(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			if asJSON {
				err = arr.add(e)
			} else {
				_, err = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.Address, e.Reason, stamp(e.Created),
					expires(e, t), e.Count, clip(replyText(e.Reply), 50))
			}
			if err != nil {
				return err
			}
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	if asJSON {
		return arr.close()
	}
	return tw.Flush()
}

func expires(e admin.SuppressionEntry, t time.Time) string {
	switch {
	case e.Expires == nil:
		return "never"
	case !e.Active:
		return "expired " + stamp(*e.Expires)
	}
	return stamp(*e.Expires) + " (" + relative(*e.Expires, t) + ")"
}

func suppressAddCmd(g *group) *cobra.Command {
	var a admin.SuppressionAdd
	cmd := &cobra.Command{
		Use:   "add ADDR",
		Short: "Suppress an address (manual, complaint and unsubscribe never expire unless --ttl)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a.Address = argv[0]
			return g.showEntry(cmd, func(ctx context.Context, api admin.API) (*admin.SuppressionEntry, error) {
				return api.AddSuppression(ctx, a)
			})
		},
	}
	cmd.Flags().StringVar(&a.Reason, "reason", policy.ReasonManual, strings.Join(policy.Reasons, ", "))
	cmd.Flags().DurationVar(&a.TTL, "ttl", 0, `lift the entry after this long, e.g. "720h" (0: the reason's default)`)
	return g.jsonFlag(cmd)
}

func suppressShowCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "show ADDR",
		Short: "Show an address's suppression entry (exit 1 when it has none)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return g.showEntry(cmd, func(ctx context.Context, api admin.API) (*admin.SuppressionEntry, error) {
				return api.ShowSuppression(ctx, argv[0])
			})
		},
	})
}

// showEntry runs get and prints the entry it returns.
func (g *group) showEntry(cmd *cobra.Command, get func(context.Context, admin.API) (*admin.SuppressionEntry, error)) error {
	api, err := g.client()
	if err != nil {
		return err
	}
	e, err := get(cmd.Context(), api)
	if err != nil {
		return cliError(err)
	}
	w := cmd.OutOrStdout()
	if g.json {
		return printJSON(w, e)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Address\t%s\nReason\t%s\nCreated\t%s\nLast seen\t%s\nCount\t%d\nExpires\t%s\nActive\t%v\n",
		e.Address, e.Reason, stamp(e.Created), stamp(e.LastSeen), e.Count, expires(*e, now()), e.Active)
	fmt.Fprintf(tw, "Reply\t%s\nMessage\t%s\n", replyText(e.Reply), orDash(e.MessageID))
	return tw.Flush()
}

func suppressRmCmd(g *group) *cobra.Command {
	return &cobra.Command{
		Use:   "rm ADDR",
		Short: "Remove an address from the suppression list",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			if err := api.RemoveSuppression(cmd.Context(), argv[0]); err != nil {
				return cliError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", strings.ToLower(argv[0]))
			return nil
		},
	}
}

func suppressExportCmd(g *group) *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Write every entry as CSV to stdout (address,reason,expires,created,last_seen,count,message_id)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			return cliError(api.ExportSuppressions(cmd.Context(), cmd.OutOrStdout()))
		},
	}
}

// isTerminal reports whether w is a character device (a terminal), where
// progress can rewrite one line instead of adding lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
