package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func reloadCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make the running daemon read its configuration again (like SIGHUP)",
		Long: `Make the running daemon read its configuration file again and apply what can
change while mail flows: submission users and the users file, API keys, webhooks, TLS
certificates, DKIM keys, [[policy.rule]], [suppression] and the delivery
limits (workers, per_domain_concurrency, per_domain_rate). Connections in
progress are not dropped. Changed settings that need a restart (listen
addresses, data_dir, ...) are named and keep their running values. A
configuration with errors is refused (exit 2, its errors printed) and the
running one stays.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := g.client()
			if err != nil {
				return err
			}
			res, err := api.Reload(cmd.Context())
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			if len(res.Applied) == 0 {
				fmt.Fprintln(w, "reloaded: nothing that can change while running has changed")
			} else {
				fmt.Fprintf(w, "reloaded: %s\n", strings.Join(res.Applied, ", "))
			}
			if len(res.NeedsRestart) > 0 {
				fmt.Fprintf(w, "changed but needs a restart (running values kept): %s\n", strings.Join(res.NeedsRestart, ", "))
			}
			return nil
		},
	}
	return g.setup(g.jsonFlag(cmd))
}
