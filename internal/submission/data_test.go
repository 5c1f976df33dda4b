package submission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// afterReceived strips the Received field mtaq prepends and the From,
// Date and Message-ID fields intake adds under it to a message that
// lacks them, with the empty line a headerless message gets after them
// (the fix-up has its own tests in internal/intake).
func afterReceived(t *testing.T, body []byte) string {
	t.Helper()
	i := bytes.Index(body, []byte("+0000\r\n"))
	if !bytes.HasPrefix(body, []byte("Received: ")) || i < 0 {
		t.Fatalf("no Received field: %q", body)
	}
	rest := string(body[i+len("+0000\r\n"):])
	n := len(rest)
	for _, added := range []*regexp.Regexp{addedFrom, addedDate, addedID} {
		rest = strings.TrimPrefix(rest, added.FindString(rest))
	}
	if len(rest) < n {
		// A message with no header of its own gets the empty line that
		// ends the added fields.
		rest = strings.TrimPrefix(rest, "\r\n")
	}
	return rest
}

var (
	addedFrom = regexp.MustCompile(`^From: <[^>\r\n]*>\r\n`)
	addedDate = regexp.MustCompile(`^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000\r\n`)
	addedID   = regexp.MustCompile(`^Message-ID: <[0-9A-Z]+@mx\.test>\r\n`)
)

func TestBareLineEndingsNormalised(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.send("Subject: x\nline1\rline2\r\r\n\r\nbody\n..dot\r\n.\r\n")
	_, bodies := e.store.messages()
	want := "Subject: x\r\nline1\r\nline2\r\n\r\n\r\nbody\r\n..dot\r\n"
	if got := afterReceived(t, bodies[0]); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// A bare-LF "end of data" must not end DATA: what follows is body text, not
// a second transaction (SMTP smuggling).
func TestSmugglingYieldsOneMessage(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.cmd("DATA", "354 ")
	c.write("Subject: s\r\n\r\nhello\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\n" +
		"evil\r\n.\nQUIT\r\nrest\r\n.\r\n")
	c.expectReply("250 2.0.0 Ok: queued as Q0001")
	c.write("QUIT\r\n")
	c.expectReply("221 ")
	if _, err := c.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("more after QUIT: %v", err)
	}
	msgs, bodies := e.store.messages()
	if len(msgs) != 1 || msgs[0].Recipients[0].Address != "x@example.test" {
		t.Fatalf("messages %+v", msgs)
	}
	want := "Subject: s\r\n\r\nhello\r\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\n" +
		"evil\r\n\r\nQUIT\r\nrest\r\n" // go-smtp unstuffs the "." after CRLF
	if got := afterReceived(t, bodies[0]); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestNULRefused(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	if got := c.send("a\x00b\r\n.\r\n"); !strings.HasPrefix(got, "554 5.6.0") {
		t.Fatalf("reply %q", got)
	}
}

func TestDataIdleTimeout(t *testing.T) {
	// Wide margins (writes every 200 ms against a 1 s idle limit): a loaded
	// CI machine must not turn a pause into a timeout before the end.
	e := start(t, func(o *Options) { o.ReadTimeout = time.Second })
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.cmd("DATA", "354 ")
	for range 3 { // each write renews the idle deadline
		c.write("line\r\n")
		time.Sleep(200 * time.Millisecond)
	}
	c.expectReply("451 4.4.2")
	c.write("RSET\r\n") // never read as a command
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			break // closed
		}
		if !strings.HasPrefix(line, "421 ") {
			t.Fatalf("after timeout: %q", line)
		}
	}
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}

// endless never ends; readBody must stop at the limit on its own.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
		if i%100 == 99 {
			p[i] = '\n'
		}
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadBodyBounded(t *testing.T) {
	t.Parallel()
	src := &endless{}
	if _, err := readBody(src, 1<<20); !errors.Is(err, errTooBig) {
		t.Fatalf("err %v", err)
	}
	if src.n > 1<<20+64<<10 {
		t.Fatalf("read %d bytes for a 1 MiB limit", src.n)
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":               "",
		"a":              "a\r\n",
		"a\r":            "a\r\n",
		"a\r\n":          "a\r\n",
		"\r\r\n\n":       "\r\n\r\n\r\n",
		"a\nb\rc\r\nd\n": "a\r\nb\r\nc\r\nd\r\n",
	} {
		got, err := readBody(strings.NewReader(in), 100)
		if err != nil || string(got) != want {
			t.Errorf("readBody(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := readBody(strings.NewReader("123456789\n"), 10); !errors.Is(err, errTooBig) {
		t.Errorf("11 bytes over 10: %v", err)
	}
	if got, err := readBody(strings.NewReader("12345678\r\n"), 10); err != nil || len(got) != 10 {
		t.Errorf("exactly at limit: %q %v", got, err)
	}
}

// Bodies reuse pooled buffers (bodyReaders, memBodies): a short body
// after a long one must come out alone, with nothing of the long one.
func TestReadBodyAfterLongerBody(t *testing.T) {
	long := strings.Repeat("long line of the first message\r\n", 100)
	for i := range 20 {
		if got, err := readBody(strings.NewReader(long), 1<<20); err != nil || string(got) != long {
			t.Fatalf("round %d, long body: %d bytes, %v", i, len(got), err)
		}
		short := fmt.Sprintf("short %d\n", i)
		if got, err := readBody(strings.NewReader(short), 1<<20); err != nil || string(got) != strings.TrimSuffix(short, "\n")+"\r\n" {
			t.Fatalf("round %d, short body after a long one: %q, %v", i, got, err)
		}
	}
}

// reference normalises with plain string replacement, for the fuzzer.
func reference(in string) string {
	s := strings.ReplaceAll(in, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

func FuzzDataReader(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\r\r\n\n", "x\r", "\x00", "hello\n.\nMAIL FROM:<a@b>\r\n", strings.Repeat("\n", 50)} {
		f.Add([]byte(s), uint16(64))
	}
	f.Fuzz(func(t *testing.T, in []byte, limit uint16) {
		lim := int64(limit)
		got, err := readBody(bytes.NewReader(in), lim)
		one, err1 := readBody(iotest.OneByteReader(bytes.NewReader(in)), lim)
		if !errors.Is(err, err1) || !bytes.Equal(got, one) {
			t.Fatalf("chunking changed the result: %q %v vs %q %v", got, err, one, err1)
		}
		want := reference(string(in))
		switch {
		case bytes.IndexByte(in, 0) >= 0 && errors.Is(err, errNUL):
		case errors.Is(err, errTooBig) && int64(len(want)) > lim:
		case err != nil:
			t.Fatalf("unexpected error %v for %q (limit %d)", err, in, lim)
		case string(got) != want:
			t.Fatalf("got %q want %q", got, want)
		case int64(len(got)) > lim:
			t.Fatalf("output %d over limit %d", len(got), lim)
		}
	})
}

// BDAT chunks reach Data raw (go-smtp runs Data in its own goroutine); the
// same normaliser and limits apply.
func TestBDAT(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 12\r\nSubject: b\nh")
	c.expectReply("250 2.0.0 Continue")
	c.write("BDAT 6 LAST\r\ni\r\nx\r\r")
	c.expectReply("250 2.0.0 Ok: queued as Q0001")
	msgs, bodies := e.store.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := afterReceived(t, bodies[0]); got != "Subject: b\r\nhi\r\nx\r\n\r\n" {
		t.Fatalf("body %q", got)
	}
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 5000 LAST\r\n" + strings.Repeat("z", 5000))
	c.expectReply("552 5.3.4")
}

// RSET between BDAT chunks ends the connection (see readError) and stores
// nothing.
func TestBDATReset(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := e.dial(t)
	c.envelope("a@b.test", "x@example.test")
	c.write("BDAT 5\r\nhello")
	c.expectReply("250 ")
	c.write("RSET\r\n")
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			break
		}
		if !strings.HasPrefix(line, "250 ") {
			t.Fatalf("after RSET: %q", line)
		}
	}
	if msgs, _ := e.store.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d", len(msgs))
	}
}
