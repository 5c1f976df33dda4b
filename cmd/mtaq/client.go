package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// group is a command group that talks to the daemon (queue, suppress,
// stats). It carries the --config flag every member shares.
type group struct {
	config  string
	json    bool
	offline bool
}

// newGroup makes cmd a group: a persistent --config flag, usage errors
// exiting 2, and an unknown subcommand reported as one.
func (g *group) setup(cmd *cobra.Command) *cobra.Command {
	cmd.PersistentFlags().StringVar(&g.config, "config", "",
		"configuration file; default $MTAQ_CONFIG, else /etc/mtaq/mtaq.toml, else built-in defaults")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{exitUsage, err} })
	if cmd.HasSubCommands() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{exitUsage, fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())}
			}
			return c.Help()
		}
	}
	return cmd
}

// jsonFlag adds --json to cmd.
func (g *group) jsonFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().BoolVar(&g.json, "json", false, "print JSON for scripts instead of a table")
	return cmd
}

// client finds the daemon the way every mtaq command finds its
// configuration, then talks to it over data_dir's admin socket.
func (g *group) client() (admin.API, error) {
	c, err := loadConfig(g.config)
	if err != nil {
		return nil, &exitError{exitConfig, err}
	}
	return admin.NewClient(c.AdminSocketPath()), nil
}

// offlineFlag adds --offline to cmd.
func (g *group) offlineFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().BoolVar(&g.offline, "offline", false,
		"read data_dir's queue directly while the daemon is stopped (read-only; refused while it runs)")
	return cmd
}

// reader is client, or with --offline a Service over the queue opened
// read-only, for looking at a stopped daemon's queue. close releases it.
func (g *group) reader() (api admin.API, close func(), err error) {
	if !g.offline {
		api, err := g.client()
		return api, func() {}, err
	}
	c, err := loadConfig(g.config)
	if err != nil {
		return nil, nil, &exitError{exitConfig, err}
	}
	s, err := queue.Open(c.DataDir, queue.Options{ReadOnly: true})
	switch {
	case errors.Is(err, queue.ErrLocked):
		return nil, nil, &exitError{exitUnavailable, fmt.Errorf(
			"--offline: the daemon holds the queue in %s; ask it without --offline, or stop it first", c.DataDir)}
	case err != nil:
		return nil, nil, &exitError{exitOSErr, fmt.Errorf("--offline: %w", err)}
	}
	return admin.NewService(admin.Options{Store: s}), func() { s.Close() }, nil
}

// cliError gives an API error its exit status.
func cliError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, admin.ErrDaemonDown):
		return &exitError{exitUnavailable, err}
	case errors.Is(err, admin.ErrInvalid):
		return &exitError{exitUsage, err}
	}
	return &exitError{exitNotFound, err}
}

// args wraps a cobra argument check so that its failure exits 2.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &exitError{exitUsage, err}
		}
		return nil
	}
}

func usage(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonArray streams a JSON array item by item, so a long listing is
// never held whole in memory.
type jsonArray struct {
	w io.Writer
	n int
}

func (a *jsonArray) add(v any) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n  "
	if a.n == 0 {
		sep = "[\n  "
	}
	a.n++
	_, err = fmt.Fprintf(a.w, "%s%s", sep, b)
	return err
}

func (a *jsonArray) close() error {
	if a.n == 0 {
		_, err := io.WriteString(a.w, "[]\n")
		return err
	}
	_, err := io.WriteString(a.w, "\n]\n")
	return err
}

// now is the CLI's reading of the clock, for relative times only.
func now() time.Time { return clock.Real{}.Now() }

// stamp formats t as UTC RFC 3339.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// relative says "in 4m" or "4m ago".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return "in " + short(d)
	}
	return short(-d) + " ago"
}

// short renders a duration at its largest useful unit: 45s, 4m, 3h12m, 2d5h.
func short(d time.Duration) string {
	if d >= time.Minute {
		d = d.Round(time.Minute)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		if h, m := int(d.Hours()), int(d.Minutes())%60; m != 0 {
			return fmt.Sprintf("%dh%dm", h, m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// clip shortens s to n runes with an ellipsis, for table cells.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
