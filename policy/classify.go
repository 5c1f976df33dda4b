package policy

import (
	"regexp"
	"strings"
)

// Reply is an SMTP reply as received, or synthesised for a local failure
// (Code 0 with an RFC 3463 Enhanced code that states the fact).
type Reply struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Text     string `json:"text"`
}

// Class is what the reply means for this message.
type Class string

// Classes.
const (
	Success Class = "success"
	Soft    Class = "soft" // retry later
	Hard    Class = "hard" // give up on this message
)

// Category says why an attempt failed; Categories lists them and TextsFor
// words them.
type Category string

// Categories.
const (
	None              Category = ""
	UserUnknown       Category = "user_unknown"
	MailboxFull       Category = "mailbox_full"
	MailboxDisabled   Category = "mailbox_disabled"
	DomainNotFound    Category = "domain_not_found"
	InvalidSender     Category = "invalid_sender"
	BlockedReputation Category = "blocked_reputation"
	SpamContent       Category = "spam_content"
	PolicyRejected    Category = "policy_rejected"
	AuthFailure       Category = "auth_failure"
	ReverseDNS        Category = "reverse_dns"
	RateLimited       Category = "rate_limited"
	Greylisting       Category = "greylisting"
	MessageTooLarge   Category = "message_too_large"
	RelayDenied       Category = "relay_denied"
	SyntaxError       Category = "syntax_error"
	NetworkError      Category = "network_error"
	SystemError       Category = "system_error"
	Unclassified      Category = "unclassified"
)

// Side says who has to act on a failure.
type Side string

// Sides.
const (
	SideRecipient Side = "recipient"
	SideSender    Side = "sender"
	SideTransport Side = "transport"
	SideReceiver  Side = "receiver"
	SideUnknown   Side = "unknown"
)

// Verdict is the classifier's reading of one reply.
type Verdict struct {
	Class    Class    `json:"class"`
	Category Category `json:"category"`
	Side     Side     `json:"side"`
	// Suppress: the address itself is bad; never mail it again (or, for
	// an unexplained reply, not for a while: HardReason).
	Suppress bool `json:"suppress"`
	// Rule names what chose the category: "text:<family>",
	// "enhanced:<code>", "enhanced-in-text", "code:<n>", "model:<name>",
	// "operator:<name>" or "local".
	Rule string `json:"rule"`
	// Evidence is what the classifier found, the deciding item first,
	// then the rest by weight; a guard item says why an unexplained 5xx
	// does or does not suppress.
	Evidence []Evidence `json:"evidence,omitempty"`
}

// Tentative reports whether the category rests on weak evidence only: the
// learned fallback, a phrase found only inside a URL, or Postfix's generic
// "Recipient address rejected" prefix. A tentative suppression passes the
// same guard as an unexplained reply and lifts like one (HardReason).
func (v Verdict) Tentative() bool {
	if len(v.Evidence) == 0 {
		return false
	}
	switch e := v.Evidence[0]; e.Kind {
	case KindModel, KindInURL:
		return true
	case KindPhrase:
		return e.Rule == "address-rejected"
	}
	return false
}

// CategorySide maps each category to the side that must act.
func CategorySide(c Category) Side {
	switch c {
	case UserUnknown, MailboxFull, MailboxDisabled, DomainNotFound:
		return SideRecipient
	case Greylisting, NetworkError:
		return SideTransport
	case SystemError:
		return SideReceiver
	case Unclassified, None:
		return SideUnknown
	}
	return SideSender
}

// suppressing lists the categories that condemn the address on a hard
// reply: the reply says the address is bad.
func suppressing(c Category) bool {
	switch c {
	case UserUnknown, MailboxDisabled, DomainNotFound:
		return true
	}
	return false
}

// Classify reads a reply: code for the class, then the evidence in text,
// enhanced code and reply code for the category (the strongest evidence
// wins), then the category for side and suppression.
func Classify(r Reply) Verdict {
	return classify(r, learned)
}

// classify is Classify with learned fallback m (cross-validation trains
// one per fold).
func classify(r Reply, m fallback) Verdict {
	class := classOf(r)
	if class == Success {
		return Verdict{Class: Success, Side: SideUnknown, Rule: "code:2xx"}
	}
	text := strings.ToLower(normalize(r.Text))
	ev := gather(r, text, m)
	cat, rule := decide(ev)
	// Quota and size problems clear up or are the sender's to fix: never
	// hard, whatever the code (labelling policy rule 2).
	if class == Hard && (cat == MailboxFull || cat == MessageTooLarge) {
		class = Soft
	}
	v := Verdict{Class: class, Category: cat, Side: CategorySide(cat), Rule: rule, Evidence: ev}
	if class == Hard {
		v.Suppress = suppressing(cat)
		switch {
		case cat == Unclassified || (v.Suppress && v.Tentative()):
			var g Evidence
			v.Suppress, g = unexplainedSuppresses(r, text)
			v.Evidence = append(v.Evidence, g)
		case v.Suppress:
			// Words about our side veto even an explained recipient
			// category: "message sending for this account is disabled",
			// "sender rejected: user unknown in our policy".
			if m := ourSideRE.FindString(stripNoise(text)); m != "" {
				v.Suppress = false
				v.Evidence = append(v.Evidence, Evidence{Kind: KindGuard, Rule: "names-our-side", Match: m})
			} else if e, ok := textDisagrees(v.Evidence); ok {
				// The address's only word is the enhanced code, and the
				// text gives another reason: conflicting evidence fails
				// the message and keeps the address ("550 5.1.1 Internal
				// error during delivery").
				v.Suppress = false
				v.Evidence = append(v.Evidence, Evidence{Kind: KindGuard, Rule: "text-disagrees", Match: e.Rule})
			}
		}
	}
	return v
}

// textDisagrees: a suppressing category decided by the enhanced code alone
// (in place or quoted in the text), while a phrase family reads the text
// as a reason on another side: ours, the receiver's or the transport's. A
// vague phrase ("Delivery failed") is no other reason. It returns that
// phrase.
func textDisagrees(ev []Evidence) (Evidence, bool) {
	if len(ev) == 0 || (ev[0].Kind != KindEnhanced && ev[0].Kind != KindInText) {
		return Evidence{}, false
	}
	for _, e := range ev[1:] {
		side := CategorySide(e.Category)
		if e.Kind == KindPhrase && e.Weight >= 40 && side != SideRecipient && side != SideUnknown {
			return e, true
		}
	}
	return Evidence{}, false
}

// classOf: the 3-digit code decides; a local failure (Code 0) uses the class
// digit of its enhanced code. Anything unknown is soft: a wrong soft costs
// one retry, a wrong hard loses mail.
func classOf(r Reply) Class {
	switch {
	case r.Code >= 200 && r.Code < 300:
		return Success
	case r.Code >= 500 && r.Code < 600:
		return Hard
	case r.Code == 0 && strings.HasPrefix(r.Enhanced, "5."):
		return Hard
	}
	return Soft
}

// contRE matches a line break of a multiline reply with what the server
// repeated at the start of the next line: the enhanced code, and the reply
// code when the caller kept it ("550-5.1.1 ").
var contRE = regexp.MustCompile(`\r?\n[ \t]*([245]\d\d[ -])?([245]\.\d{1,3}\.\d{1,3}\b)?[ \t]*`)

// normalize joins a multiline reply into one line, so that a phrase broken
// across lines still matches (Go's "." does not match a newline).
func normalize(text string) string {
	return strings.TrimSpace(contRE.ReplaceAllString(text, " "))
}
