package events

import (
	"time"

	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// Payload is a webhook's JSON body: the Event's fields, the message's
// fields as Postmark names them (Tag, Metadata, From, Subject) on every
// event, and for bounce-like events (bounced, failed, expired, deferred)
// and complaints the fields an app written for Postmark's bounce and spam
// complaint webhooks reads, so it can switch with little change.
type Payload struct {
	queue.Event
	PostmarkMessage
	*Postmark
}

// PostmarkMessage is what Postmark's webhooks say about the message
// itself, from the app's labels and its header.
type PostmarkMessage struct {
	Tag      string            `json:"Tag"`
	Metadata map[string]string `json:"Metadata"`
	From     string            `json:"From"`
	Subject  string            `json:"Subject"`
}

// Postmark holds the Postmark-compatible bounce fields.
type Postmark struct {
	RecordType  string `json:"RecordType"` // "Bounce", or "SpamComplaint" for complained
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
	p := Payload{Event: ev, PostmarkMessage: PostmarkMessage{Tag: ev.Tag, Metadata: ev.Metadata,
		From: ev.From, Subject: ev.Subject}}
	if p.PostmarkMessage.Metadata == nil {
		p.PostmarkMessage.Metadata = map[string]string{} // Postmark sends {} when there is none
	}
	switch ev.Kind {
	case queue.EventBounced, queue.EventFailed, queue.EventExpired, queue.EventDeferred:
		p.Postmark = postmark(ev)
	case queue.EventComplained:
		p.Postmark = spamComplaint(ev)
	}
	return p
}

// spamComplaint is Postmark's SpamComplaint record (type code 512). Like
// Postmark, it says the address cannot simply be reactivated: the person
// asked not to get the mail.
func spamComplaint(ev queue.Event) *Postmark {
	p := &Postmark{RecordType: "SpamComplaint", Type: "SpamComplaint", TypeCode: 512, Email: ev.Rcpt,
		BouncedAt: ev.At.UTC().Format(time.RFC3339), Inactive: ev.Suppressed, CanActivate: false,
		Description: "The subscriber explicitly marked this email as spam.", MessageID: ev.ID}
	if ev.FeedbackType != "" {
		p.Details = "Feedback-Type: " + ev.FeedbackType
	}
	return p
}

// postmark fills the Postmark fields from policy's texts for the category.
func postmark(ev queue.Event) *Postmark {
	cat := policy.Category(ev.Category)
	t, known := policy.TextsFor(cat)
	switch {
	case ev.Kind == queue.EventExpired && (!known || cat == policy.Unclassified):
		t = policy.Texts{PostmarkType: "Transient", PostmarkCode: 2, Description: "Delivery was retried until the message expired."}
	case ev.Category == "operator":
		t = policy.Texts{PostmarkType: "Unknown", PostmarkCode: 2048, Description: "An operator failed the message."}
	case !known:
		t, _ = policy.TextsFor(policy.Unclassified)
	}
	p := &Postmark{
		RecordType: "Bounce", Type: t.PostmarkType, TypeCode: t.PostmarkCode, Email: ev.Rcpt,
		BouncedAt: ev.At.UTC().Format(time.RFC3339), Inactive: ev.Suppressed,
		// Every mtaq suppression can be lifted (mtaq suppress rm).
		CanActivate: true, Description: t.Description, MessageID: ev.ID,
	}
	if ev.Reply != nil {
		p.Details = ev.Reply.Text
	}
	return p
}
