package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

func drainCmd() *cobra.Command {
	g := &group{}
	var r admin.DrainRequest
	cmd := &cobra.Command{
		Use:   "drain",
		Short: "Stop taking mail (421 4.3.2, HTTP 503, /readyz fails) and deliver what is queued, or hand it to another node",
		Long: `drain stops this node's intake: new SMTP sessions and MAIL get 421 4.3.2, the HTTP
API answers 503, the maildrop waits, and /readyz fails, so the load balancer and
clients go to other nodes. Queued mail is still delivered from here.

With --transfer-to NODE (fleet mode), every open message is handed to NODE over
its advertise_admin address with its state (arrival, attempts, next attempt,
timeline): each batch is committed there before it is deleted here. The nodes
of a fleet share admin.token. --cancel takes mail again.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			f, ok := api.(admin.Fleet)
			if !ok {
				return errors.New("this client cannot drain")
			}
			res, err := f.Drain(cmd.Context(), r)
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			return printDrain(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&r.TransferTo, "transfer-to", "", "hand every open message to this node (cluster.node)")
	cmd.Flags().BoolVar(&r.Cancel, "cancel", false, "take mail again")
	return g.setup(g.jsonFlag(cmd))
}

func printDrain(w io.Writer, r *admin.DrainResult) error {
	node := r.Node
	if !r.Draining {
		_, err := fmt.Fprintf(w, "%s takes mail again; %s open here.\n", node, plural(r.Left, "message"))
		return err
	}
	if r.TransferTo != "" {
		fmt.Fprintf(w, "Transferred %s to %s (%s)", plural(r.Transferred, "message"), r.TransferTo, r.Target)
		if r.Existing > 0 {
			fmt.Fprintf(w, "; %d were there already", r.Existing)
		}
		fmt.Fprintln(w, ".")
	}
	_, err := fmt.Fprintf(w, "%s is draining: it refuses new mail; %s open here.\n", node, plural(r.Left, "message"))
	return err
}

// clusterQueue is queue ls --cluster's JSON: every node asked, and the
// messages of those that answered, oldest first.
type clusterQueue struct {
	Nodes    []clusterQueueNode  `json:"nodes"`
	Partial  bool                `json:"partial"` // a node could not be read
	Messages []clusterQueueEntry `json:"messages"`
}

type clusterQueueNode struct {
	Name  string `json:"name"`
	Admin string `json:"admin"`
	Error string `json:"error,omitempty"` // why it could not be read
}

type clusterQueueEntry struct {
	Node string `json:"node"`
	admin.QueueEntry
}

// listClusterQueue asks every node of the fleet (the local one over its
// socket, the others over their advertise_admin with this node's admin
// token) and merges their messages by arrival. Unreachable nodes are
// named, and make the listing partial (exit 69).
func (g *group) listClusterQueue(ctx context.Context, f admin.QueueFilter, max int, w, errw io.Writer) error {
	c, err := loadConfig(g.config)
	if err != nil {
		return &exitError{exitConfig, err}
	}
	local := admin.NewClient(c.AdminSocketPath())
	st, err := local.ClusterStatus(ctx)
	if err != nil {
		return cliError(err)
	}
	token, err := c.Admin.AdminToken()
	if err != nil {
		return &exitError{exitConfig, err}
	}
	var out clusterQueue
	for _, n := range st.Nodes {
		qn := clusterQueueNode{Name: n.Name, Admin: n.Admin}
		var api admin.API = local
		switch {
		case n.Self:
		case n.Admin == "":
			qn.Error = "no advertise_admin"
		case token == "":
			qn.Error = "this node has no admin.token to ask it with"
		default:
			api = admin.NewTCPClient(n.Admin, token)
		}
		if qn.Error == "" {
			ms, err := allMessages(ctx, api, f, max)
			if err != nil {
				qn.Error = err.Error()
			}
			for _, m := range ms {
				out.Messages = append(out.Messages, clusterQueueEntry{Node: n.Name, QueueEntry: m})
			}
		}
		out.Partial = out.Partial || qn.Error != ""
		out.Nodes = append(out.Nodes, qn)
	}
	// Queue IDs sort by arrival across nodes too (48 bits of milliseconds first).
	slices.SortStableFunc(out.Messages, func(a, b clusterQueueEntry) int { return strings.Compare(a.ID, b.ID) })
	if max > 0 && len(out.Messages) > max {
		out.Messages = out.Messages[:max]
	}
	if g.json {
		err = printJSON(w, out)
	} else {
		err = printClusterQueue(w, errw, out)
	}
	if err == nil && out.Partial {
		return &exitError{exitUnavailable, errors.New("partial listing: some nodes could not be read (see above)")}
	}
	return err
}

func allMessages(ctx context.Context, api admin.API, f admin.QueueFilter, max int) ([]admin.QueueEntry, error) {
	var out []admin.QueueEntry
	for {
		f.Limit = 1000
		page, err := api.ListQueue(ctx, f)
		if err != nil {
			return out, err
		}
		out = append(out, page.Messages...)
		if page.Next == "" || (max > 0 && len(out) >= max) {
			return out, nil
		}
		f.After = page.Next
	}
}

func printClusterQueue(w, errw io.Writer, q clusterQueue) error {
	for _, n := range q.Nodes {
		if n.Error != "" {
			fmt.Fprintf(errw, "UNREACHABLE %s (%s): %s\n", n.Name, orNone(n.Admin), n.Error)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tARRIVED\tSENDER\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST REPLY")
	t := now()
	for _, m := range q.Messages {
		for i, r := range m.Recipients {
			node, id, arrived, sender := m.Node, m.ID, stamp(m.Arrived), senderName(m.Sender)
			if i > 0 {
				node, id, arrived, sender = "", "", "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", node, id, arrived, sender,
				r.Address, r.State, r.Attempts, nextAttempt(r.NextAttempt, t), clip(replyText(r.LastReply), 60))
		}
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "no address"
	}
	return s
}
