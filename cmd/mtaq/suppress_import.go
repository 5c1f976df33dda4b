package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

// progressLines is how often import reports progress when stderr is not a
// terminal (a log, a CI job); on a terminal one line is rewritten instead.
const progressLines = 100_000

func suppressImportCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "import FILE.csv",
		Short: `Add addresses from CSV: address[,reason[,expires]] ("-" reads stdin); bad lines are reported and skipped`,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			in, err := openInput(cmd, argv[0])
			if err != nil {
				return err
			}
			defer in.Close()
			api, err := g.client()
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			res, err := api.ImportSuppressions(cmd.Context(), in, importProgress(stderr))
			if isTerminal(stderr) {
				fmt.Fprintln(stderr)
			}
			if err != nil {
				return cliError(fmt.Errorf("importing %s: %w", argv[0], err))
			}
			return reportImport(cmd.OutOrStdout(), stderr, argv[0], res, g.json)
		},
	})
}

func openInput(cmd *cobra.Command, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, &exitError{exitNotFound, err} // the *PathError names the file
	}
	return f, nil
}

// importProgress prints the lines sent so far: one rewritten line on a
// terminal, else a line every progressLines.
func importProgress(w io.Writer) func(int) {
	tty := isTerminal(w)
	return func(n int) {
		switch {
		case tty:
			fmt.Fprintf(w, "\rimporting: %d lines", n)
		case n%progressLines == 0:
			fmt.Fprintf(w, "importing: %d lines\n", n)
		}
	}
}

// reportImport prints the counts to stdout and each bad line to stderr.
func reportImport(out, errw io.Writer, name string, res *admin.ImportResult, asJSON bool) error {
	if asJSON {
		return printJSON(out, res)
	}
	fmt.Fprintf(out, "%s: %d added, %d skipped\n", name, res.Added, res.Skipped)
	for _, e := range res.Errors {
		fmt.Fprintf(errw, "%s: %s\n", name, e)
	}
	if extra := res.Skipped - len(res.Errors); extra > 0 {
		fmt.Fprintf(errw, "%s: … and %d more bad lines\n", name, extra)
	}
	return nil
}
