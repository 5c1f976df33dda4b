package events

import (
	"time"

	"github.com/mtaq/mtaq/queue"
)

// Payload is a webhook's JSON body: the Event's fields, and for bounce-like
// events (bounced, failed, expired, deferred) the fields an app written
// for Postmark's bounce webhook reads, so it can switch with little change.
type Payload struct {
	queue.Event
	*Postmark
}

// Postmark holds the Postmark-compatible bounce fields.
type Postmark struct {
	RecordType  string `json:"RecordType"` // always "Bounce"
	Type        string `json:"Type"`       // HardBounce, SoftBounce, Transient, ...
	TypeCode    int    `json:"TypeCode"`
	Email       string `json:"Email"`
	BouncedAt   string `json:"BouncedAt"` // RFC 3339
	Inactive    bool   `json:"Inactive"`  // the address is now suppressed
	CanActivate bool   `json:"CanActivate"`
	Description string `json:"Description"`
	Details     string `json:"Details"`   // the reply text
	MessageID   string `json:"MessageID"` // the queue ID
}

// NewPayload builds the body for ev.
func NewPayload(ev queue.Event) Payload {
	p := Payload{Event: ev}
	switch ev.Kind {
	case queue.EventBounced, queue.EventFailed, queue.EventExpired, queue.EventDeferred:
		p.Postmark = postmark(ev)
	}
	return p
}

// bounceType is one row of bounce-corpus/README.md section 5's Postmark
// column.
type bounceType struct {
	name        string
	code        int
	description string
}

var bounceTypes = map[string]bounceType{
	"user_unknown":       {"HardBounce", 1, "The address does not exist."},
	"mailbox_disabled":   {"HardBounce", 1, "The mailbox is disabled or has moved."},
	"domain_not_found":   {"DnsError", 256, "The recipient's domain does not exist or accepts no mail."},
	"mailbox_full":       {"SoftBounce", 4096, "The mailbox is full."},
	"message_too_large":  {"SoftBounce", 4096, "The message is larger than the recipient accepts."},
	"spam_content":       {"SpamNotification", 512, "The message was rejected as spam or for its content."},
	"auth_failure":       {"DMARCPolicy", 100009, "The message failed sender authentication (SPF, DKIM, DMARC)."},
	"invalid_sender":     {"Blocked", 100006, "The recipient's server refused the sender address."},
	"blocked_reputation": {"Blocked", 100006, "The sending server is blocked or has a poor reputation."},
	"policy_rejected":    {"Blocked", 100006, "The recipient's server refused the message by policy."},
	"reverse_dns":        {"Blocked", 100006, "The sending server's reverse DNS was not accepted."},
	"relay_denied":       {"Blocked", 100006, "The server refused to relay to the recipient."},
	"rate_limited":       {"Transient", 2, "The recipient's server is limiting the rate of mail."},
	"greylisting":        {"Transient", 2, "The recipient's server asked to try again later (greylisting)."},
	"network_error":      {"Transient", 2, "The recipient's server could not be reached."},
	"system_error":       {"Transient", 2, "The recipient's server had a temporary problem."},
	"syntax_error":       {"Unknown", 2048, "The recipient's server did not accept the SMTP dialogue."},
}

var unknownBounce = bounceType{"Unknown", 2048, "The reason could not be classified."}

func postmark(ev queue.Event) *Postmark {
	bt, ok := bounceTypes[ev.Category]
	switch {
	case ev.Category == "operator":
		bt = bounceType{"Unknown", 2048, "An operator failed the message."}
	case !ok:
		bt = unknownBounce
	}
	if ev.Kind == queue.EventExpired && !ok {
		bt = bounceType{"Transient", 2, "Delivery was retried until the message expired."}
	}
	p := &Postmark{
		RecordType: "Bounce", Type: bt.name, TypeCode: bt.code, Email: ev.Rcpt,
		BouncedAt: ev.At.UTC().Format(time.RFC3339), Inactive: ev.Suppressed,
		// Every mtaq suppression can be lifted (mtaq suppress rm).
		CanActivate: true, Description: bt.description, MessageID: ev.ID,
	}
	if ev.Reply != nil {
		p.Details = ev.Reply.Text
	}
	return p
}
