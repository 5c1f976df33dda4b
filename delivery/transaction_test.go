package delivery

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestReplyFields(t *testing.T) {
	for _, tc := range []struct {
		in       smtp.SMTPError
		enhanced string
		text     string
	}{
		{smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no user"}, "5.1.1", "no user"},
		{smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "5.7.1 blocked"}, "5.7.1", "blocked"},
		{smtp.SMTPError{Code: 451, EnhancedCode: smtp.NoEnhancedCode, Message: "4.7.1 grey"}, "4.7.1", "grey"},
		{smtp.SMTPError{Code: 554, Message: "no enhanced code here"}, "", "no enhanced code here"},
		{smtp.SMTPError{Code: 550, Message: "5.1 not a code"}, "", "5.1 not a code"},
		{smtp.SMTPError{Code: 550, Message: "5.1.1234 too long"}, "", "5.1.1234 too long"},
	} {
		code, enh, text := replyFields(&tc.in)
		if code != tc.in.Code || enh != tc.enhanced || text != tc.text {
			t.Errorf("%+v: got %d %q %q, want %q %q", tc.in, code, enh, text, tc.enhanced, tc.text)
		}
	}
}

func TestNormalizeBody(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"", ""},
		{"a", "a\r\n"},
		{"a\r\n", "a\r\n"},
		{"a\nb\rc\r\n\r\n", "a\r\nb\r\nc\r\n\r\n"},
		{"\r\r\n\n", "\r\n\r\n\r\n"},
		{"a\r\nb", "a\r\nb\r\n"},
		{"a\r\nb\rc\r\n", "a\r\nb\r\nc\r\n"},
		{"a\r\nb\n", "a\r\nb\r\n"},
		{"a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
	} {
		if got := normalizeBody([]byte(tc.in)); string(got) != tc.out {
			t.Errorf("%q: got %q; want %q", tc.in, got, tc.out)
		}
	}
	line := make([]byte, maxLine)
	for i := range line {
		line[i] = 'x'
	}
	if got := normalizeBody(append(line, "\r\n"...)); len(got) != 1000 {
		t.Errorf("998-octet line changed: %d octets", len(got))
	}
	if got := normalizeBody(append(line, "x\r\n"...)); string(got[998:]) != "\r\n x\r\n" {
		t.Errorf("999-octet line: got ...%q", got[990:])
	}
}

func TestDNSErrorMessage(t *testing.T) {
	err := newDNSError("x.test.", "MX", KindServFail, errors.New("127.0.0.1:53 answered SERVFAIL"))
	want := "dns MX x.test: dns server failure: 127.0.0.1:53 answered SERVFAIL"
	if err.Error() != want || !err.Temporary() {
		t.Errorf("got %q temporary %v", err.Error(), err.Temporary())
	}
}

// BenchmarkNormalizeBody is the body preparation of every delivery, for a
// 3 KB message as mtaq's intake stores it (CRLF lines).
func BenchmarkNormalizeBody(b *testing.B) {
	body := []byte("From: a@sender.test\r\nTo: b@rcpt.test\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXY\r\n", 46))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if out := normalizeBody(body); len(out) != len(body) {
			b.Fatalf("%d bytes out of %d", len(out), len(body))
		}
	}
}

func TestHas8bit(t *testing.T) {
	for n := range 40 {
		b := []byte(strings.Repeat("a", n))
		if has8bit(b) {
			t.Fatalf("%d ASCII bytes reported 8-bit", n)
		}
		for i := range n {
			b[i] = 0x80 | byte(i)
			if !has8bit(b) {
				t.Fatalf("8-bit byte at %d of %d missed", i, n)
			}
			b[i] = 0x7f
		}
	}
}

// BenchmarkHas8bit is the 8-bit check of every delivery, over a 3 KB
// ASCII body (the whole body is read).
func BenchmarkHas8bit(b *testing.B) {
	body := []byte(strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXY\r\n", 47))
	b.SetBytes(int64(len(body)))
	for range b.N {
		if has8bit(body) {
			b.Fatal("ASCII reported 8-bit")
		}
	}
}
