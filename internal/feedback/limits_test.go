package feedback

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestParseOriginal: what a report says of the original message comes
// from the returned message, the report's envelope fields and the
// report's per-message fields.
func TestParseOriginal(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Original
	}{
		{"postfix-dsn.eml", Original{QueueID: "06A2M3KQ8C9T0V1W", Token: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa", MessageID: "order-1001@example.com",
			Sender: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa@bounce.example.com", Recipient: "nobody.here@example.org"}},
		{"exim-text.eml", Original{QueueID: "06A2M3KQ8C9T0V1W", MessageID: "t-2@example.com", Sender: "sender@example.com"}},
		{"arf-redacted.eml", Original{QueueID: "06A2M3KQ8C9T0V1W", Token: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa", MessageID: "nl-99@example.com",
			Sender: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa@bounce.example.com"}},
		{"arf-recover.eml", Original{Token: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa", MessageID: "sale-5@example.com",
			Sender: "b-06a2m3kq8c9t0v1w-k3m9p2x7qa@bounce.example.com", Recipient: "buyer@yahoo.example"}},
		{"o365-ndr.eml", Original{QueueID: "06A2M3KQ8C9T0V1W", MessageID: "qr-7@example.com", Sender: "sender@example.com", Recipient: "alex.w@contoso.example"}},
	} {
		raw, err := os.ReadFile("testdata/docs/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Parse(raw, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Original != tc.want {
			t.Errorf("%s: original\n got %+v\nwant %+v", tc.file, rep.Original, tc.want)
		}
	}
}

// TestParseClassify: the classifier sees failed and delayed recipients
// with the reply text less its codes and the recipient's domain.
func TestParseClassify(t *testing.T) {
	raw, err := os.ReadFile("testdata/docs/rfc3464-multi.eml")
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	rep, err := Parse(raw, Options{Classify: func(code int, enhanced, text, domain string) (string, string, bool) {
		calls = append(calls, fmt.Sprintf("%d|%s|%s|%s", code, enhanced, text, domain))
		return "hard", "user_unknown", code >= 500
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"550|5.0.0|'arathib@vnet.example.org' is not a registered gateway user|vnet.example.org",
		"426|4.0.0|connection timed out|hpnjld.example.com",
		"550|5.1.1|user unknown|sdcc13.example.edu",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if r := rep.Recipients[1]; r.Class != "hard" || r.Category != "user_unknown" || r.Suppress {
		t.Errorf("verdict not copied: %+v", r)
	}
}

// TestParseLimits: refusals, and bounded work on hostile input (F1).
func TestParseLimits(t *testing.T) {
	if _, err := Parse([]byte("hello world\n"), Options{}); !errors.Is(err, ErrNotEmail) {
		t.Errorf("plain text: %v", err)
	}
	if _, err := Parse([]byte{}, Options{}); !errors.Is(err, ErrNotEmail) {
		t.Errorf("empty: %v", err)
	}
	big := []byte("From: a@b.example\n\n" + strings.Repeat("x", 2000))
	if _, err := Parse(big, Options{MaxBytes: 1000}); !errors.Is(err, ErrTooBig) {
		t.Errorf("too big: %v", err)
	}
	// Nesting far past maxDepth.
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@x.example\nSubject: Undelivered\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	nested := b.String()
	// Far more recipients than maxRecipients.
	b.Reset()
	b.WriteString("From: MAILER-DAEMON@x.example\nSubject: Undelivered\nContent-Type: multipart/report; report-type=delivery-status; boundary=z\n\n--z\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x.example\n\n")
	for i := 0; i < 3*maxRecipients; i++ {
		fmt.Fprintf(&b, "Final-Recipient: rfc822; u%d@x.example\nAction: failed\nStatus: 5.1.1\n\n", i)
	}
	many := b.String()
	// Header-shaped lines with no key field, the worst case of the inline
	// header search.
	fields := "From: MAILER-DAEMON@x.example\nSubject: Undelivered\n\n" + strings.Repeat("X-A: b\n", 200000)
	for name, in := range map[string]string{"nested": nested, "many": many, "fields": fields} {
		rep, err := Parse([]byte(in), Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Recipients) > maxRecipients {
			t.Errorf("%s: %d recipients", name, len(rep.Recipients))
		}
	}
}
