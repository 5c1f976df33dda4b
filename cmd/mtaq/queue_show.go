package main

import (
	"bytes"
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

func queueShowCmd(g *group) *cobra.Command {
	var body, raw bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a message: envelope, headers, each recipient's state and full timeline",
		Long: `Show a message: envelope, headers, each recipient's state and full timeline.
--body prints the stored message (headers and body, DKIM signature included)
as it will be sent, with LF line ends; --raw writes its exact bytes (CRLF).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if body && raw {
				return &exitError{exitUsage, errors.New("--body and --raw: choose one")}
			}
			api, done, err := g.reader()
			if err != nil {
				return err
			}
			defer done()
			if body || raw {
				msg, err := api.MessageBody(cmd.Context(), argv[0])
				if err != nil {
					return cliError(err)
				}
				if body {
					msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
				}
				_, err = cmd.OutOrStdout().Write(msg)
				return err
			}
			d, err := api.ShowMessage(cmd.Context(), argv[0])
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			return showMessage(cmd.OutOrStdout(), d, now())
		},
	}
	cmd.Flags().BoolVar(&body, "body", false, "print the stored message as it will be sent (LF line ends)")
	cmd.Flags().BoolVar(&raw, "raw", false, "write the stored message's exact bytes (CRLF line ends)")
	g.offlineFlag(cmd)
	return g.jsonFlag(cmd)
}

func showMessage(w io.Writer, d *admin.MessageDetail, t time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Message\t%s\n", d.ID)
	fmt.Fprintf(tw, "Sender\t%s\n", senderName(d.Sender))
	fmt.Fprintf(tw, "Arrived\t%s (%s)\n", stamp(d.Arrived), relative(d.Arrived, t))
	fmt.Fprintf(tw, "Size\t%d bytes\n", d.Size)
	fmt.Fprintf(tw, "Client\t%s (HELO %s)\n", orDash(d.ClientAddr), orDash(d.Helo))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nHeaders")
	if len(d.Headers) == 0 {
		fmt.Fprintln(w, "  (body removed: every recipient is final)")
	}
	for _, h := range d.Headers {
		fmt.Fprintf(w, "  %s: %s\n", h.Name, clip(h.Value, 200))
	}
	for _, r := range d.Recipients {
		if err := showRecipient(w, r, t); err != nil {
			return err
		}
	}
	return nil
}

func showRecipient(w io.Writer, r admin.RecipientEntry, t time.Time) error {
	fmt.Fprintf(w, "\nRecipient %s: %s, %s", r.Address, strings.ToUpper(r.State), plural(r.Attempts, "attempt"))
	if r.NextAttempt != nil {
		fmt.Fprintf(w, ", next attempt %s (%s)", stamp(*r.NextAttempt), relative(*r.NextAttempt, t))
	}
	fmt.Fprintf(w, "\n  last reply: %s\n", replyText(r.LastReply))
	switch {
	case len(r.Timeline) == 0 && r.State == "rejected":
		fmt.Fprintf(w, "  suppressed when submitted; nothing was sent (mtaq suppress show %s)\n", r.Address)
		return nil
	case len(r.Timeline) == 0:
		fmt.Fprintln(w, "  no attempts yet")
		return nil
	}
	r.Timeline = withSources(r.Timeline)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tMX\tIP\tTLS\tTLS POLICY\tCODE\tENHANCED\tTEXT\tDURATION\tDECISION\tNEXT ATTEMPT")
	for _, a := range r.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stamp(a.At), orDash(a.MX), orDash(a.IP),
			tlsText(a), policyText(a), code(a.Reply), orDash(a.Reply.Enhanced), clip(orDash(a.Reply.Text), 70),
			duration(a), a.Decision, attemptNext(a))
	}
	return tw.Flush()
}

// withSources returns tl with each IP column saying, with source pools,
// where the attempt left from: "192.0.2.5 (from 127.0.0.20, pool bulk)".
func withSources(tl []queue.Attempt) []queue.Attempt {
	out := make([]queue.Attempt, len(tl))
	for i, a := range tl {
		switch {
		case a.SourceIP != "":
			a.IP = fmt.Sprintf("%s (from %s, pool %s)", orDash(a.IP), a.SourceIP, a.Pool)
		case a.Pool != "":
			a.IP = fmt.Sprintf("%s (pool %s)", orDash(a.IP), a.Pool)
		}
		out[i] = a
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tlsText prints TLS only for attempts that reached a host: the version
// when known, and a plain-text retry after a failed handshake.
func tlsText(a queue.Attempt) string {
	switch {
	case a.MX == "":
		return "-"
	case a.TLSFallback:
		return "no (handshake failed)"
	case a.TLS && a.TLSVersion != "":
		return a.TLSVersion
	case a.TLS:
		return "yes"
	}
	return "no"
}

// policyText names the TLS policy an attempt ran under, with the MTA-STS
// policy id.
func policyText(a queue.Attempt) string {
	if a.TLSPolicyID != "" {
		return fmt.Sprintf("%s (id %s)", a.TLSPolicy, a.TLSPolicyID)
	}
	return orDash(a.TLSPolicy)
}

func code(r queue.Reply) string {
	if r.Code == 0 {
		return "-"
	}
	return fmt.Sprint(r.Code)
}

func duration(a queue.Attempt) string {
	if a.Duration == 0 {
		return "-"
	}
	return a.Duration.Round(time.Millisecond).String()
}

func attemptNext(a queue.Attempt) string {
	if a.NextAttempt.IsZero() {
		return "-"
	}
	return stamp(a.NextAttempt)
}
