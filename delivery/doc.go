// Package delivery finds a domain's mail exchangers (miekg/dns) and hands a
// message to them over SMTP (go-smtp's client), returning one Result per
// recipient. It owns DNS resolution, dialing, the SMTP client session and MX
// failover. It does not decide whether a failure is soft or hard (policy),
// nor when to try again (scheduler), and it imports neither queue nor
// scheduler: it takes a Job and returns Results.
//
// Local failures (DNS, connection) are reported in RFC 3463 terms with Code 0
// and an Enhanced code that states the fact: 5.1.2 the domain does not exist
// (NXDOMAIN), 5.1.10 null MX (RFC 7505), 4.4.3 DNS temporary failure, 4.4.1 no
// host answered, 4.4.2 connection lost. Policy reads them like any reply.
//
// The rest of the local vocabulary, all with Code 0:
//
//   - 5.1.2 also when a domain without MX has no A/AAAA either (both NODATA).
//   - 4.4.4 the MX hosts have no addresses (NODATA/NXDOMAIN for every one):
//     a broken destination, temporary because unknown means temporary.
//   - 4.4.2 at Stage data after the body was sent: the reply to the final
//     dot never came; the message may have been delivered (duplicate risk).
//   - 4.7.5 at Stage tls: the STARTTLS handshake failed. The same address
//     is then tried once more in plain text, so this is seen only when that
//     retry fails too and nothing better was heard.
//   - 5.6.7 at Stage mail: an address needs SMTPUTF8 and no host offered it.
//   - 5.1.3 / 5.1.7 at Stage rcpt / mail: a recipient or sender address with
//     CR, LF, space or angle brackets, refused locally (ESMTP injection).
//
// A Deliver call walks the exchangers in preference order (equal
// preferences shuffled) and each one's addresses, at most MaxHosts hosts and
// MaxAddrs addresses. It moves on when the dial fails, the greeting is not
// 2xx, EHLO fails, or the connection is lost before MAIL is answered. Once
// MAIL is answered the transaction's replies are the results: a 4xx or 5xx
// to RCPT is that recipient's, the reply to the final dot is every accepted
// recipient's, and a 421 or a lost connection ends the session for every
// recipient not already refused. When no host takes the mail, each
// recipient gets the last real reply heard (e.g. 421 at the greeting), else
// the last local failure.
//
// Every read and write on the connection has its own deadline
// (CommandTimeout, DataTimeout for the reply to the final dot), covering the
// body upload where go-smtp sets none; the connection is closed when the
// context ends. One Debug line per attempt per address ("delivery attempt",
// keys domain, mx, ip, stage, code, enhanced, tls).
package delivery
