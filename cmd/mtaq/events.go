package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// followEvery is how often `events tail --follow` asks for new events.
const followEvery = 500 * time.Millisecond

func eventsCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{Use: "events", Short: "Show the event stream (through the running daemon)"}
	cmd.AddCommand(eventsTailCmd(g))
	return g.setup(cmd)
}

// tailOptions are events tail's flags.
type tailOptions struct {
	follow bool
	after  uint64
	json   bool
	clock  clock.Clock // paces --follow; nil: the wall clock
}

func eventsTailCmd(g *group) *cobra.Command {
	var o tailOptions
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print outbox events, oldest kept first (--json: one JSON event a line)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			o.json = g.json
			return cliError(tailEvents(cmd.Context(), api, o, cmd.OutOrStdout()))
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().Uint64Var(&o.after, "after", 0, "start after this event seq")
	cmd.Flags().BoolVar(&g.json, "json", false, "print one JSON event per line (NDJSON) instead of text")
	return cmd
}

// tailEvents prints pages until caught up; with follow it then polls until
// ctx ends.
func tailEvents(ctx context.Context, api admin.API, o tailOptions, w io.Writer) error {
	enc := json.NewEncoder(w)
	after := o.after
	for {
		page, err := api.Events(ctx, after, 0)
		if err != nil {
			if ctx.Err() != nil && o.follow {
				return nil // interrupted
			}
			return err
		}
		for _, e := range page.Events {
			if o.json {
				err = enc.Encode(e)
			} else {
				_, err = fmt.Fprintln(w, eventLine(e))
			}
			if err != nil {
				return err
			}
		}
		after = page.Last
		if len(page.Events) > 0 {
			continue
		}
		if !o.follow {
			return nil
		}
		if err := pause(ctx, o.clock, followEvery); err != nil {
			return nil // interrupted
		}
	}
}

// pause waits d on c (the wall clock when nil) or until ctx ends.
func pause(ctx context.Context, c clock.Clock, d time.Duration) error {
	if c == nil {
		c = clock.Real{}
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// eventLine is one event for people: seq, time, kind, queue ID, recipient,
// codes, category, suppression and the reply, clipped.
func eventLine(e queue.Event) string {
	f := []string{fmt.Sprintf("%6d", e.Seq), stamp(e.At), fmt.Sprintf("%-12s", e.Kind), dash(e.ID), dash(e.Rcpt)}
	if e.Reply != nil && (e.Reply.Code != 0 || e.Reply.Enhanced != "") {
		f = append(f, strings.TrimSpace(fmt.Sprintf("%s %s", strings.Trim(code(*e.Reply), "-"), e.Reply.Enhanced)))
	}
	if e.Category != "" {
		f = append(f, e.Category)
	}
	if e.Attempt > 0 {
		f = append(f, fmt.Sprintf("attempt=%d", e.Attempt))
	}
	if e.Suppressed {
		f = append(f, "suppressed")
	}
	if e.Reason != "" {
		f = append(f, "reason="+e.Reason)
	}
	if !e.NextAttempt.IsZero() {
		f = append(f, "next="+stamp(e.NextAttempt))
	}
	if e.Reply != nil && e.Reply.Text != "" {
		f = append(f, fmt.Sprintf("%q", clip(e.Reply.Text, 60)))
	}
	return strings.Join(f, "  ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
