package intake

import "fmt"

// Error is why intake refused a message or a recipient, as an SMTP reply:
// submission sends it as is, sendmail maps its class to an exit code, the
// HTTP API to a problem document naming Field. Texts are fixed: nothing
// internal reaches the client.
type Error struct {
	Code     int    // 4xx or 5xx
	Enhanced string // RFC 3463, e.g. "5.6.0"
	Text     string
	// Field names the header or envelope part at fault ("X-Mtaq-Tag",
	// "rcpt"), when there is one.
	Field string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text) }

// EnhancedCode is Enhanced as its three numbers, the form SMTP libraries
// take; zeros when it does not parse (never for intake's own errors).
func (e *Error) EnhancedCode() [3]int {
	var c [3]int
	fmt.Sscanf(e.Enhanced, "%d.%d.%d", &c[0], &c[1], &c[2])
	return c
}

// Temporary reports a 4xx: the same message may be accepted later.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

func refuse(code int, enhanced, text string) *Error {
	return &Error{Code: code, Enhanced: enhanced, Text: text}
}

// The refusals, one per check; every intake gives the same one for the
// same input.
var (
	ErrBadSender    = refuse(501, "5.1.7", "Bad sender address syntax")
	ErrBadRecipient = refuse(501, "5.1.3", "Bad recipient address syntax")
	ErrNoRecipients = refuse(554, "5.5.1", "No valid recipients")
	// ErrTooManyRcpts is the RCPT-time answer (RFC 5321 §4.5.3.1.10: the
	// client sends the rest later); ErrRcptLimit refuses a whole message
	// (a file, an API call) whose list is over the limit.
	ErrTooManyRcpts = refuse(452, "4.5.3", "Too many recipients")
	ErrRcptLimit    = refuse(550, "5.5.3", "Too many recipients")
	ErrSuppressed   = refuse(550, "5.7.1", "Recipient address is suppressed")
	ErrTempLookup   = refuse(451, "4.3.0", "Temporary lookup failure, try again later")
	ErrSize         = refuse(552, "5.3.4", "Message size exceeds fixed limit")
	ErrNUL          = refuse(554, "5.6.0", "NUL bytes are not allowed in messages")
	ErrTooManyHops  = refuse(554, "5.4.6", "Too many hops (Received headers), mail loop?")
	ErrStorage      = refuse(451, "4.3.0", "Temporary storage failure, try again later")
	ErrNoSpace      = refuse(452, "4.3.1", "Insufficient system storage")
	ErrLongHeader   = refuse(554, "5.6.0", "Header line too long and cannot be folded")
	// ErrDraining: the node is draining (mtaq drain); another takes the mail.
	ErrDraining = refuse(421, "4.3.2", "Service not available: this server is draining, try another")
)

// noDKIM refuses mail from a domain without a key (dkim_require).
func noDKIM(domain string) *Error {
	if domain == "" {
		return &Error{Code: 550, Enhanced: "5.7.0", Text: "From: no domain to sign for, and unsigned mail is not sent", Field: "From"}
	}
	return &Error{Code: 550, Enhanced: "5.7.0", Text: "From: no DKIM key for " + domain + ", and unsigned mail is not sent", Field: "From"}
}

// badHeader is a 550 5.6.0 naming the header field.
func badHeader(field, why string) *Error {
	return &Error{Code: 550, Enhanced: "5.6.0", Text: field + ": " + why, Field: field}
}
