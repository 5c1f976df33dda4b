package submission

import (
	"bytes"
	"net"
	"slices"
	"testing"
)

// writesConn records each Write it gets.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (w *writesConn) Write(b []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(b))
	return len(b), nil
}

// TestReplyLinesCoalesced: the continuation lines of a reply go out with
// its last line, in one write; single lines and anything that is not a
// continuation line (a TLS record) are written as they come.
func TestReplyLinesCoalesced(t *testing.T) {
	w := &writesConn{}
	c := &idleConn{Conn: w}
	tlsRecord := []byte{0x16, 0x03, 0x03, 0x00, 0x02, '4', '-', '\r', '\n'}
	for _, s := range [][]byte{
		[]byte("220 mx ESMTP\r\n"),
		[]byte("250-Hello x\r\n"), []byte("250-PIPELINING\r\n"), []byte("250 SIZE 100\r\n"),
		[]byte("250 2.0.0 OK\r\n"),
		[]byte("123-two\nlines\r\n"), // not one line: not held
		tlsRecord,
	} {
		if n, err := c.Write(s); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := [][]byte{
		[]byte("220 mx ESMTP\r\n"),
		[]byte("250-Hello x\r\n250-PIPELINING\r\n250 SIZE 100\r\n"),
		[]byte("250 2.0.0 OK\r\n"),
		[]byte("123-two\nlines\r\n"),
		tlsRecord,
	}
	if !slices.EqualFunc(w.writes, want, bytes.Equal) {
		t.Errorf("writes %q, want %q", w.writes, want)
	}
}
