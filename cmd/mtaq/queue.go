package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/queue"
)

func queueCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "queue", Short: "Inspect and act on the queue (through the running daemon)"}
	cmd.AddCommand(queueLsCmd(g), queueShowCmd(g))
	for _, a := range []struct {
		act   queue.Action
		short string
	}{
		{queue.ActRetry, "Make pending recipients due now (attempts and backoff unchanged)"},
		{queue.ActHold, "Hold pending recipients: no attempts, no expiry, until released"},
		{queue.ActRelease, "Release held recipients: due now"},
		{queue.ActDelete, "Delete recipients that are not final: nothing more is sent"},
		{queue.ActBounce, `Fail recipients now ("failed by operator"); nothing is suppressed`},
	} {
		cmd.AddCommand(queueActionCmd(g, string(a.act), a.short))
	}
	return g.setup(cmd)
}

func queueLsCmd(g *group) *cobra.Command {
	var f admin.QueueFilter
	var max int
	var cluster bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List messages, one line per recipient (--json: an array of queue entries)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cluster {
				if g.offline {
					return &exitError{exitUsage, errors.New("--cluster asks the running daemons: not with --offline")}
				}
				return g.listClusterQueue(cmd.Context(), f, max, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			api, done, err := g.reader()
			if err != nil {
				return err
			}
			defer done()
			return cliError(listQueue(cmd.Context(), api, f, max, g.json, cmd.OutOrStdout()))
		},
	}
	g.offlineFlag(cmd)
	cmd.Flags().BoolVar(&cluster, "cluster", false,
		"every node of the fleet, through their advertise_admin addresses (unreachable ones are named; exit 69)")
	cmd.Flags().StringVar(&f.State, "state", "", "only messages with a recipient in this state ("+stateList()+")")
	cmd.Flags().StringVar(&f.Domain, "domain", "", "only messages with a recipient at this domain")
	cmd.Flags().StringVar(&f.Rcpt, "rcpt", "", "only messages to this recipient")
	cmd.Flags().StringVar(&f.Tag, "tag", "", "only messages with this tag (X-Mtaq-Tag)")
	cmd.Flags().IntVar(&max, "limit", 0, "stop after this many messages (0: all)")
	return g.jsonFlag(cmd)
}

// firstPage is small so that `mtaq queue ls | head` on a large queue
// answers after one short request; later pages are the server's default.
const firstPage = 100

// listQueue prints every matching message, fetched a page at a time; each
// page is written out before the next is asked for, so the first rows of a
// million-message queue appear at once (column widths are per page).
func listQueue(ctx context.Context, api admin.API, f admin.QueueFilter, max int, asJSON bool, w io.Writer) error {
	arr := &jsonArray{w: w}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "ID\tARRIVED\tSENDER\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST REPLY")
	}
	shown, t := 0, now()
	for {
		f.Limit = 1000
		if shown == 0 {
			f.Limit = firstPage
		}
		if max > 0 {
			f.Limit = min(f.Limit, max-shown)
		}
		page, err := api.ListQueue(ctx, f)
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			if asJSON {
				err = arr.add(m)
			} else {
				err = queueRows(tw, m, t)
			}
			if err != nil {
				return err
			}
		}
		shown += len(page.Messages)
		if !asJSON {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if page.Next == "" || (max > 0 && shown >= max) {
			break
		}
		f.After = page.Next
	}
	if asJSON {
		return arr.close()
	}
	return tw.Flush()
}

// queueRows writes one row per recipient; the message's columns only on
// its first row.
func queueRows(w io.Writer, m admin.QueueEntry, t time.Time) error {
	for i, r := range m.Recipients {
		id, arrived, sender := m.ID, stamp(m.Arrived), senderName(m.Sender)
		if i > 0 {
			id, arrived, sender = "", "", ""
		}
		_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", id, arrived, sender,
			r.Address, r.State, r.Attempts, nextAttempt(r.NextAttempt, t), clip(replyText(r.LastReply), 60))
		if err != nil {
			return err
		}
	}
	return nil
}

func senderName(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

func nextAttempt(at *time.Time, t time.Time) string {
	if at == nil {
		return "-"
	}
	return relative(*at, t)
}

func replyText(r *queue.Reply) string {
	if r == nil {
		return "-"
	}
	s := r.Text
	if r.Enhanced != "" {
		s = r.Enhanced + " " + s
	}
	if r.Code != 0 {
		s = fmt.Sprintf("%d %s", r.Code, s)
	}
	return s
}

func queueActionCmd(g *group, action, short string) *cobra.Command {
	var a admin.QueueAction
	cmd := &cobra.Command{
		Use:   action + " ID|--all|--domain D",
		Short: short,
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			a.Action = action
			if len(argv) == 1 {
				a.ID = argv[0]
			}
			if n := btoi(a.ID != "") + btoi(a.All) + btoi(a.Domain != ""); n != 1 {
				return usage("%s needs exactly one of ID, --all or --domain D", action)
			}
			api, err := g.client()
			if err != nil {
				return err
			}
			res, err := api.QueueAction(cmd.Context(), a)
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s in %s\n", action, plural(res.Recipients, "recipient"), plural(res.Messages, "message"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&a.All, "all", false, "every message in the queue")
	cmd.Flags().StringVar(&a.Domain, "domain", "", "only recipients at this domain")
	return g.jsonFlag(cmd)
}

// stateList names every recipient state, for flag help.
func stateList() string {
	names := make([]string, 0, len(queue.States()))
	for _, s := range queue.States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
