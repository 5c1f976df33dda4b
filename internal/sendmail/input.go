package sendmail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

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
