// Package maildrop is the hand-off between sendmail and the daemon: a
// directory of files, each holding one message and its envelope. sendmail
// writes a file (Drop) and exits 0 once it is durable; the daemon's pickup
// reads, enqueues and removes it. The directory is writable by every local
// user, so the daemon treats each file as untrusted input.
//
// Invariants:
//
//	M1 a file with a final name is complete and synced, and so is the
//	   directory entry naming it: Drop returns nil only after both fsyncs.
//	M2 files being written have the "tmp." prefix; pickup never reads them.
//	M3 Parse accepts exactly what Marshal writes: one version line, the
//	   envelope fields once each (rcpt one or more times), a blank line,
//	   then a body of CRLF lines without NUL bytes.
package maildrop

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Magic is the first line of every maildrop file; the number is the format
// version, raised on any incompatible change.
const Magic = "MTAQ-MAILDROP 1"

// Envelope is what sendmail knows about a message besides its text.
type Envelope struct {
	Sender string    // "" is the null sender <>
	Rcpts  []string  // at least one
	Posted time.Time // when sendmail wrote the file
	UID    int       // the user who ran sendmail
}

// Marshal renders the file: the header lines end in LF, the body is copied
// as is (the caller has normalised it to CRLF lines).
func Marshal(e Envelope, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 128 + 64*len(e.Rcpts))
	fmt.Fprintf(&b, "%s\nsender: %s\n", Magic, e.Sender)
	for _, r := range e.Rcpts {
		fmt.Fprintf(&b, "rcpt: %s\n", r)
	}
	fmt.Fprintf(&b, "posted: %s\nuid: %d\n\n", e.Posted.UTC().Format(time.RFC3339Nano), e.UID)
	b.Write(body)
	return b.Bytes()
}

// ErrFormat wraps every reason Parse refuses a file.
var ErrFormat = errors.New("maildrop: bad file")

func formatErr(f string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(f, a...))
}

// Parse reads a file written by Marshal. It is strict: unknown or repeated
// fields, control characters in values and bodies that are not CRLF text
// are refused, since anyone on the host may put a file in the directory.
func Parse(data []byte) (Envelope, []byte, error) {
	var e Envelope
	head, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return e, nil, formatErr("no blank line after the envelope")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != Magic {
		return e, nil, formatErr("first line is not %q", Magic)
	}
	seen := map[string]bool{}
	for i, line := range lines[1:] {
		if err := e.field(line, seen); err != nil {
			return e, nil, formatErr("line %d: %v", i+2, err)
		}
	}
	for _, k := range []string{"sender", "posted", "uid"} {
		if !seen[k] {
			return e, nil, formatErr("no %s field", k)
		}
	}
	if len(e.Rcpts) == 0 {
		return e, nil, formatErr("no rcpt field")
	}
	if err := checkBody(body); err != nil {
		return e, nil, formatErr("body: %v", err)
	}
	return e, body, nil
}

// field parses one "key: value" line into e.
func (e *Envelope) field(line string, seen map[string]bool) error {
	k, v, ok := strings.Cut(line, ": ")
	if !ok {
		return errors.New(`not "key: value"`)
	}
	if k != "rcpt" && seen[k] {
		return fmt.Errorf("%s given twice", k)
	}
	seen[k] = true
	if !printable(v) {
		return fmt.Errorf("%s: control or space characters", k)
	}
	var err error
	switch k {
	case "sender":
		e.Sender = v
	case "rcpt":
		if v == "" {
			return errors.New("empty rcpt")
		}
		e.Rcpts = append(e.Rcpts, v)
	case "posted":
		e.Posted, err = time.Parse(time.RFC3339Nano, v)
		if err == nil && e.Posted.UTC().Format(time.RFC3339Nano) != v {
			err = fmt.Errorf("posted %q is not canonical UTC RFC 3339", v)
		}
		e.Posted = e.Posted.UTC()
	case "uid":
		e.UID, err = strconv.Atoi(v)
		if err == nil && (e.UID < 0 || strconv.Itoa(e.UID) != v) {
			err = fmt.Errorf("uid %q is not a canonical non-negative number", v)
		}
	default:
		return fmt.Errorf("unknown field %q", k)
	}
	return err
}

// printable refuses ASCII controls, spaces and DEL; addresses never need
// them and a CR could forge a header in the Received field.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// checkBody requires what submission stores (S4): CRLF line endings only,
// no NUL bytes, and a final CRLF.
func checkBody(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty")
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		return errors.New("does not end with CRLF")
	}
	for i, c := range b {
		switch {
		case c == 0:
			return fmt.Errorf("NUL byte at offset %d", i)
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return fmt.Errorf("bare CR at offset %d", i)
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return fmt.Errorf("bare LF at offset %d", i)
		}
	}
	return nil
}
