package sendmail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/mail"
	"strings"

	"github.com/mtaq/mtaq/internal/intake"
)

// splitHeader is intake's header split (the same rules the daemon
// applies), without whether an empty line ended it: assemble always
// writes one.
func splitHeader(msg []byte) ([]intake.Field, []byte) {
	fields, body, _ := intake.SplitHeader(msg)
	return fields, body
}

// headerRcpts returns the addresses in every To, Cc and Bcc field (-t).
func headerRcpts(fields []intake.Field, hostname string) ([]string, error) {
	var out []string
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "to") && !strings.EqualFold(f.Name, "cc") && !strings.EqualFold(f.Name, "bcc") {
			continue
		}
		as, err := parseAddrs(f.Value(), hostname)
		if err != nil {
			return nil, fail(ExNoUser, "bad address in the %s: field: %v", f.Name, err)
		}
		out = append(out, as...)
	}
	return out, nil
}

// parseAddrs parses an RFC 5322 address list (groups, display names,
// comments). A bare user name, as cron and "mail root" give, gets
// @hostname. "undisclosed-recipients:;" is an empty list.
func parseAddrs(s, hostname string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if list, err := mail.ParseAddressList(s); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out, nil
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if isLocalName(part) {
			out = append(out, part+"@"+hostname)
			continue
		}
		a, err := mail.ParseAddress(part)
		if err != nil {
			return nil, err
		}
		out = append(out, a.Address)
	}
	return out, nil
}

// isLocalName accepts a user name without a domain: letters, digits and
// . _ - +.
func isLocalName(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-+", c) >= 0
		if !ok {
			return false
		}
	}
	return s != "" && s[0] != '.' && s[len(s)-1] != '.'
}

// headerFix is what sendmail adds to a message: the Bcc field removed
// with -t, and a From with -F's full name when there is none. Date and
// Message-ID, when missing, are added by intake at pickup, with the queue
// ID, as for every way in.
type headerFix struct {
	sender, fullName, hostname string
	dropBcc                    bool
}

// assemble rebuilds the message: Bcc removed when asked (-t), then From
// appended to the header when missing.
func (h headerFix) assemble(fields []intake.Field, body []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(body) + 512)
	for _, f := range fields {
		if h.dropBcc && strings.EqualFold(f.Name, "bcc") {
			continue
		}
		out.Write(f.Raw)
	}
	if !intake.Has(fields, "from") {
		from := h.sender
		if from == "" {
			from = "MAILER-DAEMON@" + h.hostname
		}
		out.WriteString("From: " + (&mail.Address{Name: h.fullName, Address: from}).String() + "\r\n")
	}
	out.WriteString("\r\n")
	out.Write(body)
	return out.Bytes()
}

var (
	errTooBig = errors.New("message too large")
	errNUL    = errors.New("message contains a NUL byte")
)

// readMessage reads a message from r and returns it with CRLF line
// endings: LF, CRLF and a bare CR each end a line (a bare CR relayed as is
// is the SMTP smuggling vector). Unless ignoreDots, a line holding only
// "." ends the input there, as sendmail has always done. More than limit
// bytes of output fail with errTooBig; memory stays bounded by limit.
func readMessage(r io.Reader, ignoreDots bool, limit int64) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out bytes.Buffer
	for {
		line, err := readLine(br, limit+2)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(line) > 0 {
			if !ignoreDots && isDotLine(line) {
				break
			}
			if werr := appendLine(&out, line); werr != nil {
				return nil, werr
			}
			if int64(out.Len()) > limit {
				return nil, errTooBig
			}
		}
		if err != nil { // io.EOF
			break
		}
	}
	return out.Bytes(), nil
}

// readLine returns the next line with its "\n" (none at EOF), reading at
// most max bytes of it.
func readLine(br *bufio.Reader, max int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if int64(len(line)) > max {
			return nil, errTooBig
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

func isDotLine(l []byte) bool {
	return string(l) == "." || string(l) == ".\n" || string(l) == ".\r\n"
}

// appendLine writes one input line as CRLF lines: its LF or CRLF becomes
// CRLF, each CR inside it ends a line too.
func appendLine(out *bytes.Buffer, l []byte) error {
	l = bytes.TrimSuffix(l, []byte("\n"))
	l = bytes.TrimSuffix(l, []byte("\r"))
	if bytes.IndexByte(l, 0) >= 0 {
		return errNUL
	}
	for {
		i := bytes.IndexByte(l, '\r')
		if i < 0 {
			break
		}
		out.Write(l[:i])
		out.WriteString("\r\n")
		l = l[i+1:]
	}
	out.Write(l)
	out.WriteString("\r\n")
	return nil
}
