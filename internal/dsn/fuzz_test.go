package dsn

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzBuild feeds hostile remote replies, addresses and original headers
// to the builder: it must not panic, and what it builds must stay a
// well-formed message whose reply text cannot inject header fields or
// exceed SMTP's line limit.
func FuzzBuild(f *testing.F) {
	f.Add("550 5.1.1 user unknown", "nobody@example.test", "5.1.1", []byte("Subject: hi\r\nMessage-ID: <a@b>\r\n"))
	f.Add("a\r\nX-Injected: yes\r\n\r\nbody", "x@y.test\r\nBcc: z@w", "4.7.1", []byte("Subject: \xff\r\n"))
	f.Add(strings.Repeat("long ", 400), "a@b", "", []byte(strings.Repeat("X-H: v\r\n", 3000)))
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text, rcpt, enhanced string, headers []byte) {
		msg, err := Build(Input{
			Hostname: "mtaq.test", ID: "06H0DSNTEST00001", Now: t0, To: "app@sender.test",
			QueueID: "06H0ORIGINAL0001", Arrived: t0, Headers: headers,
			Rcpts: []Recipient{{Address: rcpt, Action: Failed, Code: 550, Enhanced: enhanced,
				Text: text, Category: "user_unknown", MX: "mx.example.test", LastTry: t0}},
		})
		if err != nil {
			return
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("built an unparsable message: %v", err)
		}
		if m.Header.Get("X-Injected") != "" || m.Header.Get("Bcc") != "" {
			t.Fatal("reply text or address injected a header field")
		}
		for _, line := range bytes.Split(msg, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d octets", len(line))
			}
			// The original headers are quoted as they were; only the reply
			// text must not add a field.
			if bytes.HasPrefix(line, []byte("X-Injected:")) && !bytes.Contains(headers, []byte("X-Injected")) {
				t.Fatal("reply text injected a field into a part")
			}
		}
	})
}

func TestWrapKeepsEveryWordAndTheWidth(t *testing.T) {
	t.Parallel()
	in := "    mx.example.test said: 550 5.1.1 " + strings.Repeat("word ", 60) + strings.Repeat("x", 200)
	out := wrap(in, "      ")
	for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > wrapWidth {
			t.Fatalf("line of %d: %q", len(l), l)
		}
	}
	if got := strings.Join(strings.Fields(strings.ReplaceAll(out, "\r\n", "")), ""); got != strings.Join(strings.Fields(in), "") {
		t.Fatalf("words changed:\n%q\n%q", got, strings.Join(strings.Fields(in), ""))
	}
	if !strings.HasPrefix(out, "    mx.example.test said: 550 5.1.1 word") {
		t.Fatalf("first line %q", out[:60])
	}
}
