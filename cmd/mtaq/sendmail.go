package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/sendmail"
)

// newAdminAPI reaches the daemon for mailq and sendmail -q over its admin
// socket.
func newAdminAPI(c conf.Config) admin.API { return admin.NewClient(c.AdminSocketPath()) }

// argv0Main runs the binary as sendmail, mailq or newaliases when it is
// called by one of those names (a symlink); ok is false otherwise.
func argv0Main() (code int, ok bool) {
	switch filepath.Base(os.Args[0]) {
	case "sendmail":
		return runSendmail("sendmail", os.Args[1:]), true
	case "mailq":
		return runSendmail("mailq", append([]string{"-bp"}, os.Args[1:]...)), true
	case "newaliases":
		return runSendmail("newaliases", []string{"-bi"}), true
	}
	return 0, false
}

// runSendmail takes the configuration from $MTAQ_CONFIG or
// /etc/mtaq/mtaq.toml: sendmail's command line has no room for a flag.
func runSendmail(prog string, args []string) int {
	c, _, err := conf.Discover("")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: configuration: %v\n", prog, err)
		return sendmail.ExConfig
	}
	return sendmail.Run(sendmail.OSEnv(prog, c, newAdminAPI(c)), args)
}

func sendmailCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sendmail [flags] [recipient ...]",
		Short: "sendmail-compatible submission (-t -i -f -F -bs -bp -q); see README",
		// sendmail's flags (-oi, -fme, -t) are not POSIX/cobra flags.
		DisableFlagParsing: true,
		Run: func(_ *cobra.Command, args []string) {
			os.Exit(runSendmail("sendmail", args))
		},
	}
}
