package delivery

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
)

// wire is the session's own view of the connection: one buffered reader
// that every byte from the server goes through, and a buffered writer that
// collects commands until flush, so a pipelined group (RFC 2920) leaves in
// one write.
//
// go-smtp's client (greeting, EHLO, AUTH) reads through the same reader,
// via lineConn, a line at a time. That is what makes handing the
// connection back and forth safe: go-smtp keeps a bufio.Reader of its own,
// and whatever it had read ahead would be lost to us. lineConn never
// returns bytes past the end of a line, and go-smtp stops reading at the
// last line of a reply, so its buffer is empty whenever it returns; the
// rest, if the server sent anything more, is still in ours.
type wire struct {
	conn net.Conn // the deadlineConn, or the TLS connection over it
	r    *bufio.Reader
	w    *bufio.Writer
}

func newWire(c net.Conn) *wire {
	return &wire{conn: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 32<<10)}
}

// cmd queues a command line; flush sends what is queued.
func (w *wire) cmd(format string, args ...any) {
	fmt.Fprintf(w.w, format, args...)
	w.w.WriteString("\r\n")
}

func (w *wire) flush() error { return w.w.Flush() }

func (w *wire) read() (reply, error) { return readReply(w.r) }

// roundTrip sends one command and reads its reply.
func (w *wire) roundTrip(format string, args ...any) (reply, error) {
	w.cmd(format, args...)
	if err := w.flush(); err != nil {
		return reply{}, err
	}
	return w.read()
}

// body sends a normalised body (CRLF lines) dot-stuffed (RFC 5321
// 4.5.2), then the final dot. Every write has the connection's deadline.
func (w *wire) body(body []byte) error {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line = body[:i+1]
		}
		if line[0] == '.' {
			w.w.WriteByte('.')
		}
		w.w.Write(line)
		body = body[len(line):]
	}
	w.w.WriteString(".\r\n")
	return w.w.Flush()
}

// lineConn is the connection as go-smtp's client sees it: reads come from
// the session's reader and never run past a line end (see wire).
type lineConn struct {
	net.Conn
	r *bufio.Reader
}

func (c lineConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		p[n] = b
		n++
		if b == '\n' {
			break
		}
	}
	return n, nil
}
