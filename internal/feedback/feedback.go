package feedback

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Kind is what a report email is.
type Kind string

// The kinds of report.
const (
	KindDSN       Kind = "dsn"
	KindComplaint Kind = "complaint"
	KindAutoReply Kind = "auto_reply"
	KindNotBounce Kind = "not_bounce"
)

// Recipient is one address a report is about.
type Recipient struct {
	Address   string `json:"address"`  // final recipient, lower-cased domain; "" when redacted or unknown
	Action    string `json:"action"`   // failed, delayed, delivered, relayed, expanded (RFC 3464), lower case; "" for a complaint
	Status    string `json:"status"`   // RFC 3464 Status such as "5.1.1"; "" unknown
	Code      int    `json:"code"`     // SMTP reply code from Diagnostic-Code or text, 0 unknown
	Enhanced  string `json:"enhanced"` // enhanced code found in the diagnostic text, else Status
	Text      string `json:"text"`     // the remote reply, unfolded, trimmed, capped at maxText bytes
	RemoteMTA string `json:"remote_mta,omitempty"`
	// Original: the DSN's Original-Recipient (RFC 3464 §2.3.1, the
	// address as the sender gave it, before an alias or forward changed
	// it), type stripped; "" when the report has none.
	Original string `json:"original_recipient,omitempty"`
	// Class, Category, Suppress: Options.Classify's verdict on Code,
	// Enhanced and Text; empty when no classifier was given.
	Class    string `json:"class"`
	Category string `json:"category"`
	Suppress bool   `json:"suppress"`
}

// Original is what a report says about the message it reports on. Every
// field is a candidate read from text a stranger wrote: UNVERIFIED.
type Original struct {
	QueueID   string `json:"queue_id,omitempty"`   // from mtaq's Received line in the returned message
	Token     string `json:"token,omitempty"`      // a VERP local part "b-<16>-<10>", lower case
	MessageID string `json:"message_id,omitempty"` // without <>
	Sender    string `json:"sender,omitempty"`     // envelope sender or From
	Recipient string `json:"recipient,omitempty"`  // ARF Original-Rcpt-To, or the original's To when one address
}

// Report is one parsed report email.
type Report struct {
	Kind         Kind        `json:"kind"`
	ReportingMTA string      `json:"reporting_mta,omitempty"`
	Recipients   []Recipient `json:"recipients"`
	FeedbackType string      `json:"feedback_type,omitempty"` // ARF Feedback-Type, lower case
	UserAgent    string      `json:"user_agent,omitempty"`
	SourceIP     string      `json:"source_ip,omitempty"`
	Arrival      time.Time   `json:"arrival,omitzero"`
	Original     Original    `json:"original"`
	// Auto: the report itself is automatic (Auto-Submitted other than
	// "no", a null or daemon sender, Precedence bulk/junk/auto_reply):
	// never answer it, or two robots talk forever.
	Auto    bool   `json:"auto,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// Options tune Parse.
type Options struct {
	// Classify, when set, fills Class, Category and Suppress of every
	// recipient that carries a reply (failed or delayed).
	Classify func(code int, enhanced, text, domain string) (class, category string, suppress bool)
	// MaxBytes refuses bigger input; 0 means DefaultMaxBytes.
	MaxBytes int
}

// DefaultMaxBytes is the input limit when Options.MaxBytes is 0.
const DefaultMaxBytes = 10 << 20

// Limits on hostile input (F1).
const (
	maxDepth      = 8        // nested multipart/message levels
	maxParts      = 200      // MIME parts walked in all
	maxRecipients = 1000     // recipients kept per report
	maxText       = 1000     // bytes of diagnostic text kept per recipient
	maxTextPart   = 1 << 20  // bytes of one text part read
	maxTextTotal  = 2 << 20  // bytes of all text parts read
	maxSubject    = 1000     // bytes of the subject kept
	maxFieldValue = 64 << 10 // bytes of one header field's value
)

// Errors Parse returns; anything else shaped like an email is a Report.
var (
	ErrTooBig   = errors.New("feedback: message too big")
	ErrNotEmail = errors.New("feedback: not an email")
)

// Parse reads one report email (F3).
func Parse(raw []byte, o Options) (rep *Report, err error) {
	limit := o.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooBig, len(raw), limit)
	}
	raw = trimEnvelope(raw)
	if !looksLikeEmail(raw) {
		return nil, ErrNotEmail
	}
	defer func() {
		// F1 is kept by bounds, not by this; it turns a bug on some odd
		// input into a not_bounce instead of a crashed receiver. FuzzParse
		// calls parse, so such a bug still shows there.
		if p := recover(); p != nil {
			rep, err = &Report{Kind: KindNotBounce, Recipients: []Recipient{}}, nil
		}
	}()
	return parse(raw, o), nil
}

// parse is Parse on input known to be email-shaped, without the recover.
func parse(raw []byte, o Options) *Report {
	m := readMessage(raw)
	rep := m.report()
	if rep.Recipients == nil {
		rep.Recipients = []Recipient{}
	}
	if o.Classify != nil {
		for i := range rep.Recipients {
			r := &rep.Recipients[i]
			if r.Action != "failed" && r.Action != "delayed" {
				continue
			}
			r.Class, r.Category, r.Suppress = o.Classify(r.Code, r.Enhanced, replyText(r.Text), domainOf(r.Address))
		}
	}
	return rep
}

// trimEnvelope drops what mail stores put before the header: an mbox
// "From " line, a byte-order mark, leading blank lines.
func trimEnvelope(raw []byte) []byte {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	for len(raw) > 0 && (raw[0] == '\r' || raw[0] == '\n') {
		raw = raw[1:]
	}
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	return raw
}

// looksLikeEmail: the first line is a header field "Name: value" with a
// name of printable ASCII, and some field further on is one mail has.
func looksLikeEmail(raw []byte) bool {
	end := bytes.Index(raw, []byte("\n\n"))
	if e := bytes.Index(raw, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	head := raw
	if end >= 0 {
		head = raw[:end]
	}
	first, _, _ := bytes.Cut(head, []byte("\n"))
	if !isFieldLine(string(bytes.TrimRight(first, "\r"))) {
		return false
	}
	h := bytes.ToLower(head)
	for _, f := range []string{"from:", "to:", "subject:", "date:", "received:", "message-id:", "return-path:", "content-type:", "mime-version:"} {
		if bytes.HasPrefix(h, []byte(f)) || bytes.Contains(h, []byte("\n"+f)) {
			return true
		}
	}
	return false
}

// isFieldLine: "Name: value" with an RFC 5322 field name.
func isFieldLine(l string) bool {
	i := indexColon(l)
	return i > 0
}

// indexColon is the colon ending a field name at the start of l, or -1.
func indexColon(l string) int {
	for i := 0; i < len(l) && i < 80; i++ {
		c := l[i]
		switch {
		case c == ':':
			if i == 0 {
				return -1
			}
			return i
		case c == ' ' || c == '\t':
			// "Name : value" exists in the wild; allow trailing blanks.
			rest := l[i:]
			j := 0
			for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
				j++
			}
			if j < len(rest) && rest[j] == ':' && i > 0 {
				return i + j
			}
			return -1
		case c < 33 || c > 126:
			return -1
		}
	}
	return -1
}
