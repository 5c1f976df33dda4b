package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/conf"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file without starting",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := conf.Load(args[0])
			if err == nil {
				err = conf.CheckFiles(args[0], c)
			}
			if err != nil {
				return &exitError{exitConfig, fmt.Errorf("%s is not valid:\n%w", args[0], err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	})
	return cmd
}
