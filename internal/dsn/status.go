package dsn

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// deliveryStatus is the message/delivery-status body (RFC 3464 §2): the
// per-message fields, then one block per recipient, blocks separated by
// an empty line.
func deliveryStatus(in Input) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", clean(in.Hostname))
	if in.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", clean(in.EnvID))
	}
	if in.QueueID != "" {
		fmt.Fprintf(&b, "X-Mtaq-Queue-ID: %s\r\n", clean(in.QueueID))
	}
	if !in.Arrived.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.Arrived.Format(time.RFC1123Z))
	}
	for _, r := range in.Rcpts {
		b.WriteString("\r\n")
		writeRecipient(&b, r)
	}
	return b.String()
}

func writeRecipient(b *strings.Builder, r Recipient) {
	fmt.Fprintf(b, "Final-Recipient: rfc822; %s\r\n", clean(r.Address))
	fmt.Fprintf(b, "Action: %s\r\n", r.Action)
	fmt.Fprintf(b, "Status: %s\r\n", status(r))
	if r.MX != "" {
		fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", clean(r.MX))
	}
	if d := diagnostic(r); d != "" {
		b.WriteString(fold("Diagnostic-Code: " + d))
	}
	if !r.LastTry.IsZero() {
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", r.LastTry.Format(time.RFC1123Z))
	}
	if r.Action == Delayed && !r.RetryUntil.IsZero() {
		fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", r.RetryUntil.Format(time.RFC1123Z))
	}
}

var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// status is the RFC 3463 code for the Status field. Its class follows the
// action (5 for failed, 4 for delayed), whatever the last reply said: an
// expired recipient's last reply was temporary, but the failure is not;
// it is reported as 5.4.7 (delivery time expired) unless the reply had a
// more specific subject.
func status(r Recipient) string {
	class := "5"
	if r.Action == Delayed {
		class = "4"
	}
	e := r.Enhanced
	if !enhancedRE.MatchString(e) {
		if r.Expired {
			return "5.4.7"
		}
		return class + ".0.0"
	}
	if r.Expired && strings.HasSuffix(e, ".0.0") {
		return "5.4.7"
	}
	return class + e[1:]
}

// diagnostic is the Diagnostic-Code value: "smtp; " and the remote reply
// when there was one, else mtaq's own account of the local failure.
func diagnostic(r Recipient) string {
	text := strings.Join(strings.Fields(clean(r.Text)), " ")
	if r.Code >= 200 && r.Code <= 599 {
		d := "smtp; " + strconv.Itoa(r.Code)
		if r.Enhanced != "" {
			d += " " + clean(r.Enhanced)
		}
		if text != "" {
			d += " " + text
		}
		return d
	}
	if text == "" && r.Enhanced == "" {
		return ""
	}
	return strings.TrimSpace("X-mtaq; " + strings.TrimSpace(clean(r.Enhanced)+" "+text))
}

// maxLine is where fold breaks a field (RFC 5322 §2.1.1 recommends 78).
const maxLine = 78

// fold breaks a one-line field at spaces so lines stay near maxLine, and
// ends it with CRLF. Words longer than a line are left whole (RFC 5322
// allows up to 998 octets); a maxFieldLen cap bounds the whole field.
func fold(field string) string {
	if len(field) > maxFieldLen {
		field = field[:maxFieldLen]
	}
	var b strings.Builder
	lineLen := 0
	for i, w := range strings.Split(field, " ") {
		switch {
		case i == 0:
		case lineLen+1+len(w) > maxLine && lineLen > 0:
			b.WriteString("\r\n ")
			lineLen = 1
		default:
			b.WriteByte(' ')
			lineLen++
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

// maxFieldLen caps one DSN field, so even an unbreakable reply stays
// within the 998-octet line limit.
const maxFieldLen = 990

// clean makes s safe inside a header or status field: control characters
// (CR and LF above all, so nothing can be injected) become spaces, other
// bytes are kept, and the result is trimmed.
func clean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s))
}
