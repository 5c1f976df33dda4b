package feedback

import (
	"strings"
	"testing"
)

// hostileInputs are n-byte inputs of the shapes the heuristics work
// hardest on.
func hostileInputs(n int) map[string]string {
	head := "From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n"
	fill := func(unit string) string { return strings.Repeat(unit, n/len(unit)) }
	return map[string]string{
		"one-line-addrs":  head + "\n" + fill("a@b.example "),
		"lines-addrs":     head + "\n" + fill("<a@b.example>: 550 5.1.1 no\n"),
		"at-signs":        head + "\n" + fill("@"),
		"dots":            head + "\n" + fill("a.b."),
		"html-mailto":     head + "Content-Type: text/html\n\n<html>" + fill("<a href=\"mailto:x@y.example\">"),
		"html-tags":       head + "Content-Type: text/html\n\n<html>" + fill("<td"),
		"codes":           head + "\n" + fill("550 5.1.1 550-"),
		"folded-header":   head + "X-A: b\n" + fill(" c\n") + "\nbody\n",
		"boundaries":      head + "Content-Type: multipart/report; boundary=b\n\n" + fill("--b\n"),
		"guess-boundary":  head + "Content-Type: multipart/mixed\n\n" + fill("--abcdef\ncontent-type: text/plain\n"),
		"dsn-fields":      head + "Content-Type: message/delivery-status\n\n" + fill("Final-Recipient: rfc822; a@b.example\n"),
		"base64":          head + "Content-Transfer-Encoding: base64\n\n" + fill("QUJD"),
		"qp":              head + "Content-Transfer-Encoding: quoted-printable\n\n" + fill("=\n"),
		"header-fields":   head + fill("Received: x\n"),
		"inline-headers":  head + "\n" + fill("From: a@b.example\nSubject: x\nTo: c@d.example\n\n"),
		"rfc822-nest":     head + "Content-Type: message/rfc822\n\n" + fill("Content-Type: message/rfc822\n\n"),
		"encoded-words":   "From: MAILER-DAEMON@x.example\nSubject: " + fill("=?utf-8?q?a?= ") + "\n\nx\n",
		"blank-lines":     head + "\n" + fill("\n"),
		"arf":             head + "Content-Type: message/feedback-report\n\n" + fill("Feedback-Type: abuse\n"),
		"mailto-unclosed": head + "Content-Type: text/html\n\n<html>" + fill("<a href=mailto:"),
	}
}

// TestParseHostileBig: inputs of the shapes the heuristics work hardest
// on parse into a bounded report (F1): 10 MiB each, 64 KiB under the race
// detector, which is ten times slower. How long they take is
// BenchmarkParseHostile's to show, not a test's to assert.
func TestParseHostileBig(t *testing.T) {
	n := DefaultMaxBytes - 4096
	if raceEnabled {
		n = 64 << 10
	}
	for name, in := range hostileInputs(n) {
		rep, err := Parse([]byte(in), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Recipients) > maxRecipients {
			t.Errorf("%s: %d recipients, over the cap", name, len(rep.Recipients))
		}
		for _, r := range rep.Recipients {
			if len(r.Text) > maxText {
				t.Errorf("%s: %d bytes of text, over the cap", name, len(r.Text))
			}
		}
	}
}

// BenchmarkParseHostile: go test -run '^$' -bench ParseHostile ./internal/feedback
func BenchmarkParseHostile(b *testing.B) {
	for name, in := range hostileInputs(DefaultMaxBytes - 4096) {
		raw := []byte(in)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				if _, err := Parse(raw, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
