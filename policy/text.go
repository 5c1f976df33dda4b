package policy

// Texts is what mtaq says about a category wherever it shows one: the
// DSN's reason (internal/dsn), the webhook's Postmark fields
// (internal/events) and what to fix (mtaq classify). One row per category
// here, so a category cannot be worded in one place and missed in another.
type Texts struct {
	// Reason completes "<rcpt>: " in a DSN, for the sender to read.
	Reason string
	// Fix names what the sending side has to repair; set exactly for the
	// categories whose Side is SideSender.
	Fix string
	// Postmark's bounce Type, TypeCode and Description for the category
	// (its bounce webhook, so apps written for it switch with little change).
	PostmarkType string
	PostmarkCode int
	Description  string
}

// refusedUs prefixes the reasons for categories the sending side must fix.
const refusedUs = "the receiving server refused mail from us: "

// texts has a row for every category of Categories() (TestTextsCoverEveryCategory).
var texts = map[Category]Texts{
	UserUnknown: {Reason: "the address does not exist",
		PostmarkType: "HardBounce", PostmarkCode: 1, Description: "The address does not exist."},
	MailboxDisabled: {Reason: "the mailbox is disabled or no longer in use",
		PostmarkType: "HardBounce", PostmarkCode: 1, Description: "The mailbox is disabled or has moved."},
	DomainNotFound: {Reason: "the domain does not exist or does not accept mail",
		PostmarkType: "DnsError", PostmarkCode: 256, Description: "The recipient's domain does not exist or accepts no mail."},
	MailboxFull: {Reason: "the mailbox is full",
		PostmarkType: "SoftBounce", PostmarkCode: 4096, Description: "The mailbox is full."},
	MessageTooLarge: {Reason: "the message is too large for the receiving server",
		Fix:          "the message size",
		PostmarkType: "SoftBounce", PostmarkCode: 4096, Description: "The message is larger than the recipient accepts."},
	SpamContent: {Reason: refusedUs + "the content was taken for spam",
		Fix:          "the message content",
		PostmarkType: "SpamNotification", PostmarkCode: 512, Description: "The message was rejected as spam or for its content."},
	AuthFailure: {Reason: refusedUs + "the message failed sender authentication (SPF, DKIM or DMARC)",
		Fix:          "SPF, DKIM and DMARC for the sending domain",
		PostmarkType: "DMARCPolicy", PostmarkCode: 100009, Description: "The message failed sender authentication (SPF, DKIM, DMARC)."},
	InvalidSender: {Reason: refusedUs + "the sender address was not accepted",
		Fix:          "the envelope sender address or its domain",
		PostmarkType: "Blocked", PostmarkCode: 100006, Description: "The recipient's server refused the sender address."},
	BlockedReputation: {Reason: refusedUs + "our sending address or domain is blocked or has a poor reputation",
		Fix:          "the sending IP's or domain's reputation or blocklist listing",
		PostmarkType: "Blocked", PostmarkCode: 100006, Description: "The sending server is blocked or has a poor reputation."},
	PolicyRejected: {Reason: refusedUs + "its policy rejected the message",
		Fix:          "what the receiver's policy demands, or ask the recipient's administrator",
		PostmarkType: "Blocked", PostmarkCode: 100006, Description: "The recipient's server refused the message by policy."},
	ReverseDNS: {Reason: refusedUs + "our sending server's reverse DNS (PTR) was not accepted",
		Fix:          "the sending host's PTR record and HELO name",
		PostmarkType: "Blocked", PostmarkCode: 100006, Description: "The sending server's reverse DNS was not accepted."},
	RelayDenied: {Reason: "the receiving server does not accept mail for this domain",
		Fix:          "the route: this server does not accept that domain's mail from us",
		PostmarkType: "Blocked", PostmarkCode: 100006, Description: "The server refused to relay to the recipient."},
	RateLimited: {Reason: "the receiving server asked us to try again later",
		Fix:          "the sending rate towards this destination",
		PostmarkType: "Transient", PostmarkCode: 2, Description: "The recipient's server is limiting the rate of mail."},
	Greylisting: {Reason: "the receiving server asked us to try again later",
		PostmarkType: "Transient", PostmarkCode: 2, Description: "The recipient's server asked to try again later (greylisting)."},
	NetworkError: {Reason: "the receiving server could not be reached",
		PostmarkType: "Transient", PostmarkCode: 2, Description: "The recipient's server could not be reached."},
	SystemError: {Reason: "the receiving server has a problem",
		PostmarkType: "Transient", PostmarkCode: 2, Description: "The recipient's server had a temporary problem."},
	SyntaxError: {Reason: refusedUs + "it did not accept the SMTP dialogue or the message format",
		Fix:          "the SMTP dialogue or the message format",
		PostmarkType: "Unknown", PostmarkCode: 2048, Description: "The recipient's server did not accept the SMTP dialogue."},
	Unclassified: {Reason: "the receiving server refused the message",
		PostmarkType: "Unknown", PostmarkCode: 2048, Description: "The reason could not be classified."},
}

// TextsFor returns c's texts; false for None and names that are no category.
func TextsFor(c Category) (Texts, bool) {
	t, ok := texts[c]
	return t, ok
}
