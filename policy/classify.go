package policy

import (
	"regexp"
	"strconv"
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
	// Suppress: the address itself is bad; never mail it again.
	Suppress bool `json:"suppress"`
	// Rule names the rule that chose the category, for explanations.
	Rule string `json:"rule"`
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

// suppressing lists the categories that condemn the address on a hard reply.
func suppressing(c Category) bool {
	switch c {
	case UserUnknown, MailboxDisabled, DomainNotFound, Unclassified:
		return true
	}
	return false
}

// Classify reads a reply: code for the class, then text and enhanced code
// for the category, then the category for side and suppression.
func Classify(r Reply) Verdict {
	class := classOf(r)
	if class == Success {
		return Verdict{Class: Success, Side: SideUnknown, Rule: "code:2xx"}
	}
	cat, rule := categorize(r)
	// Quota and size problems clear up or are the sender's to fix: never
	// hard, whatever the code (labelling policy rule 2).
	if class == Hard && (cat == MailboxFull || cat == MessageTooLarge) {
		class = Soft
	}
	return Verdict{
		Class:    class,
		Category: cat,
		Side:     CategorySide(cat),
		Suppress: class == Hard && suppressing(cat),
		Rule:     rule,
	}
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

func categorize(r Reply) (Category, string) {
	// X.1.7 and X.1.8 name the sender's address, whatever the text says of
	// "no such domain": it is ours that does not exist.
	if e := r.Enhanced; len(e) > 2 && (e[1:] == ".1.7" || e[1:] == ".1.8") {
		return InvalidSender, "enhanced:" + e
	}
	text := strings.ToLower(normalize(r.Text))
	// URLs and addresses carry noise ("reason/#filtered", "<spam@x>"): read
	// the prose first, and the whole text only when the prose says nothing.
	if c, rule, ok := matchText(noiseRE.ReplaceAllString(text, " ")); ok {
		return c, rule
	}
	if c, rule, ok := matchText(text); ok {
		return c, rule
	}
	if c, ok := enhancedCategory(r.Enhanced); ok {
		return c, "enhanced:" + r.Enhanced
	}
	if c, ok := embeddedEnhanced(text); ok {
		return c, "enhanced-in-text"
	}
	return codeCategory(r.Code)
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

var noiseRE = regexp.MustCompile(`(https?://|www\.)\S+|<?[^\s<>@]+@[^\s<>]+>?`)

func matchText(text string) (Category, string, bool) {
	for _, tr := range textRules {
		if tr.re.MatchString(text) {
			return tr.cat, "text:" + tr.name, true
		}
	}
	return None, "", false
}

var enhancedRE = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// embeddedEnhanced finds an enhanced code quoted in the text, e.g. "(#5.1.1)".
func embeddedEnhanced(text string) (Category, bool) {
	for _, m := range enhancedRE.FindAllString(text, 3) {
		if c, ok := enhancedCategory(m); ok {
			return c, true
		}
	}
	return None, false
}

// enhancedCategory maps RFC 3463 subject.detail to a category; X.0.0 and
// X.7.1-like catch-alls carry no meaning on their own.
func enhancedCategory(e string) (Category, bool) {
	parts := strings.Split(e, ".")
	if len(parts) != 3 {
		return None, false
	}
	subj, err1 := strconv.Atoi(parts[1])
	det, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return None, false
	}
	switch subj {
	case 1:
		return addressCategory(det)
	case 2:
		return mailboxCategory(det)
	case 3:
		return systemCategory(det)
	case 4:
		return networkCategory(det)
	case 5:
		if det == 3 {
			return RateLimited, true
		}
		return SyntaxError, true
	case 6:
		return SyntaxError, true
	case 7:
		return securityCategory(det)
	}
	return None, false
}

func addressCategory(det int) (Category, bool) {
	switch det {
	case 1, 3:
		return UserUnknown, true
	case 2, 10:
		return DomainNotFound, true
	case 6:
		return MailboxDisabled, true
	case 7, 8:
		return InvalidSender, true
	}
	return None, false
}

func mailboxCategory(det int) (Category, bool) {
	switch det {
	case 1:
		return MailboxDisabled, true
	case 2:
		return MailboxFull, true
	case 3:
		return MessageTooLarge, true
	}
	return None, false
}

func systemCategory(det int) (Category, bool) {
	switch det {
	case 4:
		return MessageTooLarge, true
	case 0, 1, 2, 5:
		return SystemError, true
	}
	return None, false
}

func networkCategory(det int) (Category, bool) {
	if det == 5 {
		return SystemError, true
	}
	return NetworkError, true
}

func securityCategory(det int) (Category, bool) {
	switch {
	case det == 13:
		return MailboxDisabled, true
	case det == 17: // RRVS: the mailbox changed owner since the date given
		return UserUnknown, true
	case det == 18:
		return DomainNotFound, true
	case det >= 20 && det <= 24, det == 26, det == 29:
		return AuthFailure, true
	case det == 25:
		return ReverseDNS, true
	case det == 27:
		return InvalidSender, true
	case det == 28:
		return BlockedReputation, true
	case det == 8, det == 9:
		return AuthFailure, true
	case det == 10, det == 30:
		return PolicyRejected, true
	}
	return None, false
}

// codeCategory is the last resort when neither text nor enhanced code helps.
func codeCategory(code int) (Category, string) {
	switch code {
	case 421:
		return SystemError, "code:421"
	case 452, 552:
		return MailboxFull, "code:" + strconv.Itoa(code)
	case 450, 451:
		return Unclassified, "code:" + strconv.Itoa(code)
	case 500, 501, 502, 503, 504, 555:
		return SyntaxError, "code:" + strconv.Itoa(code)
	case 0:
		return NetworkError, "local"
	}
	return Unclassified, "code:" + strconv.Itoa(code)
}
