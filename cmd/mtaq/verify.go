package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/verify"
)

// exitNotValid: every address was answered and at least one is not valid
// (invalid, risky or unknown); the output says which and why.
const exitNotValid = 3

// verifyInFlight is how many batches of verify.MaxAddresses a file run
// keeps at the daemon at once: the next batch's domains are looked up
// while the last one's results are written.
const verifyInFlight = 4

func verifyCmd() *cobra.Command {
	g := &group{}
	var file string
	cmd := &cobra.Command{
		Use:   "verify [ADDRESS...] [--file FILE|-]",
		Short: "Say whether to send to addresses: valid, invalid, risky or unknown, with every reason",
		Long: `Verify addresses from what mtaq knows: syntax, the domain's MX, the
suppression list, delivery history, role accounts, disposable domains and
likely typos (and, with [verify] smtp_probe, the domain's exchanger).

Addresses come as arguments or from --file (one per line, or the first
column of a CSV; a header row without "@" is skipped; "-" reads stdin),
streamed in batches, progress on stderr. Output is CSV (address, verdict,
reasons, suggestion, detail) or, with --json, one JSON object per line,
in input order.

Exit status: 0 every address is valid; 3 at least one is not (invalid,
risky or unknown); 1 the file cannot be opened; 2 bad usage; 69 the
daemon is not running; 74 reading the file failed; 78 the configuration
is invalid.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, argv []string) error {
			if (file == "") == (len(argv) == 0) {
				return usage("give addresses or --file, not both or neither")
			}
			api, err := g.client()
			if err != nil {
				return err
			}
			var src addressSource = &argSource{argv: argv}
			if file != "" {
				in, err := openInput(cmd, file)
				if err != nil {
					return err
				}
				defer in.Close()
				src = newFileSource(in)
			}
			r := &verifyRun{api: api, cmd: cmd, json: g.json, progress: file != ""}
			return r.run(src)
		},
	}
	g.setup(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", `read addresses from FILE ("-": stdin): one per line or the first CSV column`)
	g.jsonFlag(cmd)
	cmd.AddCommand(updateListCmd(g))
	return cmd
}

func updateListCmd(g *group) *cobra.Command {
	return g.jsonFlag(&cobra.Command{
		Use:   "update-list FILE",
		Short: `Replace the disposable-domain list in the running daemon (one domain a line, "#" comments; "-" reads stdin)`,
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
			up, err := api.UpdateDisposableList(cmd.Context(), in)
			if err != nil {
				return cliError(fmt.Errorf("%s: %w", argv[0], err))
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), up)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "disposable domains: %d (was %d)\n", up.Domains, up.Previous)
			return nil
		},
	})
}

// addressSource yields batches of addresses in input order; an empty
// batch with a nil error is the end.
type addressSource interface {
	next(n int) ([]string, error)
}

type argSource struct{ argv []string }

func (a *argSource) next(n int) ([]string, error) {
	b := a.argv[:min(n, len(a.argv))]
	a.argv = a.argv[len(b):]
	return b, nil
}

// fileSource reads the first CSV column of each line, one line at a
// time: a stray quote cannot swallow the lines after it. Blank lines are
// skipped, and so is a first row that is a header; a UTF-8 byte order
// mark (spreadsheet exports) is dropped.
type fileSource struct {
	sc   *bufio.Scanner
	line int
}

// maxLineBytes bounds one input line.
const maxLineBytes = 64 << 10

func newFileSource(in io.Reader) *fileSource {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &fileSource{sc: sc}
}

func (f *fileSource) next(n int) ([]string, error) {
	var out []string
	for len(out) < n {
		if !f.sc.Scan() {
			if err := f.sc.Err(); err != nil {
				return out, fmt.Errorf("line %d: %w", f.line+1, err)
			}
			return out, nil
		}
		f.line++
		text := f.sc.Text()
		if f.line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		a := firstColumn(text)
		if a == "" || f.line == 1 && !strings.Contains(a, "@") && isHeader(a) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// firstColumn is the line's first CSV field, unquoted when quoted.
func firstColumn(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, `"`) {
		r := csv.NewReader(strings.NewReader(line))
		r.LazyQuotes = true
		if rec, err := r.Read(); err == nil && len(rec) > 0 {
			return strings.TrimSpace(rec[0])
		}
	}
	if i := strings.IndexByte(line, ','); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

func isHeader(s string) bool {
	switch strings.ToLower(strings.Trim(s, `"' `)) {
	case "email", "e-mail", "mail", "address", "email_address", "email address", "emailaddress":
		return true
	}
	return false
}

type verifyRun struct {
	api      admin.API
	cmd      *cobra.Command
	json     bool
	progress bool
	done     int
	notValid int
	start    time.Time
}

type batchResult struct {
	res *verify.Response
	err error
}

// run reads batches, keeps up to verifyInFlight at the daemon, and writes
// each batch's results in order as it completes.
func (r *verifyRun) run(src addressSource) error {
	r.start = now()
	out := r.cmd.OutOrStdout()
	w := csv.NewWriter(out)
	if !r.json {
		w.Write([]string{"address", "verdict", "reasons", "suggestion", "detail"}) //nolint:errcheck // Flush reports it
	}
	pending := make(chan chan batchResult, verifyInFlight)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(pending)
		for {
			batch, err := src.next(verify.MaxAddresses)
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			if len(batch) > 0 {
				ch := make(chan batchResult, 1)
				pending <- ch
				go func() {
					res, err := r.api.Verify(r.cmd.Context(), verify.Request{Addresses: batch})
					ch <- batchResult{res, err}
				}()
			}
			if err != nil || len(batch) == 0 {
				readErr <- err
				return
			}
		}
	}()
	var first error
	for ch := range pending {
		br := <-ch
		if first != nil {
			continue // drain: the reader is told to stop by the error below
		}
		if br.err != nil {
			first = cliError(fmt.Errorf("verifying: %w", br.err))
		} else if err := r.write(w, out, br.res.Results); err != nil {
			first = &exitError{exitIOErr, err}
		}
		if first != nil {
			close(stop)
		}
	}
	rerr := <-readErr
	if r.progress {
		r.report(true)
	}
	switch {
	case first != nil:
		return first
	case rerr != nil:
		return &exitError{exitIOErr, fmt.Errorf("reading addresses: %w (%d verified before it)", rerr, r.done)}
	case r.notValid > 0:
		return &exitError{exitNotValid, fmt.Errorf("%d of %d addresses are not valid", r.notValid, r.done)}
	}
	return nil
}

func (r *verifyRun) write(w *csv.Writer, out io.Writer, rs []verify.Result) error {
	for _, res := range rs {
		if res.Verdict != verify.Valid {
			r.notValid++
		}
		if r.json {
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		w.Write([]string{res.Address, string(res.Verdict), reasonCodes(res), res.Suggestion, details(res)}) //nolint:errcheck // Flush reports it
	}
	r.done += len(rs)
	if !r.json {
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	if r.progress {
		r.report(false)
	}
	return nil
}

// report writes progress to stderr: one rewritten line on a terminal,
// else a line per 10,000 addresses and at the end.
func (r *verifyRun) report(final bool) {
	errw := r.cmd.ErrOrStderr()
	secs := now().Sub(r.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(r.done) / secs
	}
	line := fmt.Sprintf("verified %d addresses (%.0f/s), %d not valid", r.done, rate, r.notValid)
	switch {
	case isTerminal(errw) && final:
		fmt.Fprintf(errw, "\r%s\n", line)
	case isTerminal(errw):
		fmt.Fprintf(errw, "\r%s", line)
	case final || r.done%10000 == 0:
		fmt.Fprintln(errw, line)
	}
}

// reasonCodes lists a result's codes, a suppression with its reason:
// "mail_domain;suppressed(complaint)".
func reasonCodes(res verify.Result) string {
	var cs []string
	for _, x := range res.Reasons {
		c := x.Code
		if x.SuppressionReason != "" {
			c += "(" + x.SuppressionReason + ")"
		}
		cs = append(cs, c)
	}
	return strings.Join(cs, ";")
}

// details are the words of the reasons that share the verdict.
func details(res verify.Result) string {
	var ds []string
	for _, x := range res.Reasons {
		if x.Verdict == res.Verdict {
			ds = append(ds, x.Detail)
		}
	}
	return strings.Join(ds, "; ")
}
