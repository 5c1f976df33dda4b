package smtptest

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// QueuedAs matches mtaq's final-dot reply; group 1 is the queue ID.
var QueuedAs = regexp.MustCompile(`queued as ([0-9A-Z]+)`)

// Submit sends one small message from `from` to `to` over SMTP at addr, as
// an app would, and returns the queue ID the final-dot reply names ("250
// 2.0.0 Ok: queued as ID"). Any refusal fails the test.
func Submit(t testing.TB, addr, from string, to ...string) string {
	t.Helper()
	data := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: e2e\r\n\r\nhello\r\n", from, strings.Join(to, ", "))
	return SubmitMessage(t, addr, from, nil, data, to...)
}

// SubmitMessage is Submit with the MAIL parameters (SMTPUTF8, ...) and the
// message text (CRLF lines) given.
func SubmitMessage(t testing.TB, addr, from string, opts *smtp.MailOptions, data string, to ...string) string {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("app.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, opts); err != nil {
		t.Fatal(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	m := QueuedAs.FindStringSubmatch(resp.StatusText)
	if m == nil {
		t.Fatalf("final-dot reply %q names no queue ID", resp.StatusText)
	}
	return m[1]
}

// SubmitParallel is a benchmark's SMTP clients: each of b.RunParallel's
// goroutines keeps one connection to addr and sends msg from
// app@example.org to rcpt@example.test until the benchmark has run b.N.
func SubmitParallel(b *testing.B, addr string, msg []byte) {
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		if err := c.Hello("bench.test"); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if err := c.SendMail("app@example.org", []string{"rcpt@example.test"}, bytes.NewReader(msg)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
