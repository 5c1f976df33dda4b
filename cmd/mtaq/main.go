// Command mtaq is the one binary: the daemon (mtaq serve) and the operator
// CLI. It parses flags, loads the configuration and wires packages; logic a
// test must reach lives in the packages it calls.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/buildinfo"
)

// Exit statuses (docs/OPERATIONS.md; sysexits.h where one fits).
// Commands return them in an exitError; no other number is used.
const (
	exitFailure     = 1  // a failure the message explains
	exitNotFound    = 1  // no such message or suppression
	exitUsage       = 2  // bad flags or arguments
	exitUnavailable = 69 // EX_UNAVAILABLE: the daemon is not running
	exitOSErr       = 71 // EX_OSERR: serve could not open the queue or listen
	exitIOErr       = 74 // EX_IOERR: reading input failed
	exitConfig      = 78 // EX_CONFIG: the configuration is missing or invalid
)

// exitError carries a process exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mtaq",
		Short:         "mtaq: an outbound mail transfer agent for applications",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), configCmd(), versionCmd(), classifyCmd())
	root.AddCommand(passwdCmd())
	root.AddCommand(sendmailCmd())
	root.AddCommand(queueCmd(), suppressCmd(), statsCmd())
	root.AddCommand(eventsCmd())
	root.AddCommand(doctorCmd(), dkimCmd())
	root.AddCommand(bounceCmd())
	root.AddCommand(backupCmd(), restoreCmd(), reloadCmd())
	root.AddCommand(webhooksCmd())
	root.AddCommand(verifyCmd())
	root.AddCommand(drainCmd())
	root.AddCommand(clusterCmd())
	root.AddCommand(tlsCmd())
	return root
}

func main() {
	if code, ok := argv0Main(); ok {
		os.Exit(code)
	}
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mtaq:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(exitFailure)
	}
}

// versionCmd prints what the Go toolchain recorded in the binary: the
// module version and the VCS revision, no hand-set variable to forget.
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version, VCS revision and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "mtaq", buildinfo.Read())
		},
	}
}
