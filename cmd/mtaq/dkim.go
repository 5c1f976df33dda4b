package main

import "github.com/spf13/cobra"

// dkimCmd groups the DKIM key commands.
func dkimCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dkim", Short: "Work with DKIM keys and their DNS records"}
	cmd.AddCommand(dkimCheckCmd())
	return cmd
}
