package dsn

import (
	"fmt"
	"strings"
	"time"

	"github.com/mtaq/mtaq/policy"
)

// humanText is the report's first part: what happened to each recipient
// and what the sender can do, in plain words.
func humanText(in Input) string {
	var b strings.Builder
	host := clean(in.Hostname)
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", host)
	if in.failed() {
		b.WriteString("Your message could not be delivered to one or more recipients.\r\n" +
			"This is a permanent error: mtaq has given up on them.\r\n")
	} else {
		b.WriteString("Your message has not been delivered yet to the recipients below.\r\n" +
			"This is only a warning: mtaq is still trying and you need not send it again.\r\n")
	}
	if !in.Arrived.IsZero() {
		fmt.Fprintf(&b, "The message (queue ID %s) arrived on %s.\r\n", clean(in.QueueID),
			in.Arrived.Format(time.RFC1123Z))
	}
	for _, r := range in.Rcpts {
		b.WriteString("\r\n")
		writeHuman(&b, r)
	}
	b.WriteString("\r\nThe message's headers are attached. The technical report follows.\r\n")
	return b.String()
}

func writeHuman(b *strings.Builder, r Recipient) {
	fmt.Fprintf(b, "<%s>: %s\r\n", clean(r.Address), reason(r))
	if r.Code != 0 || r.Text != "" {
		who := "the receiving server"
		if r.MX != "" {
			who = clean(r.MX)
		}
		if r.Code == 0 {
			who = "mtaq"
		}
		reply := strings.TrimSpace(fmt.Sprintf("%s %s %s", codeText(r.Code), clean(r.Enhanced),
			strings.Join(strings.Fields(clean(r.Text)), " ")))
		b.WriteString(wrap(fmt.Sprintf("    %s said: %s", who, reply), "      "))
	}
	if r.Action == Delayed && !r.RetryUntil.IsZero() {
		fmt.Fprintf(b, "    mtaq will keep trying until %s.\r\n", r.RetryUntil.Format(time.RFC1123Z))
	}
	if advice := advise(r); advice != "" {
		b.WriteString(wrap("    What you can do: "+advice, "      "))
	}
}

func codeText(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprint(code)
}

// reason is one sentence on why, from the policy category's texts.
func reason(r Recipient) string {
	if r.Expired {
		return "delivery kept failing temporarily until the retry period ran out"
	}
	c := policy.Category(r.Category)
	if t, ok := policy.TextsFor(c); ok && c != policy.Unclassified {
		return t.Reason
	}
	// Unclassified, or a category this build does not know: say only
	// whether it was temporary.
	if r.Action == Delayed {
		return "delivery failed temporarily"
	}
	t, _ := policy.TextsFor(policy.Unclassified)
	return t.Reason
}

// advise says what the sender can do; "" when nothing useful.
func advise(r Recipient) string {
	if r.Action == Delayed {
		return "nothing yet; you will get another notice if mtaq gives up."
	}
	if policy.Category(r.Category) == policy.MessageTooLarge {
		return "send a smaller message (link to large files instead of attaching them)."
	}
	switch policy.CategorySide(policy.Category(r.Category)) {
	case policy.SideRecipient:
		return "check the address; further mail to it may be suppressed."
	case policy.SideSender:
		return "this is not the recipient's fault; ask the operator of this mail system to fix it, then send again."
	}
	return "send the message again later, or contact the recipient another way."
}

// wrapWidth keeps the human-readable part comfortable to read and far from
// SMTP's 998-octet line limit, however long the remote reply was.
const wrapWidth = 76

// wrap breaks s into CRLF-terminated lines of at most wrapWidth octets at
// spaces, continuing with indent; a word longer than a line is split.
func wrap(s, indent string) string {
	var b strings.Builder
	line := ""
	flush := func() {
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteString("\r\n")
		line = indent
	}
	lead := len(s) - len(strings.TrimLeft(s, " "))
	line = s[:lead]
	for _, w := range strings.Fields(s) {
		for len(w) > wrapWidth-len(indent) {
			if strings.TrimSpace(line) != "" {
				flush()
			}
			cut := wrapWidth - len(line)
			line += w[:cut]
			w = w[cut:]
			flush()
		}
		if strings.TrimSpace(line) != "" && len(line)+1+len(w) > wrapWidth {
			flush()
		}
		if strings.TrimSpace(line) != "" {
			line += " "
		}
		line += w
	}
	flush()
	return b.String()
}
