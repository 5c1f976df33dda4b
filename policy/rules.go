package policy

import "strings"

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
	// remoteOnly: speaks only for a reply a server sent, not for a local
	// failure (Code 0) worded by our own dialer ("connection refused").
	remoteOnly bool
	// enh, when set, lists the enhanced codes (or "x.y." prefixes; ""
	// for none) the family speaks for.
	enh     []string
	phrases []phrase
}

func (f *family) enhancedAllowed(e string) bool {
	if len(f.enh) == 0 {
		return true
	}
	for _, p := range f.enh {
		if p == e || (p != "" && strings.HasSuffix(p, ".") && strings.HasPrefix(e, p)) {
			return true
		}
	}
	return false
}

// remote marks f as speaking only for replies a server sent.
func remote(f family) family {
	f.remoteOnly = true
	return f
}

// onlyWith limits f to the enhanced codes given.
func onlyWith(f family, codes ...string) family {
	f.enh = codes
	return f
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
		`gr[ae]y[- ]?list`, `postgrey`,
	),
	// What greylisters say instead of the word: weaker, and only on 4xx.
	soft(rule("greylist-wording", Greylisting, 90,
		`not yet authori[sz]ed`, `greylisted`, `first (time )?(contact|attempt)`,
		`(sender|triplet|tuple) .{0,20}not (yet )?(seen|known)`, `temporary (embargo|deferral)`,
		// Mimecast's documented greylisting default.
		`internal resource (is )?temporarily unavailable`,
	)),
	soft(rule("retry-in", Greylisting, 60,
		`(try|retry|resend)( again)? in \d+ ?(s\b|sec|seconds?|min|minutes?)`,
		`deferred for \d+ ?(s\b|sec|seconds?|min|minutes?)`, `temporarily (rejected|deferred), (please )?(try|retry)`,
	)),
	// A deferral that only asks to come back: what greylisters say. Above
	// "no reason" wording and the code priors, below any phrase that gives
	// a reason ("temporary local problem, try later" is the system's).
	soft(rule("try-later", Greylisting, 41,
		`(please )?(try|retry|resend|send)( (it|again|your message|the message|this message))? later`,
		`come back later`, `temporarily (rejected|refused|delayed|denied)`, `(please )?(try|retry) again\b`,
		`\bdeferred\W*$`, `later\W*$`,
	)),
	// Yahoo's and others' bare "temporarily deferred" is about our volume
	// or standing, never the recipient: weak, below any reason.
	soft(rule("deferred", RateLimited, 43, `temporarily deferred`)),
	rule("expired-in-transit", NetworkError, 95,
		`message expired`, `queue\.expired`, `delivery time expired`, `unable to deliver in \d+`,
		`retry timeout exceeded`, `message has been in the queue too long`,
	),
	rule("mail-loop", NetworkError, 95,
		`too many hops`, `hop count`, `mail loop`, `routing loop`, `loops? back`, `loop detected`,
		`mail forwarding loop`, `looping`, `\bloop detect`, `too many .?received`,
	),
	// The mailbox exists but is out of use: beats quota and "no such user"
	// ("out of storage space and inactive", "invalid/inactive user" aside).
	rule("mailbox-disabled", MailboxDisabled, 93,
		`\binactive (e-?mail|mail|account|mailbox|mbox|address)`, `(^|[^/])\binactive (user|recipient)`, `and inactive`,
		`is (currently )?inactive`, `(mailbox|account) inactive`,
		owner+`\b[^;,.]{0,40}\b`+disabled+`\b`, disabled+` (user|account|recipient|mailbox|e-?mail)`,
		`suspend the service`, `no longer (on|at|with|active|in use|available)`, `has moved`,
		`has been replaced by`, `moved permanently`, `no forwarding address`,
		`account (has )?expired`,
		// "<address> is now disabled ...": the address, stripped from the
		// prose, was the subject.
		`^\W*(is|has been) (now |currently |permanently )?(disabled|de-?activated|suspended|closed)\b`,
	),
	rule("domain-owner-changed", DomainNotFound, 92,
		`domain owner has changed`,
	),
	// Our own account may not send: about the sender, never the address.
	rule("sender-disabled", InvalidSender, 94,
		`(sending|outgoing|outbound) [^;,.]{0,30}\b(disabled|suspended|locked|deactivated|denied|restricted)`,
		`sender'?s? (account|mailbox|user)\b.{0,40}\b(disabled|suspended|locked|deactivated|not registered|not found|unknown|does not exist)`,
		`(account|user) .{0,30}(not|no longer) (allowed|permitted|authori[sz]ed) to send`,
	),
	rule("send-quota", RateLimited, 91,
		`(daily|hourly|relay|sending|send|message|outbound|submission|transfer|session|traffic) ?quota`, `your account .{0,30}\bquota`,
		`(sending|send|message|maximum) rate`, `\brate[- ]?control`,
	),
	rule("mailbox-full", MailboxFull, 90,
		`quota`, `mailbox (is )?full`, `mailbox.{0,20}\bfull\b`, `inbox.{0,20}\bfull\b`,
		`\bstuffed\b`, `out of storage`, `storage (space )?(exceeded|allocation|limit)`,
		`exceeded storage`, `(mailbox|inbox)\b.{0,30}\b(reached|exceeded|over)\b.{0,30}\b(size|storage|capacity)`, `(exhausted|used up) .{0,30}(storage|space|quota)`, `mailfull`, `full mailbox`, `mailbox size`, `(volume|size) of (the )?(recipient'?s?|user'?s?|destination) (mailbox|inbox)`,
		`(mailbox|user|account|recipient).{0,30}(insufficient|not enough) (disk |storage )?space`,
		`(insufficient|not enough) (disk |storage )?space .{0,20}(mailbox|user|account)`,
		`bo[iî]te.{0,20}pleine`, `postfach.{0,20}\bvoll\b`, `speicherplatz.{0,30}(ersch[oö]pft|[uü]berschritten|voll)`,
		`(casella|buz[oó]n|caixa).{0,30}(piena|llen[oa]|cheia)`, `ящик переполнен`, `превышен.{0,20}(квот|размер ящика)`,
	),
	rule("message-size", MessageTooLarge, 89,
		`too (big|large)`, `size (limit|exceed)`, `exceeds? .{0,30}size`,
		`exceeded .{0,20}size`, `length exceeds`, `sizelimit`, `message is larger`,
		`larger than .{0,30}(limit|allowed|maximum)`, `message size`, `maximum (message )?size`,
		`attachments? .{0,20}too (long|big|large)`, `(message|e-?mail|mail) (is |was )?too long`, `size .{0,20}exceeded`,
		`length of (the )?(data|message|content|mail|e-?mail|attach)`,
		`(more|larger|bigger|greater) than \d+ ?(bytes|[km]i?b|[km])\b`,
	),
	rule("message-format", SyntaxError, 88,
		`duplicate header`, `multiple .{0,30}headers?`, `missing .{0,30}(header|message-id)`,
		`message-id header`, `header.{0,20}too long`, `line (limit|(is )?too long|length)`, `bare (lf|cr)`,
		// Line endings other than CRLF (bare LF): RFC 5321's framing.
		`(invalid|bad|illegal|improper|wrong|malformed) (line[- ]endings?|end[- ]of[- ]line|line terminat)`, `bare line ?feeds?`,
		`(headers?|message) (is |are )?(not |non-?)(rfc.?)?compliant`,
		`\bin (the )?(from|to|cc|reply-to|sender|date|subject):? header`, `header (line|field)s? .{0,30}(invalid|malformed|bad|missing)`,
		`(invalid|malformed|bad|missing) .{0,40}\bheader (line|field)`,
	),
	// Reputation beats volume (labelling policy): "too many messages from
	// an untrusted IP", "rate limited due to IP reputation".
	rule("reputation", BlockedReputation, 86, `reputation`, `complaints`, `untrusted`, `bad behaviou?r`, `too much spam`,
		`\bzombie`, `\bbotnet`, `spam abuse`, `abuse detected`,
		`\bcompromised\b`, `open proxy`, `(namespace|directory) (mining|harvest)`),
	rule("sender-auth", AuthFailure, 87,
		`dmarc`, `\bspf\b`, `dkim`, `sender.?id\b`, `sender policy framework`,
		`purported responsible`, `\barc\b`, `sender is unauthenticated`,
		`fails? to pass .{0,20}authentication`,
		`authentication (checks|information|level|requirements)`,
		`unauthenticated (e-?mail|message|mail)`, `(is|was|are) unauthenticated`,
		`invalid ip for sending`, `not pass authentication`, `authentication fail`, `fail(ed|ure)? authentication`,
		`is not (allowed|permitted|authori[sz]ed) to send (mail|e-?mail|messages?) (from|for|on behalf of)`,
		`not (a )?permitted sender`, `designates`,
		// DMARC in other words: the From domain's owner publishes the
		// policy the message failed.
		`domain owner('?s)? (dmarc )?polic(y|ies)`, `domain's (published )?(dmarc )?policy`,
	),
	rule("relay", RelayDenied, 86,
		`relay(ing)?\)? (operation |access )?(is )?(denied|not permitted|not allowed|prohibited|refused|rejected|forbidden)`,
		`unable to relay`, `(cannot|can't|will not|won't) relay`, `no relaying`, `not (an? )?(accepted|allowed|permitted|valid) relay`,
		// POP-before-SMTP: log in to read mail first, then relay.
		`(receive|check|read|fetch) (your )?(mail|e-?mail) before sending`, `pop3?[- ]before[- ]smtp`, `smtp[- ]after[- ]pop3?`,
		`not configured to relay`, `insecure mail relay`, `rcpthosts`, `unauthenticated senders`,
		`we do not relay`, `relay not`, `not authenticated to (send|relay)`,
		`not (authori[sz]ed|permitted|allowed) to relay`, `unauthori[sz]ed relay`, `relay(ing)? (for|from|to) .{0,60}\b(is |are )?(denied|not (permitted|allowed)|prohibited|refused|forbidden)`, `denies relay`, `\brelay check`,
		`local users? only`, `must be authenticated`,
		`(domain|recipient|address) .{0,30}not (configured|hosted|handled|served|set up) (on|by|for|to use|here|at)`,
		`not (accepting|accept|handling|handle|hosting|host) (e-?mail|mail|messages) for (this |that |the |your )?domain`,
	),
	// The recipient's organisation keeps its own allow or block list.
	rule("organisation-list", PolicyRejected, 85,
		`allow/block list`, `(tenant|organi[sz]ation'?s?) .{0,20}(allow|block)[- ]?list`,
		`not (in|on) (the |their |our |your )?(white|allow|safe)[- ]?list`, `allowed[- ]senders? list`,
		`not in (the |their )?allowed[- ]senders`,
		`(user'?s?|recipient'?s?|personal|own) (reject|block|black|deny)[- ]?list`,
		`(admin|administrator'?s?|local|company|custom|site) (reject|block|black|deny)[- ]?list`,
		// "<recipient> has blacklisted <sender>": not "has been".
		`\bhas (black|block|deny)[- ]?listed\b`,
		// The recipient is on the server's own list: a local rule about
		// that address, not a listing of us. Not across a colon: after
		// Postfix's "Recipient address rejected:" the reason may be ours.
		`\b(rcpt|recipient|addressee)\b[^.;:]{0,60}\b((is|are) (in|on) (the |our |a )?(black|block|deny)[- ]?list|(black|block|deny)[- ]?listed\b)`,
	),
	// The message itself is called spam: beats "unsolicited" reputation.
	rule("message-is-spam", SpamContent, 84,
		`(consider|considered|treat|treated|classif(y|ied)|judge|judged|mark|marked) (it|this|the message|this message|your message) (as )?(a |probable )?spam`,
		`(this|the|your) (e-?mail |mail )?(message|e-?mail|mail) (is|was|has been|looks|appears)( to be)? (likely |probably |considered |identified as |classified as |detected as |marked as )*(as )?(spam|unsolicited|junk|bulk)`,
	),
	rule("reverse-dns", ReverseDNS, 85,
		`reverse dns`, `\brdns\b`, `\bptr\b`, `reverse (lookup|resolution|hostname|host name|dns)`,
		`ip name lookup failed`, `(find|resolve) your (reverse )?host ?name`,
		`hostname .{0,20}(does not|doesn't) resolve`, `unverifiable`, `unverifyable`,
		`(helo|ehlo)\b.{0,40}(invalid|rejected|not (a )?(valid|fqdn|resolv|found)|host not found|bogus|forged)`,
		`invalid (helo|ehlo)`, `invalid domain name`,
		`(helo|ehlo|host ?name|host name).{0,40}(fqdn|fully.qualified)`,
		`(fqdn|fully.qualified).{0,20}(host|helo|ehlo)`, `forward.confirmed`, `\bfcrdns\b`,
		`bad (helo|ehlo)`, `helo ?host`,
		`reverse look`, `no dns (entries|entry|records?) for your`,
		`\b(invalid|bad|malformed|bogus)\b.{0,30}\bin (the )?(helo|ehlo)\b`,
		`(no|missing) .{0,30}records? .{0,30}(helo|ehlo) ?(host ?name|name|domain)?`,
	),
	rule("volume-frequency", RateLimited, 84,
		`frequency limit`, `too frequent`,
		`too many (connections|messages|recipients|sessions|concurrent|mails|e-?mails|simultaneous)`,
		`receiving mail (at a rate|too quickly)`, `too much (e-?mail|mail)`, `in a short (period|time)`, `rate limit(ed)? exceeded`, `connection rate`,
		`ratelimit`, `rate exceeded`, `connection (count|limit)`, `(concurrent|simultaneous|parallel) (smtp )?(connections|sessions)`,
		`(messages|mails|recipients|rcpts?) per (connection|session)`,
		`exceeded .{0,20}(connection|message|recipient)s? limit`,
	),
	rule("uri-blocklist", SpamContent, 83,
		`\b(urls?|uris?|links?)\b (in|within|found in|contained in) (the |this |your )?(message|body|e-?mail|content)`,
		`(message|body) contains? .{0,30}(blocked|black-?listed|listed|suspicious|malicious) (url|uri|link|domain)`,
		`\b(urls?|uris?)\b.{0,30}\b(listed|black-?listed|block-?listed)\b`,
	),
	// A URI list by name: below "blocked using", which a listing of the
	// sender's or HELO domain in the same lists says.
	rule("uri-list", SpamContent, 83, `surbl`, `uribl`, `\bdbl\b`),
	// "Client host / Sender address / Helo command [x] blocked using
	// <list>": a listing of us, whatever list it is.
	rule("blocked-using", BlockedReputation, 84, `blocked using`,
		`(sender|sending|from|envelope|your) domain( name)? .{0,40}\b(dbl|surbl|uribl|rhsbl)\b`, `\b(dbl|surbl|uribl)\b.{0,40}(sender|sending|from|envelope) domain`),
	// amavisd-new's verdict after its queue id ("Reject, id=1234-05 -
	// BANNED: x.exe"), the same on every installation: the content.
	rule("amavis-verdict", SpamContent, 85, `\bid=[\w.-]+ - (banned|infected|spam(my)?|bad-header)\b`),
	rule("attachment", SpamContent, 83,
		`attachment.{0,30}(not allowed|banned|blocked|prohibited|forbidden|rejected|dangerous)`,
		`(unacceptable|unsupported|disallowed|not permitted|restricted|forbidden|blocked|prohibited|banned) (file |file types? |types? of )?attachments?`,
		`(unsupported|disallowed|forbidden|blocked|prohibited|banned) file types?\b.{0,20}attachments?`,
		`(banned|blocked|prohibited|forbidden|illegal|dangerous|unsafe|executable) (file|attachment|content)`,
		`file (extension|type)s?\b.{0,30}(not allowed|banned|blocked|prohibited|forbidden|rejected|detected)`,
		`\bmacros?\b.{0,30}(found|detected|not allowed|prohibited|blocked)`, `contain(s|ing)? (vba |office )?macros`,
		`(high.risk|dangerous|blocked|banned|forbidden|prohibited|executable|black-?listed) (\w+ ){0,2}file (extension|type)`,
		`(black-?listed|banned|forbidden|blocked|disallowed|prohibited) (mime|content)[- ]types?`,
		// Gateways refuse what their scanners cannot open.
		`(encrypted|password[- ]protected) (archives?|attachments?|zip|files?)\b`,
	),
	rule("blocklist", BlockedReputation, 82,
		`block(ed)? (using|by|listed)`, `black ?list`, `block ?list`, `dnsbl`, `\brbls?\b`,
		`spamhaus`, `spamcop`, `mailspike`, `abuseat`, `sorbs`, `barracuda`, `reputation`, `\bnix ?spam\b`,
		`\b(sender|sending|your|from)? ?(domain|ip|host) (is )?(blocked|banned|black-?listed)\b`,
		`complaints`, `banned`, `open ?relay`, `spamming`, `spammer`, `spam sender`, `black ?ip`,
		`dictionary attack`, `(due to|because of|for) (\w+ ){0,2}abuse\b`, `badmailfrom`, `malicious (network|host|ip|sender|server|source)`, `directory harvest`, `sending (\w+ ){0,3}(of )?spam`, `spam (site|source|host)`,
		`sender (address |domain )?(is )?blocked`, `your access .{0,60}(rejected|denied|blocked|revoked)`,
		`\bblock(ed)? for (spam|abuse)`, `\(bl\)`, `listed (at|on|in|by)`,
		`^\W*blocked\W+\w`, `unsolicited`, `bulk mail`,
		`(bad|blocked|rejected|refused|black-?listed|banned|unknown|untrusted) (sender|sending|client|source|remote) ip\b`,
		`\bip\b.{0,30}(not (allowed|permitted|accepted|authori[sz]ed)|reject(ed)?|refused|denied)`,
		`not accepted from this ip`, `sender (is )?blocked`, `(suspicious|unusual) (sending )?activity`,
		`\b(client|host|server|sender|ip)( host)? (is |has been )?(temporarily |permanently )?blocked\b`,
		`\bips?\b( address(es)?)?.{0,40}\b(blocked|banned|black-?listed|block-?listed|deny-?listed|filtered)`,
		// Access refused to our host, IP or domain, whatever the words.
		`(no access|access (is )?(denied|refused|forbidden|blocked)|not (allowed|permitted|accepted)) (for|from|to) (this|your|the) (ip|host|client|server|network|domain|sender)\b`,
		`\b(blocked|banned|black-?listed|block-?listed|deny-?listed) .{0,20}\bips?\b`,
		`(you are|you have been|your (ip|server|host|domain|network|mail server)( address)?( has been| is)?) (temporarily |permanently )?blocked`,
		`\b(denied|refused|forbidden|blocked|banned) (to|for) you\b`,
	),
	rule("isp-network", BlockedReputation, 81,
		// Not the boilerplate "contact your e-mail/internet service provider
		// for help" that ends a reply whatever its reason.
		`contact your internet service provider`, `server of your isp`, `dynamic ip`, `residential`, `dial-?up`,
		`host network not allowed`, `access from ip address .{0,40}blocked`,
		`access forbidden by your ip`, `may not be mail exchanger`, `not accepting connections`,
		`(helo|ehlo|host ?name|rdns|ptr)\b.{0,20}\bdynamic\b`, `\bdynamic (helo|ehlo|hosts?|hostnames?|rdns|ptr|address(es)?|pool|range)\b`,
	),
	// A generic (dynamic-looking) PTR name: the host looks like an end
	// user's line, a block of us like "dynamic IP", above the PTR words.
	rule("generic-rdns", BlockedReputation, 86,
		`generic (host ?name|rdns|dns|ptr|reverse)`, `use your isp'?s? (smtp |mail )?(relay|server|smarthost)`,
	),
	// Volume limits by name; below reputation ("volume or complaints").
	rule("volume-limit", RateLimited, 80,
		`(daily|hourly|relay|sending|send|messages?|recipients?|receive|submission|outbound|connections?|per[- ](hour|day|minute)) (\w+ )?limits?\b`,
		`limits? (has been |was |is )?(exceeded|reached)`, `(reached|exceeded|hit|over) .{0,40}\blimits?\b`,
		`limits for how many`, `(messages?|connections?|recipients?|mails?|e-?mails?) per (hour|day|minute|second|connection|session)`,
		`unexpected volume`, `(high|unusual) volume`,
		`(mails?|messages|e-?mails|recipients|connections|domains)\b.{0,40}\bin the (last|past) \d+ (seconds?|minutes?|hours?)`,
		`\d+ (recipients|messages|mails|e-?mails|rcpts?) per \d* ?(seconds?|minutes?|hours?|days?)`,
		`number of (rcpts?|recipients|messages|mails|e-?mails|connections|(rcpt )?attempts) .{0,40}(over|exceed|maximum|threshold|reached|limit)`,
		`mail flood`, `\bflood(ing|ed)?\b`,
	),
	rule("volume", RateLimited, 78,
		`rate limit`, `rate-limit`, `too (quickly|fast)`, `slow(er)? down`, `try again slower`,
		`too many`, `throttl`, `volume`, `exceeded .{0,20}limit of`, `maximum number of`,
	),
	// Any limit on a deferral is a volume limit ("limit reached, closing
	// connection"); weaker than every phrase that names a reason.
	soft(rule("limit-words", RateLimited, 44,
		`\blimit(s|ed)?\b`, `\bexceed`, `\bmaximum\b`, `\bmax\b`,
	)),
	// RCPT commands are recipients: "too many RCPT commands" counts them,
	// above the bad-commands wording below.
	rule("too-many-rcpt", RateLimited, 86, `too many rcpts?\b`),
	// Too many bad commands is the dialogue's fault, not volume.
	rule("too-many-errors", SyntaxError, 85,
		`too many (\w+ ){0,3}(errors|commands?)\b`, `too (much|many) failures?\b`, `too many (invalid|bad|unknown|unrecogni[sz]ed) (\w+ )?commands`,
	),
	// Mail to many addresses that do not exist is a list-quality block of
	// our host, not a volume limit.
	rule("too-many-unknown", BlockedReputation, 86,
		`too many (unknown|invalid|non-?existent|failed) (users|recipients|addresses|rcpts?)`,
	),
	// TLS negotiation that fails is transport; TLS demanded is a policy.
	rule("tls-failure", NetworkError, 77,
		`(tls|starttls|ssl) (is )?(currently |temporarily )?(handshake|negotiation|failed|failure|error|not (supported|available)|unavailable)`,
		`does not support (tls|starttls)`, `\bdane\b`, `\bhandshake (error|fail(ed|ure)?)`, `tlsa`, `mta-sts`, `dnssec`,
		`certificate.(verif|valid|expired|error|host|mismatch|name)`,
		`certificate .{0,30}(expired|invalid|untrusted|self.signed|does not match)`,
	),
	// Beats volume: "rate limited because ... not sent over TLS".
	rule("tls-required", PolicyRejected, 80,
		`starttls is required`, `tls (is )?required`,
		`must (use|issue|support) (a )?(starttls|tls)`, `starttls command first`,
		`requires? .{0,40}\b(tls|encryption|starttls)\b`, `encryption (is )?required`,
		`(over|through|using|use) (a )?tls\b`,
		`(with|via|over|using|through) (an? )?encrypt(ed|ion)\b`, `encrypted (smtp |tls )?(session|connection|channel)`,
		`\bon (an? )?(tls|encrypted|secured?) (connection|session|channel)s?\b`, `\b(tls|starttls|encryption) (is )?(needed|mandatory)\b`,
	),
	// A receiver that wants SMTP AUTH: on 530 that is relaying (the code's
	// prior wins), elsewhere a restriction of who may send.
	// A receiver that wants SMTP AUTH before it takes the mail: relaying
	// (labelling policy); a delivery restriction names itself
	// (recipient-choice).
	// An AUTH mechanism the server does not offer: authentication failed,
	// above the protocol family's "mechanism not supported", below a demand
	// for TLS.
	rule("auth-mechanism", AuthFailure, 78,
		`(unsupported|unknown|unrecogni[sz]ed|invalid|bad) (smtp )?(auth|authentication|sasl) (method|mechanism|type)`,
		`(auth|authentication|sasl) (method|mechanism|type)s? (is |are )?(not supported|unsupported|not available|unknown|not allowed)`,
	),
	rule("auth-required", RelayDenied, 58,
		`authentication (is )?required`, `authrequired`, `not authenticated to send`,
		`smtp auth(entication)?\b.{0,30}(turned on|enabled?|required|needed)`,
		`authenticate first`, `(send|issue|use) auth (command )?first`, `unauthenticated (session|connection|client)`, `(must|need to|please) (log ?in|authenticate)\b`, `(log ?in|logged in)(to)? .{0,20}(pop|imap)`,
	),
	// A callout to our sender's own server failed: what that server said
	// about the address ("may be blacklisted", "no such user") is quoted
	// from it and speaks for the sender too.
	rule("sender-verify-failed", InvalidSender, 88,
		`sender (address )?(verify|verification|callout) (check )?(failed|failure)`,
		`(could not|unable to|cannot|can't) verify (the )?sender`,
	),
	rule("sender-address", InvalidSender, 75,
		`sender address`, `return(-| )?(e-?mail )?(address|path|domain)`, `sender domain`, `sending domain`, `domain of sender`, `unroutable sender`, `from: domain`,
		`not verified`, `sender (verify|verification)`, `verify sender`,
		`mail from .{0,40}(does not exist|invalid|unknown)`, `envelope sender`, `send as this`,
		`permissions? to send as`, `\bsend ?as ?denied`, `not allowed to send (as|on behalf)`,
		`not (allowed|authori[sz]ed|permitted) to send (from|as) (this|that|the|your)`,
		`(invalid|unknown|bad) sender`, `disposable (e-?mail )?(address|domain)`,
		`sender .{0,20}(must exist|does not resolve)`, `(fake|null|forged) sender`,
		`sender (is )?(not allowed|forged|fake)`, `\bsandbox\b`,
		`(from|sender)(/sender)? (name|address|domain) (is )?(not valid|invalid)`,
	),
	rule("recipient-syntax", UserUnknown, 74,
		`bad destination mailbox`, `recipient address syntax`, `bad recipient address`, `syntax error in (the )?(recipient|rcpt|destination) address`,
		`(bad|invalid) (e-?mail )?address (mailbox )?syntax`, `no (correct|valid) recipients?`,
		`mailbox name (not allowed|invalid)`,
		// Postfix's reject_non_fqdn_recipient and its kin; the same words
		// about the sender are the sender's (sender-address outweighs).
		`(need|needs|requires?) (a )?fully.qualified (e-?mail )?address`, `address must contain a domain`, `improper (recipient |e-?mail )?address`, `(restricted|invalid|illegal|forbidden) characters? in (the )?(recipient |e-?mail )?address`,
	),
	rule("protocol", SyntaxError, 72,
		`rfc ?5322`, `rfc ?2822`, `rfc ?822`, `not (rfc.?)?compliant`, `non-?compliant`, `header error`,
		`improperly.formatted`, `8.bit data`, `syntax`,
		`protocol (violation|error)`, `sequence of commands`, `out of\s+sequence`,
		`command parameter`, `media error`, `binary content`,
		`unrecogni[sz]ed command`, `command (not recognized|unrecogni[sz]ed)`, `malformed`,
		`invalid (command|argument)`, `parse error`, `(failed|unable|could not|cannot|can't) (to )?parse`, `(unable|failed) to be parsed`, `(could not|cannot|can't|can not) be parsed`, `synchroni[sz]ation error`, `pipelining`, `stray (newline|cr|lf)`,
		`non-?ascii`, `utf-?8`, `angle brackets?`, `smtputf8`, `internationali[sz]ed (address|e-?mail)`,
		`(subject|header|from|to)( line| field)? (contains?|has|with) (invalid|illegal|non-?ascii|unencoded|8-?bit|raw) (characters?|bytes?|text)`, `\bnul (characters?|bytes?)`, `\bnull (characters?|bytes?)`, `in smtp commands?\b`,
		`\b(per transaction|transactions?|commands?|extensions?|parameters?|options?|encodings?|mechanisms?) (is |are )?(unsupported|not supported)`,
	),
	// Our host or IP refused in the server's own words.
	rule("ip-refused", BlockedReputation, 64,
		`permanently deferred`,
		`(messages|mail|e-?mails|connections?) from .{0,50}(temporarily |permanently )?(deferred|refused|not accepted|blocked)`,
		`\b(rtr|rly|dyn):[a-z]{1,2}\d?\b`,
	),
	// Product codes documented by the providers that send them (AOL,
	// Verizon): the code is all the reply says.
	rule("content-code", SpamContent, 64, `\bhvu:[a-z]{1,2}\d?\b`, `\bdt:(spm|sum)\b`),
	// NetEase (163.com, 126.com, yeah.net) codes, by their documented
	// meaning; the rest of such a reply is a queue id and a help URL.
	rule("netease-block", BlockedReputation, 64, `\b(hl:(rep|mep|ihu)|ip:(bl|rbl)|dt:rbl|mi:spb)\b`),
	rule("netease-volume", RateLimited, 64, `\b(hl:(icc|ifc)|mi:(dmc|stc|sfq)|rp:(rcl|trc|drc|qrc))\b`),
	rule("netease-protocol", SyntaxError, 64, `\b(mi|rp):cel\b`),
	rule("netease-policy", PolicyRejected, 64, `\b(wm:bl[iu]|hl:ipb)\b`),
	rule("netease-auth", AuthFailure, 64, `\bmi:(dma|spf)\b`),
	rule("netease-sender", InvalidSender, 64, `\bmi:imf\b`),
	rule("netease-relay", RelayDenied, 64, `\brp:frl\b`),
	rule("netease-helo", ReverseDNS, 64, `\bmi:nhd\b`),
	rule("rdns-code", ReverseDNS, 64, `\bdns:n[rx]\b`),
	rule("connection-code", RateLimited, 64, `\bcon:[a-z]{1,2}\d?\b`),
	// Cox's documented AUP# codes (postmaster.cox.net error codes): the
	// sending IP blocked or listed; the sender's domain refused.
	rule("cox-block", BlockedReputation, 64, `\baup#(cxbl|cdrbl|ipbl\d+)\b`),
	rule("cox-sender", InvalidSender, 64, `\baup#cxsndr\b`),
	rule("spam", SpamContent, 70,
		`spam`, `virus`, `malware`, `phish`, `\bube\b`, `unacceptable content`,
		`content (rejected|denied|refused|filter|blocked)`, `message content`, `scor(e|ed) `,
		`security issue`, `infected`, `suspicious (content|message|link)`,
		`junk mail`, `suspect(ed)? content`, `content (restriction|polic|rule|check|scan)`,
		`(due to|because of|for) (its |the |your |the message |this message )?content\b`,
		`(refused|rejected|blocked|quarantined) by (the |our )?(virus |content |spam |mail )?(scanner|scanning)`,
		`\bcontent\b.{0,20}(not allowed|unacceptable|prohibited|forbidden)`,
	),
	// Microsoft's directory-based edge blocking, on its documented 5.4.1
	// (labelling policy); elsewhere "access denied" is a local policy.
	onlyWith(rule("access-denied-directory", UserUnknown, 68,
		`recipient address rejected: access denied`,
		`all recipient addresses rejected.{0,10}access denied`,
	), "5.4.1", "4.4.1", ""),
	// The recipient (or its administrator) chose to refuse us: as specific
	// as an address code, and about the recipient's wishes, not existence.
	rule("recipient-choice", PolicyRejected, 66,
		`preferences`, `user reject`, `envelope blocked`, `rejected by (the )?recipients?([ .,;]|$)`,
		`recipient has (blocked|rejected)`, `recipient (blocked|rejected) (you|your|the sender|this sender|messages|mail)`,
		`not allowed to (receive|send)`, `delivery restriction`, `resolver\.rst\.`,
		`opted.out`, `unsubscribed`,
		`(does not|doesn't|will not|won't|is not|isn't) accept(ing)? (\w+ )?(mail|e-?mails?|messages?) from (you|your|this sender|the sender)\b`,
		`\b(local|recipient'?s?|user'?s?|administrator'?s?|domain'?s?) (rule|filter)s?\b`,
		`(rejected|refused|denied|blocked) by (the )?(system )?(administrator|admin|postmaster)`,
	),
	// Bounces (a null sender) refused by rule: the receiver takes no
	// delivery reports for the address, whatever the address's state.
	rule("bounces-refused", PolicyRejected, 66,
		`bounces? (messages? )?.{0,40}\b(not (accepted|allowed|permitted)|blocked|refused|prohibited)`,
		`(not|never|does ?n[o']t|do ?n[o']t|will not|won't) accept(s|ing)? bounces`, `bounces are never sent`,
	),
	// The recipient's own choice, in words stronger than any reading of
	// "address ... blocked" as a disabled mailbox.
	rule("blocked-by-recipient", PolicyRejected, 94,
		`(blocked|rejected|refused|denied) by (the |this )?(recipient|addressee|user)s?\b`,
	),
	rule("policy", PolicyRejected, 56,
		`polic(y|ies)`, `access denied`, `permission denied`, `administratively (denied|prohibited|rejected)`, `administrative (reject|refus|block)`, `not authori[sz]ed`, `filtered`,
		`redundant`, `denied by`, `prohibition`, `restricted`, `not permitted`, `\bnot allowed\b`,
		`no access`, `\bblocking\b`, `\bspoof(ing|ed)?\b`, `\bforbidden\b`, `\baccess to .{0,60}\b(is )?(denied|forbidden|refused|not allowed)`, `(security|administrative|local) reasons`, `\bviolat(ion|ions|es|ed|ing)\b`,
	),
	rule("domain-not-found", DomainNotFound, 62,
		`host unknown`, `unknown host`, `domain (is )?not (found|reachable|resolv|exist)`,
		`domain .{0,30}(not reachable|does not exist|doesn't exist)`, `no such domain`,
		`invalid domain`, `non-?existent domain`, `unknown domain`, `host does not accept mail`,
		`not accepting network messages`, `does not accept (e-?)?mail\W*$`, `bad destination system`, `null mx`, `nxdomain`,
		`norecords`, `no (mx|a) records?`, `host not found`, `domain name not found`,
		`unrouteable mail domain`,
		`(recipient|rcpt|destination) domain (\w+ )?(must exist|does ?n[o']t exist|not (found|exist)|unknown)`,
		`find the recipient domain`,
	),
	rule("user-unknown", UserUnknown, 60,
		`user ?unknown`, `unknown (user|recipient|mailbox|address|alias)`,
		`no ?such ?(user|mailbox|recipient|account|address|person|local user)`,
		who+`\b.{0,40}(does ?n[o']t exist|doesn't exist|not (found|exist|known|valid)|unknown|invalid|non-?existent)`,
		`invalid (recipient|mailbox|user|address|e-?mail address)`, `recip(ient)?notfound`,
		`invalid rcpt`, `rcpt ?to\b.{0,20}(invalid|unknown)`,
		`not our customer`, `no mailbox`, `not a (registered|valid|known) `,
		`illegal (user|alias)`, `doesn't have an? .{0,40}account`, `bad destination mailbox`,
		`destinataire invalide`, `mailbox unavailable`, `mailbox not found`,
		// The same in the languages servers most often answer in.
		`(benutzer|empf[aä]nger|postfach|adresse).{0,30}(unbekannt|existiert nicht|nicht gefunden)`,
		`(utilisateur|destinataire|adresse|bo[iî]te).{0,30}(inconnu|inexistant|n'existe pas)`,
		`(usuario|destinatario|buz[oó]n|direcci[oó]n|utente|casella|indirizzo).{0,30}(desconocido|no existe|inexistente|sconosciut|non esiste|inesistente)`,
		`(пользовател|адрес|ящик).{0,30}(не существует|не найден|неизвестен)`, `нет такого (пользователя|ящика|адреса)`,
		`invalid/inactive user`, `unrouteable address`, `addressee unknown`,
		`not listed in .{0,30}(directory|address book)`, `no one (here )?by that name`,
		`nonexistent (user|mailbox|address)`, `(can't|cannot|can not) accept (this |that |the )?(user|recipient|address|mailbox)\b`,
		`(mailbox|user|account|address|recipient) (is |currently )?(unavailable|not available)`,
	),
	// Postfix's prefix for any client restriction: a refusal of our host
	// (the corpus labels "Client host rejected: Access denied" a block
	// too), above the generic "policy" and "access denied".
	rule("client-refused", BlockedReputation, 58,
		`client host (rejected|refused|blocked)`, `client host .{0,40}\bblocked\b`,
	),
	// The server refusing our connection in its own words; a local dial
	// failure (Code 0) with the same words is the network's.
	// A relay reporting its own failed connection (x.4.x) is the network's.
	onlyWith(remote(rule("connection-refused", BlockedReputation, 46,
		`connection (refused|denied|rejected|not (allowed|accepted|permitted))`, `service (denied|refused)`,
		`not allowed to connect`, `refused? (your |the )?connection`, `connections? not accepted`, `denial of connection`,
		`you are not allowed`, `connections? from (you|your)\b.{0,30}(denied|refused|rejected|not accepted|blocked)`,
	)), "", "5.0.0", "4.0.0", "5.7.", "4.7.", "5.3.", "4.3.", "5.5.", "4.5.", "5.2.", "4.2."),
	rule("sender-refused", InvalidSender, 45,
		`(unregistered|unverified) (sender |sending )?domains?`,
		`sender (address )?(rejected|refused|denied|not accepted)`, `mail from (address )?(rejected|refused|denied)`,
	),
	rule("network", NetworkError, 45,
		`timed out`, `time-?out`, `connection (refused|reset|lost|dropped|closed)`,
		`failed to connect`, `could not connect`, `unable to connect`, `(cannot|can't|could not|couldn't|unable to) reach\b`, `network (is )?unreachable`,
		`no route`, `no answer from host`, `dns (lookup |query )?(fail|error|temporary)`,
		`lost connection`, `broken pipe`, `\bunreachable\b`, `lost (input |the )?connection`,
	),
	// A local delivery agent's file error ("/var/mail/jdoe: Permission
	// denied", "irregular file", sendmail's "Can't create output"): the
	// receiver's file system, above the policy reading of "permission
	// denied".
	rule("local-file", SystemError, 60,
		`(/[a-z0-9._-]+){2,}: (permission denied|no such file|irregular file|is a directory|not a regular file|read-only file system)`,
		`(can't|cannot|could not|unable to) create (the )?(output|temp(orary)? file|mailbox file|lock ?file)`,
	),
	rule("system", SystemError, 42,
		`internal`, `system (error|full|storage|resources)`, `mailer error`,
		`config(uration)? (error|problem)`, `misconfigur`, `resources? (temporarily )?unavailable`,
		`temporary local problem`, `local error`, `insufficient`, `disk space`, `disk full`,
		`storage`, `queue file`, `\bspool`, `home directory`, `service (failure|error|problem)`,
		`(server|system) (is )?(temporarily |currently )?(not )?(un)?available`, `(server|service|system) (is )?not ready`, `service (currently |not |is |temporarily )*(un)?available`,
		`busy`, `temporarily unavailable`, `could not load`, `fail(ed|ure)? to process`, `temporary lookup fail`, `address lookup fail`, `no such file or directory`, `\bldap\b.{0,30}(error|fail|unavailable)`, `error (getting|reading|querying)`, `server error`, `\bqq\b.{0,20}problem`, `shutting down`,
		`overloaded`, `system problem`, `technical (problems?|difficult|issues?|errors?|faults?)`, `unable to (queue|process|execute|store|write)`,
		`problem (attempting|processing|executing|occurred)`, `config(uration)? issue`,
		`unexpected error`, `\bi/?o error`, `processing (failed|failure|error)`, `list expansion`, `(too much|too high|high|heavy|excessive) (system )?load`, `load (average )?too high`,
		`space shortage`, `(low|short|out) (of )?(disk |spool )?space`, `queu(e|ing) (declined|disabled|full)`, `(failure|error|problem) in (the )?(mta|server|system|processing)`, `out of memory`, `database .{0,20}(error|failure|unavailable)`, `temporar(y|ily) (system|server|local) (problem|error|failure)`,
	),
	// A DNSBL that refuses the receiver's lookups (Spamhaus answers
	// queries through an open or public resolver with an error code, and
	// receivers quote it as "blocked using ...; Error: open resolver"):
	// the receiver's setup is broken, no listing of us. Above
	// "blocked using".
	rule("dnsbl-query-refused", SystemError, 90,
		`\b(open|public) (dns )?resolver`, `query (was )?(refused|blocked) by (the )?(dnsbl|rbl|blocklist)`,
		`excessive number of queries`),
	// A refusal because the server is busy gives its reason: the
	// receiver's load, above the refused-connection wording.
	rule("server-busy", SystemError, 50,
		`(server|system|service|host|box|ports?) (is |are )?(too |very |currently )?busy`, `too busy`,
	),
	// "System not accepting network messages" for now: the receiver's
	// state, not a domain that takes no mail (on a 5xx it is).
	soft(rule("system-not-accepting", SystemError, 65, `not accepting (network )?messages`)),
	// Throttling of our address by name ("try again later from [IP]",
	// Microsoft's 4.7.500 "Server busy"): a deferral aimed at us.
	soft(rule("later-from-ip", RateLimited, 60, `(try|retry) again later from`)),
	// "An unusual rate of unsolicited mail from your domain": a standing
	// judgement of us, whatever identity (SPF, DKIM domain) it names.
	rule("unsolicited-rate", BlockedReputation, 88, `(unusual|high|elevated|increased) (rate|amount|volume|number) of (unsolicited|spam)`),
	// Postfix's address probe that has not concluded (a 4xx "unverified
	// address: <why the probe failed>"): the receiver's, not the address's.
	soft(rule("unverified-transient", SystemError, 57, `unverified address`)),
	// The receiver's own check is still running (Postfix's address
	// verification probe): nothing is known about the address yet.
	rule("verification-pending", SystemError, 70, `verification (is )?(in progress|pending)`),
	// A DATA refused because no RCPT was accepted: the transaction's
	// order, not an address (each RCPT got its own reply); on an address
	// code (5.1.1) it is the recipient's refusal itself.
	onlyWith(rule("no-valid-rcpt", SyntaxError, 80, `no valid recipients`, `valid rcpt command must precede`), "", "5.5.", "4.5.", "5.0.0"),
	// RFC 4954's 454 4.7.0: the server could not check credentials now.
	rule("auth-backend", SystemError, 88, `temporary authentication (failure|error)`),
	// A server's scanner that failed is the server's trouble, not our
	// content: above "virus" and "spam".
	rule("scanner-failure", SystemError, 72,
		`(error|fail(ed|ure)?|problem|unable) .{0,30}(scann|anti-?virus|virus scanner)`,
		`(scanner|scanning|anti-?virus|anti-?spam|spam ?filter) .{0,20}(error|fail(ed|ure)?|unavailable|problem|not available|malfunction)`,
	),
	// Blocked for what the sender did ("because of previous errors", "due
	// to complaints"): a block of us, never a disabled mailbox.
	rule("blocked-for-behaviour", BlockedReputation, 95,
		`\bblocked (temporarily |permanently )?(because of|due to|for|after) (\w+ ){0,2}(errors|complaints|abuse|spamming|suspicious|unusual|too many|bounces)`,
		// "Blocked due to spam" ends there: the sender's doing, not a
		// message's content ("blocked due to spam content").
		`\bblocked (because of|due to|for) spam\W*$`,
	),
	// Our envelope sender not allowed or not matching what we authenticated as.
	rule("sender-not-allowed", InvalidSender, 76,
		`(sender|envelope.from|mail from|from (domain|address))\b.{0,40}(not (authori[sz]ed|allowed|permitted)|must match|(does ?n[o']t|do not) (conform|match))`,
		`sender .{0,20}(not (the )?same as|differs from|different from) .{0,30}(auth|login|user)`,
		`your domain .{0,60}not (allowed|permitted|authori[sz]ed)`,
	),
	// A gateway's bare "blocked" is a rule that refused the message
	// (labelling policy); a bare "rejected" names no reason (no-reason).
	rule("message-blocked", PolicyRejected, 45,
		`^\W*((the |your |this )?(message|e-?mail|mail) (is |was |has been )?)?blocked\W*$`,
	),
	// Our envelope sender's domain with no usable DNS: about our address,
	// above "no such domain" and "null MX".
	rule("sender-domain-dns", InvalidSender, 90,
		`(domain (in|of) (the )?|in (the )?)(mail from|from address|sender|envelope sender)\b.{0,40}\b(null mx|no mx|mx records?|does not resolve|doesn't resolve|not resolv|does not exist|no dns)`,
		`(mail from|from address|sender address|sender domain|your from)\b.{0,40}\b(null mx|no mx|does not resolve|doesn't resolve|not resolv|no dns)`,
		`\b(no|null) mx (record )?for (your |the )?(from|sender|mail from|envelope)`,
	),
	// HELO missing or without its argument: the dialogue's order, not
	// our host's name (above the HELO words of reverse-dns).
	rule("helo-first", SyntaxError, 87,
		`\b(helo|ehlo)\b[ /]{0,3}((or )?(helo|ehlo)\b )?first\b`,
		`\b(helo|ehlo)\b[ /]{0,3}((or )?(helo|ehlo)\b )?(is )?required\b`,
		`\b(helo|ehlo)\b[ /]{0,3}((or )?(helo|ehlo)\b )?requires (an? )?(domain|host ?name|argument)`,
	),
	// The receiver's own check broke ("internal error during policy
	// check", "temporary failure while checking relay policy"): its
	// trouble, above the policy word the check is named by.
	rule("check-failed", SystemError, 60,
		`(error|failure|fail(ed)?|problem) (while|during|when) (checking|check|verifying|evaluating|looking up|querying)\b`,
		`(error|failure|problem) during (the )?(\w+ )?(check|lookup|verification)`,
	),
	// Sending from a domain the server hosts needs a login: an
	// authentication of our sender, not a relay request (above the
	// auth-required wording).
	rule("auth-to-send-from", AuthFailure, 60,
		`(log ?in|authenticat(e|ion)) (to|before) (send|sending) ((e-?)?mail |messages? )?from\b`,
	),
	// A client that speaks before the greeting (an early talker): protocol.
	rule("early-talker", SyntaxError, 88,
		`(talk(s|ed|ing)?|spoke|speak(s|ing)?|sent data) too (soon|early|fast|quickly)`, `early talker`, `pregreet`, `before (the |my )?greeting`,
	),
	// A named content filter refused it: content, not a listing of us.
	rule("content-filter", SpamContent, 84,
		`(blocked|rejected|refused|flagged|identified|marked|scored) by (spamassassin|rspamd|amavisd?|(the |a )?content filter)`,
		`(blocked|rejected|refused|stopped|caught|flagged) by (our |the |an? )?(\w+ ){0,2}(spam|content|junk) (e-?mail |mail )?filter`,
	),
	rule("no-reason-deferred", Unclassified, 42, `^\W*deferred\W*$`),
	rule("no-reason", Unclassified, 40,
		`^\W*(rejected|transaction failed|temporary failure|mail refused|on hold|error)\W*$`,
		`on hold`, `mail refused`,
	),
	// "Recipient error, try again later" says nothing more: above the
	// try-later wording.
	rule("no-reason-recipient", Unclassified, 43, `\brecipient error\b`),
	rule("address-rejected", UserUnknown, 38,
		`address rejected`, `recipient rejected`, `invalid recipient`,
	),
}
