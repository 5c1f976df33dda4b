package policy

import "regexp"

// textRule matches the normalised, lower-cased reply text. Rules are tried
// in order and the first match decides the category, so the order encodes
// the labelling policy's precedence: specific wording about the mailbox
// beats generic wording; reputation beats volume; sender authentication and
// protocol complaints beat the "to protect our users from spam" boilerplate.
//
// Patterns name phrases and product codes that many servers share, never one
// provider's whole sentence: the evaluation set comes from providers the
// development corpus does not show.
type textRule struct {
	name string
	cat  Category
	re   *regexp.Regexp
}

func rule(name string, cat Category, pattern string) textRule {
	return textRule{name: name, cat: cat, re: regexp.MustCompile(pattern)}
}

// Shared fragments. who names the thing a recipient-side phrase is about.
const (
	who      = `(user|account|mailbox|recipient|e-?mail address|address|e-?mail account|destinataire)`
	owner    = `(account|mailbox|user|e-?mail address|recipient|compte)`
	disabled = `(disabled|de-?activated|suspended|discontinued|frozen|locked|closed|blocked|bloque|terminated|not active)`
)

var textRules = []textRule{
	// Transport first: a relay's loop or expiry report quotes the last
	// reply, whose wording must not decide.
	rule("greylisting", Greylisting, `gr[ae]y[- ]?list`),
	rule("expired-in-transit", NetworkError, `message expired|queue\.expired|delivery time expired|unable to deliver in \d+|retry timeout exceeded|message has been in the queue too long`),
	rule("mail-loop", NetworkError, `too many hops|hop count|mail loop|routing loop|loops? back|loop detected|mail forwarding loop`),
	// The mailbox exists but is out of use: beats quota and "no such user"
	// ("out of storage space and inactive", "invalid/inactive user" aside).
	rule("mailbox-disabled", MailboxDisabled, `\binactive (e-?mail|mail|account|mailbox|address)|and inactive|is (currently )?inactive|(mailbox|account) inactive|`+owner+`\b.{0,40}\b`+disabled+`\b|`+disabled+` (user|account|recipient|mailbox|e-?mail)|suspend the service|no longer (on|at|with|active|in use|available)|has moved|has been replaced by|moved permanently|no forwarding address|account (has )?expired`),
	rule("domain-owner-changed", DomainNotFound, `domain owner has changed`),
	rule("send-quota", RateLimited, `(daily|hourly|relay|sending|send|message|outbound) quota|(sending|send|message|maximum) rate`),
	rule("mailbox-full", MailboxFull, `quota|mailbox (is )?full|mailbox.{0,20}\bfull\b|inbox.{0,20}\bfull\b|\bstuffed\b|out of storage|storage (space )?(exceeded|allocation|limit)|exceeded storage|mailfull|full mailbox|mailbox size|(mailbox|user|account|recipient).{0,30}(insufficient|not enough) (disk |storage )?space|(insufficient|not enough) (disk |storage )?space .{0,20}(mailbox|user|account)|boite.{0,20}pleine`),
	rule("message-size", MessageTooLarge, `too (big|large)|size (limit|exceed)|exceeds? .{0,30}(size|limit)|exceeded .{0,20}size|length exceeds|sizelimit|message is larger|larger than .{0,30}(limit|allowed|maximum)|message size|maximum (message )?size`),
	rule("duplicate-header", SyntaxError, `duplicate header|multiple .{0,30}headers?|missing .{0,30}(header|message-id)|message-id header`),
	rule("sender-auth", AuthFailure, `dmarc|\bspf\b|dkim|sender.?id\b|sender policy framework|purported responsible|\barc\b|sender is unauthenticated|fails? to pass .{0,20}authentication|authentication (checks|information|level|requirements)|unauthenticated (e-?mail|message|mail)|(is|was|are) unauthenticated|invalid ip for sending|not pass authentication|authentication fail`),
	rule("relay", RelayDenied, `relay(ing)? (access )?(is )?(denied|not permitted|not allowed|prohibited|refused)|unable to relay|(cannot|can't|will not|won't) relay|no relaying|not configured to relay|insecure mail relay|rcpthosts|unauthenticated senders|we do not relay|relay not|not authenticated to (send|relay)|not authori[sz]ed to relay|relay for .{0,40}(denied|not)`),
	rule("reverse-dns", ReverseDNS, `reverse dns|\brdns\b|\bptr\b|reverse (lookup|resolution|hostname|host name|dns)|ip name lookup failed|(find|resolve) your (reverse )?host ?name|hostname .{0,20}(does not|doesn't) resolve|unverifiable|unverifyable|(helo|ehlo)\b.{0,40}(invalid|rejected|not (a )?(valid|fqdn|resolv|found)|host not found|bogus|forged)|invalid (helo|ehlo)|invalid domain name|(helo|ehlo|host ?name|host name).{0,40}(fqdn|fully.qualified)|(fqdn|fully.qualified).{0,20}(host|helo|ehlo)|forward.confirmed|\bfcrdns\b|generic (hostname|rdns)`),
	rule("volume-frequency", RateLimited, `frequency limit|too frequent|too many (connections|messages|recipients|sessions|concurrent|mails|emails|simultaneous)|receiving mail (at a rate|too quickly)|rate limit(ed)? exceeded|connection rate|exceeded .{0,20}(connection|message|recipient)s? limit`),
	rule("uri-blocklist", SpamContent, `surbl|uribl|\b(urls?|uris?|links?)\b (in|within|found in|contained in) (the |this |your )?(message|body|e-?mail|content)|(message|body) contains? .{0,30}(blocked|black-?listed|listed|suspicious|malicious) (url|uri|link|domain)`),
	rule("attachment", SpamContent, `attachment.{0,30}(not allowed|banned|blocked|prohibited|forbidden|rejected|dangerous)|(banned|blocked|prohibited|forbidden|dangerous|unsafe|executable) (file|attachment|content)`),
	rule("blocklist", BlockedReputation, `block(ed)? (using|by|listed)|black ?list|block ?list|dnsbl|\brbls?\b|spamhaus|spamcop|mailspike|abuseat|sorbs|barracuda|reputation|complaints|banned|open relay|spamming|\(bl\)|listed (at|on|in|by)|^\W*blocked\b|unsolicited|bulk mail|\bip\b.{0,30}(not (allowed|permitted|accepted|authori[sz]ed)|rejected|refused|denied)|not accepted from this ip|sender (is )?blocked|suspicious activity|(you are|you have been|your (ip|server|host|domain|network|mail server)( address)?( has been| is)?) (temporarily |permanently )?blocked`),
	rule("isp-network", BlockedReputation, `internet service provider|server of your isp|dynamic ip|residential|dial-?up|host network not allowed|access from ip address .{0,40}blocked|access forbidden by your ip|may not be mail exchanger|not accepting connections`),
	rule("volume", RateLimited, `rate limit|rate-limit|too (quickly|fast)|slow(er)? down|try again slower|temporarily deferred|too many|throttl|exceeded .{0,20}limit of|maximum number of`),
	// TLS negotiation that fails is transport; TLS demanded is a policy.
	rule("tls-failure", NetworkError, `(tls|starttls|ssl) (handshake|negotiation|failed|failure|error|not (supported|available)|unavailable)|does not support (tls|starttls)|\bdane\b|tlsa|mta-sts|certificate (verif|valid|expired|error)`),
	rule("tls-required", PolicyRejected, `authentication required|authrequired|starttls is required|tls (is )?required|must (use|issue a) (starttls|tls)|starttls command first|requires? (tls|encryption|starttls)|encryption (is )?required`),
	rule("sender-address", InvalidSender, `sender address|sender domain|domain of sender|unroutable sender|from: domain|not verified|sender (verify|verification)|verify sender|mail from .{0,40}(does not exist|invalid|unknown)|envelope sender|send as this|permissions? to send as|not allowed to send (as|on behalf)|sender .{0,20}(must exist|does not resolve)`),
	rule("recipient-syntax", UserUnknown, `bad destination mailbox|recipient address syntax|bad recipient address|mailbox name (not allowed|invalid)`),
	rule("protocol", SyntaxError, `rfc ?5322|rfc ?2822|rfc ?822|not compliant|non-?compliant|header error|improperly.formatted|8.bit data|syntax|line (limit|too long|length)|protocol (violation|error)|sequence of commands|out of\s+sequence|command parameter|bare (lf|cr)|media error|binary content|unrecogni[sz]ed command|command (not recognized|unrecogni[sz]ed)|malformed|invalid (command|argument)`),
	rule("spam", SpamContent, `spam|virus|malware|phish|\bube\b|content (rejected|denied|refused|filter|blocked)|message content|scor(e|ed) |security issue|security polic|infected|suspicious (content|message|link)|junk mail`),
	rule("access-denied-directory", UserUnknown, `recipient address rejected: access denied|all recipient addresses rejected.{0,10}access denied`),
	rule("policy", PolicyRejected, `polic(y|ies)|access denied|not authori[sz]ed|filtered|preferences|redundant|denied by|user reject|prohibition|rejected by (the )?recipient|recipient (has )?(blocked|rejected)|restricted|not permitted|not allowed to (receive|send)`),
	rule("domain-not-found", DomainNotFound, `host unknown|unknown host|domain (is )?not (found|reachable|resolv|exist)|domain .{0,30}(not reachable|does not exist|doesn't exist)|no such domain|invalid domain|non-?existent domain|unknown domain|host does not accept mail|not accepting network messages|bad destination system|null mx|nxdomain|norecords|no (mx|a) records?|host not found|domain name not found|unrouteable mail domain`),
	rule("user-unknown", UserUnknown, `user ?unknown|unknown (user|recipient|mailbox|address|alias)|no such (user|mailbox|recipient|account|address|person|local user)|`+who+`\b.{0,40}(does ?n[o']t exist|doesn't exist|not (found|exist|known|valid)|unknown|invalid|non-?existent)|invalid (recipient|mailbox|user|address|e-?mail address)|recip(ient)?notfound|not our customer|no mailbox|not a (registered|valid|known) |illegal (user|alias)|doesn't have an? .{0,40}account|bad destination mailbox|destinataire invalide|mailbox unavailable|mailbox not found|invalid/inactive user|unrouteable address|addressee unknown|not listed in .{0,30}(directory|address book)|no one (here )?by that name|nonexistent (user|mailbox|address)|(mailbox|user|account|address|recipient) (is |currently )?unavailable`),
	rule("network", NetworkError, `timed out|time-?out|connection (refused|reset|lost|dropped|closed)|failed to connect|could not connect|unable to connect|network (is )?unreachable|no route|no answer from host|dns (lookup |query )?(fail|error|temporary)|lost connection|broken pipe`),
	rule("system", SystemError, `internal|system (error|full|storage|resources)|mailer error|config(uration)? (error|problem)|misconfigur|resources? (temporarily )?unavailable|temporary local problem|local error|insufficient|disk space|disk full|storage|queue file|service (currently |not |is |temporarily )*(un)?available|busy|could not load|server error|\bqq\b.{0,20}problem|shutting down|overloaded`),
	rule("no-reason", Unclassified, `^\W*(rejected|transaction failed|temporary failure|mail refused|on hold|error)\W*$|on hold|mail refused|\brecipient error\b`),
	rule("address-rejected", UserUnknown, `address rejected|recipient rejected|invalid recipient`),
}
