package sendmail

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/intake"
)

func TestReadMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in         string
		ignoreDots bool
		want       string
	}{
		{"a\nb\n", false, "a\r\nb\r\n"},
		{"a\r\nb", false, "a\r\nb\r\n"},
		{"a\rb\r\n", false, "a\r\nb\r\n"},
		{"a\n.\nb\n", false, "a\r\n"},
		{"a\r\n.\r\nb\r\n", false, "a\r\n"},
		{"a\n.", false, "a\r\n"},
		{"a\n.\nb\n", true, "a\r\n.\r\nb\r\n"},
		{"a\n..\nb\n", false, "a\r\n..\r\nb\r\n"}, // no dot-stuffing outside SMTP
		{"a\n. \n", false, "a\r\n. \r\n"},
		{"", false, ""},
		{strings.Repeat("x", 100000) + "\n", false, strings.Repeat("x", 100000) + "\r\n"},
	} {
		got, err := readMessage(strings.NewReader(tc.in), tc.ignoreDots, 1<<20)
		if err != nil || string(got) != tc.want {
			t.Errorf("%.40q ignoreDots=%v: %.40q %v, want %.40q", tc.in, tc.ignoreDots, got, err, tc.want)
		}
	}
	if _, err := readMessage(strings.NewReader("a\x00b\n"), false, 100); !errors.Is(err, errNUL) {
		t.Errorf("NUL: %v", err)
	}
	if _, err := readMessage(strings.NewReader(strings.Repeat("a\n", 50)), false, 100); !errors.Is(err, errTooBig) {
		t.Errorf("100 bytes of output for 50 LF lines: %v, want too big", err)
	}
	if _, err := readMessage(strings.NewReader(strings.Repeat("a", 1000)), false, 100); !errors.Is(err, errTooBig) {
		t.Errorf("one long line: %v, want too big", err)
	}
	// The size limit counts what is kept, not what follows the dot.
	if got, err := readMessage(strings.NewReader("a\n.\n"+strings.Repeat("z", 1000)), false, 100); err != nil || string(got) != "a\r\n" {
		t.Errorf("after the dot: %q %v", got, err)
	}
}

func TestHeaderRcpts(t *testing.T) {
	t.Parallel()
	msg := "To: a@x.test, \"B, Person\" <b@x.test>\r\n" +
		"cc: Team: c@y.test, d@y.test;\r\n" +
		"BCC: e@z.test,\r\n f@z.test\r\n" +
		"To: undisclosed-recipients:;\r\n" +
		"Subject: To: nobody@nowhere.test\r\n" +
		"Bcc: root\r\n" +
		"\r\n" +
		"To: g@body.test\r\n"
	fields, body := splitHeader([]byte(msg))
	got, err := headerRcpts(fields, "h.test")
	want := []string{"a@x.test", "b@x.test", "c@y.test", "d@y.test", "e@z.test", "f@z.test", "root@h.test"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("headerRcpts: %q %v, want %q", got, err, want)
	}
	out := string(headerFix{hostname: "h.test", sender: "s@h.test", dropBcc: true}.assemble(fields, body))
	if strings.Contains(strings.ToLower(out), "bcc") || strings.Contains(out, "f@z.test") {
		t.Fatalf("Bcc left in:\n%s", out)
	}
	if !strings.HasPrefix(out, "To: a@x.test") || !strings.HasSuffix(out, "\r\n\r\nTo: g@body.test\r\n") {
		t.Fatalf("message damaged:\n%s", out)
	}
	if _, err := headerRcpts([]intake.Field{{Name: "To", Raw: []byte("To: <broken\r\n")}}, "h.test"); exitCode(err) != ExNoUser {
		t.Fatalf("bad To: %v", err)
	}
}

// sendmail adds From with -F's name; Date and Message-ID are intake's
// (TestPickupFixesUp in the e2e tests).
func TestAssembleAddsMissingFrom(t *testing.T) {
	t.Parallel()
	fix := headerFix{hostname: "h.test", sender: "cron@h.test", fullName: "Cron Daemon"}
	fields, body := splitHeader([]byte("Subject: s\r\n\r\nbody\r\n"))
	want := "Subject: s\r\nFrom: \"Cron Daemon\" <cron@h.test>\r\n\r\nbody\r\n"
	if got := string(fix.assemble(fields, body)); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// Present fields are kept as they are; a message without a header
	// ("echo hi | sendmail root") gets one.
	fields, body = splitHeader([]byte("FROM: a@b.test\r\ndate: x\r\nMessage-Id: <y>\r\n\r\nb\r\n"))
	if got := string(fix.assemble(fields, body)); got != "FROM: a@b.test\r\ndate: x\r\nMessage-Id: <y>\r\n\r\nb\r\n" {
		t.Fatalf("existing fields changed: %q", got)
	}
	fields, body = splitHeader([]byte("hi there\r\n"))
	if got := string(fix.assemble(fields, body)); !strings.HasSuffix(got, ">\r\n\r\nhi there\r\n") || len(fields) != 0 {
		t.Fatalf("headerless message: %q", got)
	}
}
