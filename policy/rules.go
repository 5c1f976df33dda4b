package policy

// family is a set of phrases that speak for one category with one weight.
// Every family that matches the normalised, lower-cased reply text gives
// one Evidence item (the first phrase that matches); the strongest item
// wins (decide). The weights encode the labelling policy's precedence:
// specific wording about the mailbox beats generic wording; reputation
// beats volume; sender authentication and protocol complaints beat the "to
// protect our users from spam" boilerplate; specific wording beats the
// enhanced code, which beats generic wording ("policy", "rejected").
//
// Patterns name phrases and product codes that many servers share, never one
// provider's whole sentence: the evaluation set comes from providers the
// development corpus does not show.
type family struct {
	name     string
	cat      Category
	weight   int
	softOnly bool // speaks only for a 4xx ("try again later")
	phrases  []phrase
}

// soft marks f as speaking only for a soft reply.
func soft(f family) family {
	f.softOnly = true
	return f
}

// rule compiles alternatives, one phrase or product code each.
func rule(name string, cat Category, weight int, alts ...string) family {
	f := family{name: name, cat: cat, weight: weight}
	for _, a := range alts {
		f.phrases = append(f.phrases, compilePhrase(a))
	}
	return f
}

// Shared fragments. who names the thing a recipient-side phrase is about.
const (
	who      = `(user|account|mailbox|recipient|e-?mail address|address|e-?mail account|destinataire)`
	owner    = `(account|mailbox|user|e-?mail address|recipient|compte)`
	disabled = `(disabled|de-?activated|suspended|discontinued|frozen|locked|closed|blocked|bloque|terminated|not active)`
)

var families = []family{
	// Transport first: a relay's loop or expiry report quotes the last
	// reply, whose wording must not decide.
	rule("greylisting", Greylisting, 96,
		`gr[ae]y[- ]?list`,
	),
	// What greylisters say instead of the word: weaker, and only on 4xx.
	soft(rule("greylist-wording", Greylisting, 90,
		`not yet authori[sz]ed to deliver`, `greylisted`, `first (time )?(contact|attempt)`,
	)),
	soft(rule("retry-in", Greylisting, 60,
		`(try|retry|resend)( again)? in \d+ ?(s\b|sec|seconds?|min|minutes?)`,
		`deferred for \d+ ?(s\b|sec|seconds?|min|minutes?)`, `temporarily (rejected|deferred), (please )?(try|retry)`,
	)),
	// Below "no reason" wording: "recipient error, try again later" says
	// nothing more.
	soft(rule("try-later", Greylisting, 39,
		`(please )?(try|retry)( again)? later`, `come back later`,
	)),
	rule("expired-in-transit", NetworkError, 95,
		`message expired`, `queue\.expired`, `delivery time expired`, `unable to deliver in \d+`,
		`retry timeout exceeded`, `message has been in the queue too long`,
	),
	rule("mail-loop", NetworkError, 95,
		`too many hops`, `hop count`, `mail loop`, `routing loop`, `loops? back`, `loop detected`,
		`mail forwarding loop`, `looping`,
	),
	// The mailbox exists but is out of use: beats quota and "no such user"
	// ("out of storage space and inactive", "invalid/inactive user" aside).
	rule("mailbox-disabled", MailboxDisabled, 93,
		`\binactive (e-?mail|mail|account|mailbox|address)`, `and inactive`,
		`is (currently )?inactive`, `(mailbox|account) inactive`,
		owner+`\b.{0,40}\b`+disabled+`\b`, disabled+` (user|account|recipient|mailbox|e-?mail)`,
		`suspend the service`, `no longer (on|at|with|active|in use|available)`, `has moved`,
		`has been replaced by`, `moved permanently`, `no forwarding address`,
		`account (has )?expired`,
	),
	rule("domain-owner-changed", DomainNotFound, 92,
		`domain owner has changed`,
	),
	rule("send-quota", RateLimited, 91,
		`(daily|hourly|relay|sending|send|message|outbound|submission) ?quota`,
		`(sending|send|message|maximum) rate`,
	),
	rule("mailbox-full", MailboxFull, 90,
		`quota`, `mailbox (is )?full`, `mailbox.{0,20}\bfull\b`, `inbox.{0,20}\bfull\b`,
		`\bstuffed\b`, `out of storage`, `storage (space )?(exceeded|allocation|limit)`,
		`exceeded storage`, `mailfull`, `full mailbox`, `mailbox size`,
		`(mailbox|user|account|recipient).{0,30}(insufficient|not enough) (disk |storage )?space`,
		`(insufficient|not enough) (disk |storage )?space .{0,20}(mailbox|user|account)`,
		`boite.{0,20}pleine`,
	),
	rule("message-size", MessageTooLarge, 89,
		`too (big|large)`, `size (limit|exceed)`, `exceeds? .{0,30}(size|limit)`,
		`exceeded .{0,20}size`, `length exceeds`, `sizelimit`, `message is larger`,
		`larger than .{0,30}(limit|allowed|maximum)`, `message size`, `maximum (message )?size`,
		`attachments? .{0,20}too (long|big|large)`,
	),
	rule("message-format", SyntaxError, 88,
		`duplicate header`, `multiple .{0,30}headers?`, `missing .{0,30}(header|message-id)`,
		`message-id header`, `header.{0,20}too long`, `line (limit|too long|length)`, `bare (lf|cr)`,
		`(headers?|message) (is |are )?(not |non-?)(rfc.?)?compliant`,
	),
	rule("sender-auth", AuthFailure, 87,
		`dmarc`, `\bspf\b`, `dkim`, `sender.?id\b`, `sender policy framework`,
		`purported responsible`, `\barc\b`, `sender is unauthenticated`,
		`fails? to pass .{0,20}authentication`,
		`authentication (checks|information|level|requirements)`,
		`unauthenticated (e-?mail|message|mail)`, `(is|was|are) unauthenticated`,
		`invalid ip for sending`, `not pass authentication`, `authentication fail`, `fail(ed|ure)? authentication`,
	),
	rule("relay", RelayDenied, 86,
		`relay(ing)? (access )?(is )?(denied|not permitted|not allowed|prohibited|refused)`,
		`unable to relay`, `(cannot|can't|will not|won't) relay`, `no relaying`,
		`not configured to relay`, `insecure mail relay`, `rcpthosts`, `unauthenticated senders`,
		`we do not relay`, `relay not`, `not authenticated to (send|relay)`,
		`not authori[sz]ed to relay`, `relay for .{0,40}(denied|not)`, `denies relay`, `\brelay check`,
		`local users? only`, `must be authenticated`,
	),
	// The recipient's organisation keeps its own allow or block list.
	rule("organisation-list", PolicyRejected, 85,
		`allow/block list`, `(tenant|organi[sz]ation'?s?) .{0,20}(allow|block)[- ]?list`,
		`not (in|on) (the |their |our |your )?(white|allow|safe)[- ]?list`, `allowed[- ]senders? list`,
		`not in (the |their )?allowed[- ]senders`,
	),
	// The message itself is called spam: beats "unsolicited" reputation.
	rule("message-is-spam", SpamContent, 84,
		`(this|the|your) (message|e-?mail|mail) (is|was|has been|looks|appears)( to be)? (likely |probably |considered |identified as |classified as |detected as |marked as )*(as )?(spam|unsolicited|junk|bulk)`,
	),
	rule("reverse-dns", ReverseDNS, 85,
		`reverse dns`, `\brdns\b`, `\bptr\b`, `reverse (lookup|resolution|hostname|host name|dns)`,
		`ip name lookup failed`, `(find|resolve) your (reverse )?host ?name`,
		`hostname .{0,20}(does not|doesn't) resolve`, `unverifiable`, `unverifyable`,
		`(helo|ehlo)\b.{0,40}(invalid|rejected|not (a )?(valid|fqdn|resolv|found)|host not found|bogus|forged)`,
		`invalid (helo|ehlo)`, `invalid domain name`,
		`(helo|ehlo|host ?name|host name).{0,40}(fqdn|fully.qualified)`,
		`(fqdn|fully.qualified).{0,20}(host|helo|ehlo)`, `forward.confirmed`, `\bfcrdns\b`,
		`generic (hostname|rdns)`, `bad (helo|ehlo)`, `helo ?host`,
	),
	rule("volume-frequency", RateLimited, 84,
		`frequency limit`, `too frequent`,
		`too many (connections|messages|recipients|sessions|concurrent|mails|emails|simultaneous)`,
		`receiving mail (at a rate|too quickly)`, `too much (e-?mail|mail)`, `in a short (period|time)`, `rate limit(ed)? exceeded`, `connection rate`,
		`exceeded .{0,20}(connection|message|recipient)s? limit`,
	),
	rule("uri-blocklist", SpamContent, 83,
		`surbl`, `uribl`, `\bdbl\b`,
		`\b(urls?|uris?|links?)\b (in|within|found in|contained in) (the |this |your )?(message|body|e-?mail|content)`,
		`(message|body) contains? .{0,30}(blocked|black-?listed|listed|suspicious|malicious) (url|uri|link|domain)`,
		`\b(urls?|uris?)\b.{0,30}\b(listed|black-?listed|block-?listed)\b`,
	),
	rule("attachment", SpamContent, 83,
		`attachment.{0,30}(not allowed|banned|blocked|prohibited|forbidden|rejected|dangerous)`,
		`(unacceptable|disallowed|not permitted|restricted|forbidden|blocked|prohibited|banned) (file |file types? |types? of )?attachments?`,
		`(banned|blocked|prohibited|forbidden|illegal|dangerous|unsafe|executable) (file|attachment|content)`,
	),
	rule("blocklist", BlockedReputation, 82,
		`block(ed)? (using|by|listed)`, `black ?list`, `block ?list`, `dnsbl`, `\brbls?\b`,
		`spamhaus`, `spamcop`, `mailspike`, `abuseat`, `sorbs`, `barracuda`, `reputation`,
		`complaints`, `banned`, `open ?relay`, `spamming`, `spammer`, `spam sender`, `black ?ip`,
		`dictionary attack`, `directory harvest`, `sending spam`, `spam (site|source|host)`,
		`sender (address |domain )?(is )?blocked`, `your access .{0,60}(rejected|denied|blocked|revoked)`,
		`\bblock(ed)? for (spam|abuse)`, `\(bl\)`, `listed (at|on|in|by)`,
		`^\W*blocked\b`, `unsolicited`, `bulk mail`,
		`\bip\b.{0,30}(not (allowed|permitted|accepted|authori[sz]ed)|rejected|refused|denied)`,
		`not accepted from this ip`, `sender (is )?blocked`, `suspicious activity`,
		`\b(client|host|server|sender|ip)( host)? (is |has been )?(temporarily |permanently )?blocked\b`,
		`(you are|you have been|your (ip|server|host|domain|network|mail server)( address)?( has been| is)?) (temporarily |permanently )?blocked`,
	),
	rule("isp-network", BlockedReputation, 81,
		`internet service provider`, `server of your isp`, `dynamic ip`, `residential`, `dial-?up`,
		`host network not allowed`, `access from ip address .{0,40}blocked`,
		`access forbidden by your ip`, `may not be mail exchanger`, `not accepting connections`,
	),
	// Volume limits by name; below reputation ("volume or complaints").
	rule("volume-limit", RateLimited, 80,
		`(daily|hourly|relay|sending|send|messages?|recipients?|receive|submission|outbound|connections?|per[- ](hour|day|minute)) (\w+ )?limits?\b`,
		`limits? (has been |was |is )?(exceeded|reached)`, `(reached|exceeded|hit|over) .{0,40}\blimits?\b`,
		`limits for how many`, `(messages?|connections?|recipients?|mails?|e-?mails?) per (hour|day|minute|second|connection|session)`,
		`unexpected volume`, `(high|unusual) volume`,
	),
	rule("volume", RateLimited, 78,
		`rate limit`, `rate-limit`, `too (quickly|fast)`, `slow(er)? down`, `try again slower`,
		`temporarily deferred`, `too many`, `throttl`, `exceeded .{0,20}limit of`,
		`maximum number of`,
	),
	// TLS negotiation that fails is transport; TLS demanded is a policy.
	rule("tls-failure", NetworkError, 77,
		`(tls|starttls|ssl) (handshake|negotiation|failed|failure|error|not (supported|available)|unavailable)`,
		`does not support (tls|starttls)`, `\bdane\b`, `tlsa`, `mta-sts`, `dnssec`,
		`certificate.(verif|valid|expired|error|host|mismatch|name)`,
		`certificate .{0,30}(expired|invalid|untrusted|self.signed|does not match)`,
	),
	// Beats volume: "rate limited because ... not sent over TLS".
	rule("tls-required", PolicyRejected, 80,
		`starttls is required`, `tls (is )?required`,
		`must (use|issue a|support) (starttls|tls)`, `starttls command first`,
		`requires? .{0,40}\b(tls|encryption|starttls)\b`, `encryption (is )?required`,
		`(over|through|using|use) (a )?tls\b`,
	),
	// A receiver that wants SMTP AUTH: on 530 that is relaying (the code's
	// prior wins), elsewhere a restriction of who may send.
	rule("auth-required", PolicyRejected, 58,
		`authentication (is )?required`, `authrequired`,
	),
	rule("sender-address", InvalidSender, 75,
		`sender address`, `sender domain`, `sending domain`, `domain of sender`, `unroutable sender`, `from: domain`,
		`not verified`, `sender (verify|verification)`, `verify sender`,
		`mail from .{0,40}(does not exist|invalid|unknown)`, `envelope sender`, `send as this`,
		`permissions? to send as`, `not allowed to send (as|on behalf)`,
		`sender .{0,20}(must exist|does not resolve)`, `(fake|null|forged) sender`,
		`sender (is )?(not allowed|forged|fake)`,
	),
	rule("recipient-syntax", UserUnknown, 74,
		`bad destination mailbox`, `recipient address syntax`, `bad recipient address`,
		`(bad|invalid) (e-?mail )?address (mailbox )?syntax`, `no (correct|valid) recipients?`,
		`mailbox name (not allowed|invalid)`,
	),
	rule("protocol", SyntaxError, 72,
		`rfc ?5322`, `rfc ?2822`, `rfc ?822`, `not (rfc.?)?compliant`, `non-?compliant`, `header error`,
		`improperly.formatted`, `8.bit data`, `syntax`,
		`protocol (violation|error)`, `sequence of commands`, `out of\s+sequence`,
		`command parameter`, `media error`, `binary content`,
		`unrecogni[sz]ed command`, `command (not recognized|unrecogni[sz]ed)`, `malformed`,
		`invalid (command|argument)`, `parse error`,
	),
	// Our host or IP refused in the server's own words.
	rule("ip-refused", BlockedReputation, 64,
		`permanently deferred`,
		`(messages|mail|connections?) from .{0,50}(temporarily |permanently )?(deferred|refused|not accepted)`,
		`\b(rtr|rly|dyn):[a-z]{1,2}\d?\b`,
	),
	// Product codes documented by the providers that send them (AOL,
	// Verizon): the code is all the reply says.
	rule("content-code", SpamContent, 64, `\bhvu:[a-z]{1,2}\d?\b`),
	rule("rdns-code", ReverseDNS, 64, `\bdns:n[rx]\b`),
	rule("connection-code", RateLimited, 64, `\bcon:[a-z]{1,2}\d?\b`),
	rule("spam", SpamContent, 70,
		`spam`, `virus`, `malware`, `phish`, `\bube\b`, `unacceptable content`,
		`content (rejected|denied|refused|filter|blocked)`, `message content`, `scor(e|ed) `,
		`security issue`, `security polic`, `infected`, `suspicious (content|message|link)`,
		`junk mail`, `suspect(ed)? content`,
	),
	rule("access-denied-directory", UserUnknown, 68,
		`recipient address rejected: access denied`,
		`all recipient addresses rejected.{0,10}access denied`,
	),
	// The recipient (or its administrator) chose to refuse us: as specific
	// as an address code, and about the recipient's wishes, not existence.
	rule("recipient-choice", PolicyRejected, 66,
		`preferences`, `user reject`, `envelope blocked`, `rejected by (the )?recipients?([ .,;]|$)`,
		`recipient (has )?(blocked|rejected)`, `not allowed to (receive|send)`,
	),
	rule("policy", PolicyRejected, 50,
		`polic(y|ies)`, `access denied`, `permission denied`, `administratively (denied|prohibited|rejected)`, `not authori[sz]ed`, `filtered`,
		`redundant`, `denied by`, `prohibition`, `restricted`, `not permitted`,
	),
	rule("domain-not-found", DomainNotFound, 62,
		`host unknown`, `unknown host`, `domain (is )?not (found|reachable|resolv|exist)`,
		`domain .{0,30}(not reachable|does not exist|doesn't exist)`, `no such domain`,
		`invalid domain`, `non-?existent domain`, `unknown domain`, `host does not accept mail`,
		`not accepting network messages`, `bad destination system`, `null mx`, `nxdomain`,
		`norecords`, `no (mx|a) records?`, `host not found`, `domain name not found`,
		`unrouteable mail domain`,
	),
	rule("user-unknown", UserUnknown, 60,
		`user ?unknown`, `unknown (user|recipient|mailbox|address|alias)`,
		`no such (user|mailbox|recipient|account|address|person|local user)`,
		who+`\b.{0,40}(does ?n[o']t exist|doesn't exist|not (found|exist|known|valid)|unknown|invalid|non-?existent)`,
		`invalid (recipient|mailbox|user|address|e-?mail address)`, `recip(ient)?notfound`,
		`not our customer`, `no mailbox`, `not a (registered|valid|known) `,
		`illegal (user|alias)`, `doesn't have an? .{0,40}account`, `bad destination mailbox`,
		`destinataire invalide`, `mailbox unavailable`, `mailbox not found`,
		`invalid/inactive user`, `unrouteable address`, `addressee unknown`,
		`not listed in .{0,30}(directory|address book)`, `no one (here )?by that name`,
		`nonexistent (user|mailbox|address)`,
		`(mailbox|user|account|address|recipient) (is |currently )?unavailable`,
	),
	// Postfix's prefix for any client restriction: "Client host rejected:
	// Access denied" is a local policy, a bare one a block of our host.
	rule("client-refused", BlockedReputation, 48,
		`client host (rejected|refused|blocked)`,
	),
	rule("sender-refused", InvalidSender, 45,
		`(unregistered|unverified) (sender |sending )?domains?`,
	),
	rule("network", NetworkError, 45,
		`timed out`, `time-?out`, `connection (refused|reset|lost|dropped|closed)`,
		`failed to connect`, `could not connect`, `unable to connect`, `network (is )?unreachable`,
		`no route`, `no answer from host`, `dns (lookup |query )?(fail|error|temporary)`,
		`lost connection`, `broken pipe`,
	),
	rule("system", SystemError, 42,
		`internal`, `system (error|full|storage|resources)`, `mailer error`,
		`config(uration)? (error|problem)`, `misconfigur`, `resources? (temporarily )?unavailable`,
		`temporary local problem`, `local error`, `insufficient`, `disk space`, `disk full`,
		`storage`, `queue file`, `service (currently |not |is |temporarily )*(un)?available`,
		`busy`, `could not load`, `server error`, `\bqq\b.{0,20}problem`, `shutting down`,
		`overloaded`, `system problem`, `out of memory`, `database .{0,20}error`, `temporar(y|ily) (system|server|local) (problem|error|failure)`,
	),
	rule("no-reason", Unclassified, 40,
		`^\W*(rejected|transaction failed|temporary failure|mail refused|on hold|error)\W*$`,
		`on hold`, `mail refused`, `\brecipient error\b`,
	),
	rule("address-rejected", UserUnknown, 38,
		`address rejected`, `recipient rejected`, `invalid recipient`,
	),
}
