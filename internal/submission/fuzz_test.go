package submission

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/smtptest"
)

// fuzzEnv is one real server for the whole fuzz process: starting one per
// input would cost more than the input.
var fuzzEnv struct {
	once   sync.Once
	store  *fakeStore
	addr   string
	err    error
	inputs int
}

func fuzzServer(t *testing.T) (*fakeStore, string) {
	fuzzEnv.once.Do(func() {
		fuzzEnv.store = &fakeStore{suppressed: map[string]bool{"gone@example.test": true}}
		srv, err := New(Options{
			Hostname:        "mx.test",
			Listen:          []string{"127.0.0.1:0"},
			Trusted:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			MaxMessageBytes: 2048,
			MaxRecipients:   5,
			MaxReceived:     3,
			Store:           fuzzEnv.store,
			NewID:           fuzzEnv.store.newID,
			Clock:           clock.NewFake(t0),
			Logger:          zap.NewNop(),
			ReadTimeout:     2 * time.Second,
		})
		if err == nil {
			err = srv.Start()
		}
		if err != nil {
			fuzzEnv.err = err
			return
		}
		fuzzEnv.addr = srv.Addrs()[0].String() // lives as long as the process
	})
	if fuzzEnv.err != nil {
		t.Fatal(fuzzEnv.err)
	}
	return fuzzEnv.store, fuzzEnv.addr
}

var (
	replyLine = regexp.MustCompile(`^[2-5][0-9][0-9]([ -][^\x00-\x1f\x7f]*)?$`)
	queuedAs  = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as (Q[0-9]{4,})$`)
	// go-smtp echoes client bytes as they are in two replies: a later
	// EHLO/HELO's argument (see badHelo) and an unknown verb. Those
	// may hold control characters; nothing else may.
	echo = regexp.MustCompile(`(?s)^(250[ -](2\.0\.0 )?Hello |500 5\.5\.2 Syntax errors, .* command unrecognized$)`)
)

// fuzzSession writes in as one client's byte stream, half-closes, and returns
// every reply line until the server hangs up.
func fuzzSession(t *testing.T, addr string, in []byte) []string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { // the server may stop reading (a too long line): never block on it
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("no EOF from the server (hang?): %v after %q", err, out)
	}
	if len(out) == 0 {
		t.Fatal("not even a greeting")
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		t.Fatalf("reply not ended by CRLF: %q", out)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
}

// FuzzSession drives the real listener with arbitrary client bytes. What
// must hold whatever they are: no panic (go-smtp would answer 421 4.0.0),
// no hang, well-formed reply lines, exactly one stored message per "queued
// as" reply, with that ID, and stored bodies that are CRLF-only without
// NUL. Every 200 inputs a well-behaved client still gets its 250.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\nSubject: s\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<gone@example.test>\r\nDATA\r\nhi\r\n.\r\n" +
			"MAIL FROM:<>\r\nRCPT TO:<y@example.test>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nBDAT 6\r\nhello\nBDAT 3 LAST\r\n.\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\nhello\n.\nMAIL FROM:<e@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\nevil\r\n.\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\nhello\r\n.\rMAIL FROM:<e@x.test>\r\n.\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nBDAT 20 LAST\r\nhi\r\n.\r\nMAIL FROM:<e>\r\n",
		"EHLO c.test\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test> SIZE=99999\r\nRCPT TO:<\"a> NOTIFY=SUCCESS\"@x.test>\r\nRSET\r\nNOOP\r\n",
		"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nBDAT 4\r\nabcdRSET\r\nDATA\r\n",
		"HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@example.test>\r\nDATA\r\nReceived: 1\r\nReceived: 2\r\nReceived: 3\r\nReceived: 4\r\n\r\n.\r\n",
		"EHLO c.test\r\nAUTH PLAIN AGFwcDEAc2VjcmV0\r\nVRFY x\r\n\x00\xff\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		store, addr := fuzzServer(t)
		msgs, _ := store.messages()
		before := len(msgs)
		var ids []string
		for _, l := range fuzzSession(t, addr, in) {
			if !replyLine.MatchString(l) && !echo.MatchString(l) {
				t.Fatalf("malformed reply line %q", l)
			}
			if strings.HasPrefix(l, "421 4.0.0") {
				t.Fatalf("a panic was recovered: %q", l)
			}
			if m := queuedAs.FindStringSubmatch(l); m != nil {
				ids = append(ids, m[1])
			}
		}
		msgs, bodies := store.messages()
		if got := len(msgs) - before; got != len(ids) {
			t.Fatalf("%d messages stored, %d queued-as replies", got, len(ids))
		}
		for i, id := range ids {
			m, b := msgs[before+i], bodies[before+i]
			if m.ID != id {
				t.Fatalf("reply named %s, store holds %s", id, m.ID)
			}
			if bytes.IndexByte(b, 0) >= 0 || !crlfOnly(b) {
				t.Fatalf("stored body not CRLF-only or holds NUL: %q", b)
			}
		}
		if fuzzEnv.inputs++; fuzzEnv.inputs%200 == 0 {
			if id := smtptest.Submit(t, addr, "app@sender.test", "x@example.test"); id == "" {
				t.Fatal("a well-behaved client got no queue ID")
			}
		}
	})
}

// crlfOnly reports whether every CR and LF in b is part of a CRLF pair.
func crlfOnly(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return false
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return false
		}
	}
	return true
}
