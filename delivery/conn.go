package delivery

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// deadlineConn gives every Read and Write its own deadline, timeout from
// now, so a peer that stops reading or writing (also in the middle of the
// message body, where go-smtp sets no deadline) is dropped after timeout of
// silence. It ignores the deadlines go-smtp sets and clears around each
// command: ours cover more. It also counts bytes written, which tells a
// failed greeting (nothing sent yet) from a failed EHLO.
type deadlineConn struct {
	net.Conn
	clock   clock.Clock
	timeout atomic.Int64 // time.Duration
	next    atomic.Int64 // time.Duration: timeout from the next write on; 0: none
	wrote   atomic.Int64
}

func newDeadlineConn(c net.Conn, clk clock.Clock, timeout time.Duration) *deadlineConn {
	dc := &deadlineConn{Conn: c, clock: clk}
	dc.setTimeout(timeout)
	return dc
}

func (c *deadlineConn) setTimeout(d time.Duration) { c.timeout.Store(int64(d)) }

// awaitGreeting reads with the greeting timeout until our first write
// (EHLO: the greeting is in), then with then.
func (c *deadlineConn) awaitGreeting(greeting, then time.Duration) {
	c.next.Store(int64(then))
	c.setTimeout(greeting)
}

func (c *deadlineConn) deadline() time.Time {
	return c.clock.Now().Add(time.Duration(c.timeout.Load()))
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if d := c.next.Swap(0); d != 0 {
		c.setTimeout(time.Duration(d))
	}
	if err := c.Conn.SetWriteDeadline(c.deadline()); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.wrote.Add(int64(n))
	return n, err
}

func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// prefixConn reads prefix before the connection's own bytes. After
// STARTTLS the server sends no new greeting, but a fresh go-smtp client
// waits for one: prefixConn supplies it.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func newPrefixConn(c net.Conn, prefix string) *prefixConn {
	return &prefixConn{Conn: c, r: io.MultiReader(strings.NewReader(prefix), c)}
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// maxLine is RFC 5321 4.5.3.1.6: 1000 octets with the CRLF.
const maxLine = 998

// normalizeBody returns body with every bare CR and bare LF turned into
// CRLF, a final CRLF added if missing, and lines over 998 octets broken by
// inserting CRLF SPACE, as Postfix's smtp_line_length_limit does: apps send
// unwrapped HTML, receivers refuse over-long lines, and a continuation that
// starts with a space is a folded header line or harmless body text (base64
// and quoted-printable lines are never that long). go-smtp's dot writer does
// the dot-stuffing and turns LF into CRLF, but passes a bare CR through.
func normalizeBody(body []byte) []byte {
	if wireReady(body) {
		return body // mtaq's own intake stores CRLF lines: the usual case, no copy
	}
	out := make([]byte, 0, len(body)+len(body)/64+2)
	line := 0
	for i := 0; i < len(body); i++ {
		switch b := body[i]; b {
		case '\r':
			if i+1 < len(body) && body[i+1] == '\n' {
				i++
			}
			out, line = append(out, '\r', '\n'), 0
		case '\n':
			out, line = append(out, '\r', '\n'), 0
		default:
			if line == maxLine {
				out, line = append(out, '\r', '\n', ' '), 1
			}
			out, line = append(out, b), line+1
		}
	}
	if line > 0 {
		out = append(out, '\r', '\n')
	}
	return out
}

// wireReady reports whether normalizeBody would return body unchanged:
// not empty, every line ending in CRLF with no other CR and at most
// maxLine octets before it. The caller only reads what it returns, so
// the body may then be sent as it is.
func wireReady(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		if i < 1 || body[i-1] != '\r' || i-1 > maxLine || bytes.IndexByte(body[:i-1], '\r') >= 0 {
			return false
		}
		body = body[i+1:]
	}
	return true
}

// checkAddr refuses what would corrupt the command line or inject ESMTP
// parameters: CR, LF, angle brackets, and spaces (a quoted local part with
// a space is legal but go-smtp's server unquotes it on the way in; see
// PITFALLS, so we do not relay it).
func checkAddr(addr string) error {
	if strings.ContainsAny(addr, "\r\n<> ") {
		return errors.New("address contains CR, LF, angle brackets or spaces")
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
