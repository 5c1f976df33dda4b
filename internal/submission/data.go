package submission

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors of readBody; the session turns them into replies.
var (
	errTooBig = errors.New("message exceeds the size limit")
	errNUL    = errors.New("message contains a NUL byte")
)

// readBody reads a DATA body (already dot-unstuffed by go-smtp) and returns
// it with every line ending as CRLF: bare LF and bare CR each become CRLF,
// because go-smtp passes them through and a relayed bare LF is the SMTP
// smuggling vector. NUL bytes are refused: they cannot be relayed over
// 8BITMIME and are never legitimate in text mail. At most limit bytes of
// output are kept; one more fails with errTooBig, so memory stays bounded
// whatever the client sends. Read errors are returned as they are.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var out bytes.Buffer
	n := &normaliser{out: &out, limit: limit}
	for {
		chunk, err := br.ReadSlice('\n')
		if werr := n.write(chunk); werr != nil {
			return nil, werr
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return n.finish()
		default:
			return nil, err
		}
	}
}

// normaliser is the line-ending state machine of readBody. It is fed in
// arbitrary chunks, so a CR ending one chunk waits for the next (pendingCR).
type normaliser struct {
	out       *bytes.Buffer
	limit     int64
	pendingCR bool
}

func (n *normaliser) write(p []byte) error {
	for len(p) > 0 {
		if n.pendingCR {
			n.pendingCR = false
			n.out.WriteString("\r\n")
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n\x00")
		if i < 0 {
			n.out.Write(p)
			break
		}
		n.out.Write(p[:i])
		switch p[i] {
		case 0:
			return errNUL
		case '\r':
			n.pendingCR = true
		case '\n':
			n.out.WriteString("\r\n")
		}
		p = p[i+1:]
		if int64(n.out.Len()) > n.limit {
			return errTooBig
		}
	}
	if int64(n.out.Len()) > n.limit {
		return errTooBig
	}
	return nil
}

// finish flushes a trailing CR and ends an unterminated last line, so the
// stored body always ends in CRLF.
func (n *normaliser) finish() ([]byte, error) {
	if n.pendingCR {
		n.pendingCR = false
		n.out.WriteString("\r\n")
	}
	if b := n.out.Bytes(); len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		n.out.WriteString("\r\n")
	}
	if int64(n.out.Len()) > n.limit {
		return nil, errTooBig
	}
	return n.out.Bytes(), nil
}

// countReceived counts Received: fields in the header section (up to the
// first empty line) of a CRLF-normalised message; a loop shows up as many.
func countReceived(msg []byte) int {
	count := 0
	for len(msg) > 0 {
		line := msg
		if i := bytes.Index(msg, []byte("\r\n")); i >= 0 {
			line, msg = msg[:i], msg[i+2:]
		} else {
			msg = nil
		}
		if len(line) == 0 {
			break // end of header
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimRight(name, " \t")), "received") {
			count++
		}
	}
	return count
}

// traceInfo is what the Received field records.
type traceInfo struct {
	helo, ip, hostname, id, rcpt string
	at                           time.Time
}

// receivedField builds an RFC 5321 §4.4 trace field, folded so each line
// stays short. The HELO name is client text: it is cleaned before use.
func receivedField(t traceInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (mtaq) with ESMTP", clean(t.helo), t.ip, t.hostname)
	if t.id != "" {
		fmt.Fprintf(&b, " id %s", t.id)
	}
	if t.rcpt != "" {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", t.rcpt)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", t.at.Format(time.RFC1123Z))
	return b.String()
}

// clean keeps printable ASCII other than comment delimiters, so a HELO
// argument cannot break the header's structure.
func clean(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
