package sendmail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/maildrop"
)

// adminTimeout bounds a call to the daemon; a wedged daemon must not hang
// a cron job.
const adminTimeout = 30 * time.Second

// daemonDown tells a daemon that is not running (no socket, nobody
// listening) from other failures.
func daemonDown(err error) bool {
	return errors.Is(err, admin.ErrDaemonDown) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}

// pendingStates are the states mailq shows: mail still to be sent.
var pendingStates = []string{"queued", "deferred", "held"}

// listQueue prints the queue like Postfix's mailq (-bp).
func listQueue(env Env) error {
	waiting := maildropCount(env)
	if env.Admin == nil {
		return downError(env, ExUnavailable, waiting, errors.New("no admin client"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	entries, err := pending(ctx, env.Admin)
	if err != nil {
		if daemonDown(err) {
			return downError(env, ExUnavailable, waiting, err)
		}
		return fail(ExUnavailable, "listing the queue: %v", err)
	}
	printQueue(env.Stdout, entries)
	if waiting > 0 {
		fmt.Fprintln(env.Stdout, waitingText(waiting))
	}
	return nil
}

func downError(env Env, code, waiting int, err error) error {
	msg := fmt.Sprintf("the mtaq daemon is not running (admin socket %s: %v)", env.Config.AdminSocketPath(), err)
	if waiting > 0 {
		msg += "; " + waitingText(waiting)
	}
	return fail(code, "%s", msg)
}

func waitingText(n int) string {
	if n == 1 {
		return "1 message waiting in the maildrop for the daemon"
	}
	return fmt.Sprintf("%d messages waiting in the maildrop for the daemon", n)
}

// pending collects every message with a recipient still to send, each
// once, in ID (arrival) order.
func pending(ctx context.Context, api admin.API) ([]admin.QueueEntry, error) {
	byID := map[string]admin.QueueEntry{}
	for _, st := range pendingStates {
		f := admin.QueueFilter{State: st}
		for {
			page, err := api.ListQueue(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, m := range page.Messages {
				byID[m.ID] = m
			}
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
	}
	out := make([]admin.QueueEntry, 0, len(byID))
	for _, m := range byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b admin.QueueEntry) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// printQueue writes the table: one line per message, then one per
// recipient still to send, with its state and the last reply.
func printQueue(w io.Writer, entries []admin.QueueEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "Mail queue is empty")
		return
	}
	fmt.Fprintf(w, "%-16s %8s %-19s  %s\n", "-Queue ID-", "--Size--", "---Arrival Time----", "-Sender/Recipient-------")
	var size int64
	for _, m := range entries {
		size += m.Size
		sender := m.Sender
		if sender == "" {
			sender = "MAILER-DAEMON"
		}
		fmt.Fprintf(w, "%-16s %8d %-19s  %s\n", m.ID, m.Size, m.Arrived.Local().Format("Mon Jan _2 15:04:05"), sender)
		for _, r := range m.Recipients {
			if !slices.Contains(pendingStates, r.State) {
				continue
			}
			line := fmt.Sprintf("%46s %-8s %s", "", r.State, r.Address)
			if r.LastReply != nil {
				line += fmt.Sprintf("  (%d %s %s)", r.LastReply.Code, r.LastReply.Enhanced, oneLine(r.LastReply.Text))
			}
			fmt.Fprintln(w, line)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "-- %d Kbytes in %d Requests.\n", (size+1023)/1024, len(entries))
}

// oneLine keeps a reply on one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// maildropCount counts files waiting for pickup; -1 when the directory
// cannot be listed (other users may not read it).
func maildropCount(env Env) int {
	files, _, err := maildrop.List(env.Config.MaildropPath(), env.Now(), time.Hour)
	if err != nil {
		return -1
	}
	return len(files)
}

// flush makes every deferred recipient due now (-q).
func flush(env Env) error {
	if env.Admin == nil {
		return downError(env, ExTempFail, maildropCount(env), errors.New("no admin client"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	res, err := env.Admin.Flush(ctx)
	if err != nil {
		if daemonDown(err) {
			return downError(env, ExTempFail, maildropCount(env), err)
		}
		return fail(ExTempFail, "flushing the queue: %v", err)
	}
	fmt.Fprintf(env.Stdout, "%s: %d recipients of %d messages will be tried now\n", env.Prog, res.Recipients, res.Messages)
	return nil
}
