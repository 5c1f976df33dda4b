package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/policy"
)

// explainer holds what an explanation needs beyond the verdict: the retry
// schedule and suppression lifetimes in force.
type explainer struct {
	cl    *policy.Classifier
	sched policy.Schedule
	ttls  policy.TTLs
}

func classifyCmd() *cobra.Command {
	var path, domain string
	cmd := &cobra.Command{
		Use:   "classify [REPLY]",
		Short: "Explain how mtaq reads an SMTP reply, or classify JSON Lines from stdin",
		Long: `With a reply as argument, e.g. mtaq classify "550 5.1.1 <a@b.c>: user unknown",
explain its class, category, the evidence found (the deciding item first:
phrase families, enhanced-code and reply-code priors, the learned fallback,
an operator rule), whether an unexplained reply suppresses and why, and what
mtaq will do.

With no argument, read JSON Lines on stdin, one {"code":550,"enhanced":"5.1.1",
"text":"...","domain":"..."} per line (enhanced, text and domain optional; other
fields ignored), and write exactly one JSON line per input line: the verdict, or
{"line":N,"error":"..."} for a line that cannot be read. Exit status 1 when any
line had an error, 0 otherwise.

Operator rules ([[policy.rule]]) and the retry schedule come from --config, or
the built-in defaults.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(path)
			if err != nil {
				return &exitError{exitConfig, err}
			}
			cl, err := c.Policy.Classifier()
			if err != nil {
				return &exitError{exitConfig, err}
			}
			x := &explainer{cl: cl, sched: schedule(c.Retry), ttls: c.Suppression.TTLs()}
			if len(args) == 0 {
				return x.jsonLines(cmd.InOrStdin(), cmd.OutOrStdout(), domain)
			}
			r, err := parseReply(strings.Join(args, " "))
			if err != nil {
				return &exitError{exitUsage, err}
			}
			x.explain(cmd.OutOrStdout(), r, domain)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (TOML); none: built-in defaults")
	cmd.Flags().StringVar(&domain, "domain", "", "recipient domain, for operator rules that name one")
	return cmd
}

func schedule(r conf.Retry) policy.Schedule {
	return policy.Schedule{First: r.First.Duration, Max: r.Max.Duration, Expire: r.Expire.Duration, Jitter: r.Jitter}
}

// parseReply reads "550 5.1.1 text", "550-5.1.1 text", "550" or a multiline
// reply with NNN- prefixes. Like net/textproto, it removes the reply code
// of every line, moves the first line's enhanced code out and keeps the
// rest as text joined with "\n".
func parseReply(s string) (policy.Reply, error) {
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n"), "\n")
	first := lines[0]
	code, err := strconv.Atoi(first[:min(3, len(first))])
	if err != nil || len(first) < 3 || code < 200 || code > 599 {
		return policy.Reply{}, fmt.Errorf("%q does not start with a reply code 200..599", first)
	}
	rest := first[3:]
	if rest != "" && rest[0] != ' ' && rest[0] != '-' {
		return policy.Reply{}, fmt.Errorf("%q: the reply code must be followed by a space or '-'", first)
	}
	r := policy.Reply{Code: code}
	rest = strings.TrimLeft(rest, " -")
	if e, text, _ := strings.Cut(rest, " "); isEnhanced(e) {
		r.Enhanced, rest = e, strings.TrimLeft(text, " ")
	}
	texts := []string{rest}
	prefix := first[:3]
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, prefix+"-") || strings.HasPrefix(l, prefix+" ") {
			l = l[4:]
		}
		texts = append(texts, l)
	}
	r.Text = strings.Join(texts, "\n")
	return r, nil
}

// isEnhanced: an RFC 3463 code, class digit 2, 4 or 5.
func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || len(p) > 3 {
			return false
		}
	}
	return true
}

// explain writes the verdict on r for a person.
func (x *explainer) explain(w io.Writer, r policy.Reply, domain string) {
	v := x.cl.Classify(r, domain)
	reply := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		reply += " " + r.Enhanced
	}
	if r.Text != "" {
		reply += " " + strings.ReplaceAll(r.Text, "\n", "\n           ")
	}
	fmt.Fprintf(w, "reply:     %s\n", reply)
	if domain != "" {
		fmt.Fprintf(w, "domain:    %s\n", domain)
	}
	switch v.Class {
	case policy.Success:
		fmt.Fprintf(w, "class:     success\naction:    the recipient is delivered\n")
		return
	case policy.Hard:
		fmt.Fprintf(w, "class:     hard (permanent: no retry)\n")
	default:
		fmt.Fprintf(w, "class:     soft (temporary: retried)\n")
	}
	fmt.Fprintf(w, "category:  %s (%s side)\n", v.Category, v.Side)
	fmt.Fprintf(w, "rule:      %s\n", v.Rule)
	writeEvidence(w, v)
	if v.Class == policy.Hard {
		fmt.Fprintf(w, "action:    %s\n", x.hardAction(v))
		return
	}
	fmt.Fprintf(w, "action:    %s\n", x.retryAction())
	fmt.Fprintf(w, "expiry:    %s\n", x.expiryAction(v))
}

// writeEvidence lists what the classifier found, the deciding item first
// and marked, then the guard that decided suppression for an unexplained
// or tentative verdict.
func writeEvidence(w io.Writer, v policy.Verdict) {
	for i, e := range v.Evidence {
		switch {
		case e.Kind == policy.KindGuard:
			fmt.Fprintf(w, "suppress:  %s\n", guardText(e))
		case i == 0:
			fmt.Fprintf(w, "evidence:  %s  (decided%s)\n", e, tentative(v))
		default:
			fmt.Fprintf(w, "           %s\n", e)
		}
	}
}

func tentative(v policy.Verdict) string {
	if v.Tentative() {
		return "; tentative"
	}
	return ""
}

// guardText words the unexplained-reply guard.
func guardText(e policy.Evidence) string {
	switch e.Rule {
	case "not-an-address-code":
		return fmt.Sprintf("no: %s is not an address code (only none, 5.0.0 or 5.1.x may suppress an unexplained reply)", e.Match)
	case "names-client-or-sender":
		return fmt.Sprintf("no: the reply names our side (%q), not the address", e.Match)
	case "provider-code":
		return fmt.Sprintf("no: the reply carries a provider's own reason code (%q)", e.Match)
	case "names-our-side":
		return fmt.Sprintf("no: the reply speaks of our side or the message (%q), so it is no proof about the address", e.Match)
	case "reason-not-understood":
		return fmt.Sprintf("no: the reply gives a reason no rule reads (%q); only a bare failure or one saying the recipient failed is taken at its word", e.Match)
	case "text-disagrees":
		return fmt.Sprintf("no: only the enhanced code speaks of the address, and the text gives another reason (%s)", e.Match)
	case "refusal-by-rule":
		return fmt.Sprintf("no: the reply refuses by rule (%q): the server would not take the mail, which says nothing of the address", e.Match)
	}
	return "yes: a 5xx with no reason, no enhanced code, 5.0.0 or 5.1.x, naming neither our host, IP nor sender, is taken at its word for a while"
}

func (x *explainer) hardAction(v policy.Verdict) string {
	if v.Suppress {
		reason := policy.HardReason(v)
		ttl := x.ttls.HardBounce
		if reason == policy.ReasonUnclassifiedBounce {
			ttl = x.ttls.Unclassified
		}
		s := fmt.Sprintf("the recipient is bounced and the address suppressed (reason %s, %s)", reason, lifetime(ttl))
		if v.Side != policy.SideRecipient {
			// Decide condemns the address only for a reply to its own RCPT
			// or DATA; at connection or MAIL FROM the reply is not about it.
			s += "; if the reply came before RCPT TO, the message only fails and the address is kept"
		}
		return s
	}
	s := "the message fails for this recipient; the address is NOT suppressed"
	if t, _ := policy.TextsFor(v.Category); t.Fix != "" && v.Side == policy.SideSender {
		return s + " (the fault is on the sending side: fix " + t.Fix + ")"
	}
	return s + " (" + string(v.Side) + " side)"
}

func (x *explainer) retryAction() string {
	s := fmt.Sprintf("retried with backoff: %s after the first attempt, doubling to %s, until %s after arrival",
		exact(x.sched.First), exact(x.sched.Max), exact(x.sched.Expire))
	if x.sched.Jitter > 0 {
		s += fmt.Sprintf(" (each wait ±%g%%)", x.sched.Jitter*100)
	}
	return s
}

func (x *explainer) expiryAction(v policy.Verdict) string {
	if v.Side == policy.SideRecipient {
		return fmt.Sprintf("if still failing at expiry the address is suppressed (%s, %s)",
			policy.ReasonSoftBounceExpired, lifetime(x.ttls.SoftDerived))
	}
	return "expires without suppression"
}

// lifetime words a suppression TTL; 0 means the entry never lifts.
func lifetime(d time.Duration) string {
	switch {
	case d <= 0:
		return "never lifts"
	case d%(24*time.Hour) == 0:
		if n := d / (24 * time.Hour); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "1 day"
	}
	return "lifts after " + exact(d)
}

// exact formats a duration without zero units and without rounding: 5m,
// 24h, 1h30m (configured values, unlike the rounded short in client.go).
func exact(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// jsonIn is one input line; other fields (a corpus row's labels) are
// ignored so labelled files can be piped in as they are.
type jsonIn struct {
	Code     *int   `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
	Domain   string `json:"domain"` // overrides --domain for this line
}

type jsonVerdict struct {
	Line     int               `json:"line"`
	Code     int               `json:"code"`
	Enhanced string            `json:"enhanced"`
	Class    policy.Class      `json:"class"`
	Category policy.Category   `json:"category"`
	Side     policy.Side       `json:"side"`
	Suppress bool              `json:"suppress"`
	Rule     string            `json:"rule"`
	Evidence []policy.Evidence `json:"evidence,omitempty"`
}

type jsonError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// jsonLines writes exactly one JSON line per input line, a verdict or an
// error, and carries on after a bad line. Output is flushed whenever the
// input has nothing buffered, so an interactive pipe sees answers at once.
func (x *explainer) jsonLines(in io.Reader, out io.Writer, domain string) error {
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n, bad := 0, 0
	for {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			// The read error is the one to report, not a flush's.
			bw.Flush() //nolint:errcheck
			return &exitError{exitIOErr, fmt.Errorf("reading stdin: %w", err)}
		}
		n++
		var rec any
		if r, d, lerr := decodeLine(line, err); lerr != nil {
			bad++
			rec = jsonError{Line: n, Error: lerr.Error()}
		} else {
			if d == "" {
				d = domain
			}
			v := x.cl.Classify(r, d)
			rec = jsonVerdict{n, r.Code, r.Enhanced, v.Class, v.Category, v.Side, v.Suppress, v.Rule, v.Evidence}
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if bad > 0 {
		return &exitError{exitFailure, fmt.Errorf("%d of %d lines could not be classified", bad, n)}
	}
	return nil
}

// decodeLine reads one input line; readErr is readLine's verdict on it.
func decodeLine(line []byte, readErr error) (policy.Reply, string, error) {
	if readErr != nil {
		return policy.Reply{}, "", readErr
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return policy.Reply{}, "", errors.New("empty line")
	}
	var in jsonIn
	if err := json.Unmarshal(line, &in); err != nil {
		return policy.Reply{}, "", fmt.Errorf("bad JSON: %v", err)
	}
	switch {
	case in.Code == nil:
		return policy.Reply{}, "", errors.New("code is missing")
	case *in.Code < 200 || *in.Code > 599:
		return policy.Reply{}, "", fmt.Errorf("code %d is not a reply code 200..599", *in.Code)
	}
	return policy.Reply{Code: *in.Code, Enhanced: in.Enhanced, Text: in.Text}, in.Domain, nil
}

// maxLine bounds one JSON line; a longer line is reported and skipped.
const maxLine = 1 << 20

var errLineTooLong = errors.New("line longer than 1 MiB")

// readLine returns the next line without its end of line; a line over
// maxLine is consumed whole and reported as errLineTooLong. io.EOF only
// when nothing is left.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxLine+2 { // room for "\r\n"
				tooLong, line = true, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(chunk) == 0 && len(line) == 0 && !tooLong {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if tooLong {
			return nil, errLineTooLong
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}
