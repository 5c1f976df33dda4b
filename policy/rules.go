package policy

import "regexp"

// textRule matches the lower-cased reply text. Rules are tried in order and
// the first match decides the category, so the order encodes the labelling
// policy's precedence: specific wording about the mailbox beats generic
// wording; reputation beats volume; sender authentication and protocol
// complaints beat the "to protect our users from spam" boilerplate.
type textRule struct {
	name string
	cat  Category
	re   *regexp.Regexp
}

func rule(name string, cat Category, pattern string) textRule {
	return textRule{name: name, cat: cat, re: regexp.MustCompile(pattern)}
}

var textRules = []textRule{
	rule("greylisting", Greylisting, `gr[ae]y-?list`),
	rule("expired-in-transit", NetworkError, `message expired|queue\.expired|delivery time expired|unable to deliver in \d+`),
	rule("mail-loop", NetworkError, `too many hops|hop count|mail loop|routing loop|loops back`),
	rule("mailbox-inactive", MailboxDisabled, `\binactive (e-?mail|mail|account|mailbox|address)|and inactive|is inactive|(account|mailbox|user|e-?mail address|recipient)\b.{0,40}\b(disabled|suspended|deactivated|discontinued|frozen|locked|closed|blocked|bloque)\b|(disabled|suspended|deactivated) (user|account|recipient|mailbox)|suspend the service|mailbox is frozen|no longer (on|at|with) (this|the )?server|has moved|has been replaced by|account has been disabled`),
	rule("domain-owner-changed", DomainNotFound, `domain owner has changed`),
	rule("send-quota", RateLimited, `(daily|hourly|relay|sending|send) quota`),
	rule("mailbox-full", MailboxFull, `quota|mailbox (is )?full|mailbox.{0,20}\bfull\b|\bstuffed\b|out of storage|storage (space )?exceeded|mailfull|full mailbox`),
	rule("message-size", MessageTooLarge, `too (big|large)|size (limit|exceed)|exceeds? .{0,30}(size|limit)|length exceeds|sizelimit|message is larger`),
	rule("duplicate-header", SyntaxError, `duplicate header|multiple .{0,30}headers?`),
	rule("sender-auth", AuthFailure, `dmarc|\bspf\b|dkim|sender.?id\b|purported responsible|\barc\b|sender is unauthenticated|fails? to pass .{0,20}authentication|authentication (checks|information)|unauthenticated (e-?mail|message)|invalid ip for sending`),
	rule("relay", RelayDenied, `relay(ing)? (access )?(is )?(denied|not permitted|not allowed|prohibited)|unable to relay|no relaying|not configured to relay|insecure mail relay|rcpthosts|unauthenticated senders|we do not relay|relay not`),
	rule("reverse-dns", ReverseDNS, `reverse dns|\brdns\b|\bptr\b|reverse (lookup|resolution)|ip name lookup failed|unverifiable|unverifyable|(helo|ehlo)\b.{0,40}(invalid|rejected|not (a )?(valid|fqdn|resolv))|invalid domain name|fqdn`),
	rule("volume-frequency", RateLimited, `frequency limit|too frequent|too many (connections|messages|recipients|sessions|concurrent)|receiving mail (at a rate|too quickly)|rate limit(ed)? exceeded|connection rate`),
	rule("blocklist", BlockedReputation, `block(ed)? (using|by|listed)|black ?list|block ?list|dnsbl|\brbl\b|spamhaus|spamcop|mailspike|abuseat|sorbs|barracuda|reputation|complaints|banned|open relay|spamming|\(bl\)|listed (at|on|in)`),
	rule("isp-network", BlockedReputation, `internet service provider|server of your isp|dynamic ip|residential|host network not allowed|access from ip address .{0,40}blocked|access forbidden by your ip|may not be mail exchanger|not accepting connections`),
	rule("volume", RateLimited, `rate limit|too (quickly|fast)|slow(er)? down|try again slower|temporarily deferred|too many`),
	rule("auth-required", PolicyRejected, `authentication required|authrequired|starttls is required|tls (is )?required|must use (starttls|tls)|requires? (tls|encryption)`),
	rule("sender-address", InvalidSender, `sender address|sender domain|domain of sender|unroutable sender|from: domain|not verified|sender (verify|verification)|mail from .{0,40}(does not exist|invalid|unknown)`),
	rule("recipient-syntax", UserUnknown, `bad destination mailbox|recipient address syntax|bad recipient address`),
	rule("protocol", SyntaxError, `rfc ?5322|rfc ?822|not compliant|multiple .{0,30}headers?|duplicate header|header error|improperly.formatted|8.bit data|syntax|line (limit|too long|length)|protocol (violation|error)|sequence of commands|out of\s+sequence|command parameter|bare (lf|cr)|media error|binary content`),
	rule("spam", SpamContent, `spam|virus|malware|phish|\bube\b|content rejected|message content|scor(e|ed) |security issue|security polic|prohibited`),
	rule("access-denied-directory", UserUnknown, `recipient address rejected: access denied|all recipient addresses rejected.{0,10}access denied`),
	rule("policy", PolicyRejected, `polic(y|ies)|access denied|not authori[sz]ed|filtered|preferences|redundant|denied by|user reject`),
	rule("user-unknown", UserUnknown, `user ?unknown|unknown (user|recipient|mailbox|address)|no such (user|mailbox|recipient|account|address)|(user|mailbox|recipient|address|account|e-?mail account)\b.{0,40}(does ?n[o']t exist|not (found|exist)|unknown|invalid)|invalid (recipient|mailbox|user|address)|recip(ient)?notfound|not our customer|no mailbox|not a (registered|valid) |illegal (user|alias)|doesn't have an? .{0,40}account|bad destination mailbox|destinataire invalide|mailbox unavailable|mailbox not found|invalid/inactive user`),
	rule("domain-not-found", DomainNotFound, `host unknown|unknown host|domain (is )?not (found|reachable|resolv)|domain .{0,30}(not reachable|does not exist)|no such domain|invalid domain|host does not accept mail|not accepting network messages|bad destination system|null mx|nxdomain|norecords|no (mx|a) records?`),
	rule("network", NetworkError, `timed out|time-?out|connection (refused|reset|lost|dropped)|failed to connect|could not connect|(tls|starttls|ssl) (handshake|negotiation|failed|not supported)|does not support tls|dane|mta-sts|network (is )?unreachable|no route`),
	rule("system", SystemError, `internal|system (error|full)|mailer error|config(uration)? error|resources? (temporarily )?unavailable|temporary local problem|insufficient|disk space|storage|queue file|service (currently |not |is )?(un)?available|busy|could not load|local error|try (again )?later\b`),
	rule("no-reason", Unclassified, `^\W*(rejected|transaction failed|temporary failure|mail refused|on hold|error)\W*$|on hold|mail refused`),
	rule("address-rejected", UserUnknown, `address rejected|recipient rejected|invalid recipient`),
}
