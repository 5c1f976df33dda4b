// Package delivery finds a domain's mail exchangers (miekg/dns), or takes
// the configured smarthost, and hands a message to them over SMTP,
// returning one Result per recipient. It owns DNS resolution, dialing, the
// SMTP client session, TLS and its policies (MTA-STS, DANE), MX failover and
// connection reuse. It does not
// decide whether a failure is soft or hard (policy), nor when to try again
// (scheduler), and it imports neither queue nor scheduler: it takes a Job
// and returns Results.
//
// # Local failures
//
// Local failures are reported in RFC 3463 terms with Code 0 and an
// Enhanced code that states the fact; policy reads them like any reply:
//
//   - 5.1.2 the domain does not exist (NXDOMAIN), or has neither MX nor
//     A/AAAA; 5.1.10 null MX (RFC 7505); 4.4.3 DNS temporary failure;
//     4.4.4 the MX hosts have no addresses (temporary: unknown means
//     temporary).
//   - 4.4.1 no host answered; 4.4.2 connection lost. At Stage data after
//     the body was sent, 4.4.2 means the reply to the final dot never came:
//     the message may have been delivered (duplicate risk, RFC 1047).
//   - 5.4.6 the best MX is this server (a loop); 4.4.6 the relay is.
//   - 4.7.5 at Stage tls: the handshake or the certificate verification
//     failed. Opportunistic TLS then retries the address once in plain text
//     (Result.TLSFallback marks what that retry produced), so 4.7.5 is seen
//     only when the retry fails too. Under TLSRequire, and for a relay,
//     there is no retry. 4.7.4 at Stage tls: TLS is required and the server
//     does not offer or refuses STARTTLS (RFC 3463 "security features not
//     supported"). Both soft: they say nothing about the address.
//   - 5.6.7: an address needs SMTPUTF8 (RFC 6531) and the server does not
//     offer it. Every domain goes out as an A-label (ASCIIDomain), so only
//     a non-ASCII local part needs SMTPUTF8. Such a recipient fails alone
//     at Stage rcpt and its ASCII co-recipients go; if every recipient
//     needs it, nothing is sent and the next host is tried (Stage mail). A
//     sender needing it fails the whole transaction at Stage mail.
//     5.6.3 at Stage mail: the body has 8-bit octets and the server does
//     not offer 8BITMIME; the message is neither sent raw nor converted
//     (conversion to quoted-printable is a possible later improvement).
//   - 5.1.3 / 5.1.7 at Stage rcpt / mail: a recipient or sender address
//     with CR, LF, space or angle brackets, refused locally (ESMTP
//     injection).
//   - Relay: 4.3.5 the password file cannot be read; 4.7.4 at Stage auth
//     the relay offers neither AUTH PLAIN nor LOGIN. A refused AUTH is the
//     relay's own reply (535 5.7.8) for every recipient, at Stage auth.
//
// # TLS policies
//
// Each exchanger's TLS rules come from, in order: DANE (Options.DANE; the
// resolver set AD on the MX answer and on _PORT._tcp.<mx> TLSA, RFC 7672:
// DANE-EE matches the leaf, names and dates ignored; DANE-TA a chain
// certificate, the leaf then verified for the MX name; a mismatch is 4.7.5,
// a failed TLSA lookup under a validated MX skips the host with 4.7.5), an
// MTA-STS enforce policy (mtasts.go: only listed hosts, verified TLS),
// TLSPolicy, opportunistic. MTA-STS testing policies are checked and not
// enforced. Result.TLSPolicy names the one that applied. Every new
// session's outcome, and every policy failure before a session, goes to
// Options.OnTLS as a TLSEvent with its RFC 8460 result type, for TLS
// reporting; delivery keeps no count.
//
// # Names
//
// Every DNS name (the recipient domain, MX host names, A/AAAA lookups) is
// converted to its A-label (IDNA lookup profile) before it is queried,
// cached or dialled: "bücher.test" is looked up as "xn--bcher-kva.test".
//
// # Failover
//
// A Deliver call walks the exchangers in preference order (equal
// preferences shuffled) and each one's addresses, at most MaxHosts hosts and
// MaxAddrs addresses. It moves on when the dial fails, the greeting is not
// 2xx, EHLO or TLS fails, or the connection is lost before MAIL is
// answered. Once MAIL is answered the transaction's replies are the
// results: a 4xx or 5xx to RCPT is that recipient's, the reply to the final
// dot is every accepted recipient's, and a 421 or a lost connection ends
// the session for every recipient not already refused. When no host takes
// the mail, each recipient gets the last real reply heard (e.g. 421 at the
// greeting), else the last local failure. With Options.Relay every Job goes
// to the relay's addresses instead, with no MX lookup.
//
// # The session
//
// go-smtp's client does the greeting, EHLO, STARTTLS (with a workaround,
// see startTLS) and AUTH. The transactions run on our own layer over the
// same connection (wire): go-smtp has no client PIPELINING and no write
// deadlines. Both read through one buffered reader; go-smtp sees it a line
// at a time, so it never holds bytes that belong to us.
//
//   - PIPELINING (RFC 2920): when offered, [RSET,] MAIL, every RCPT and
//     DATA leave in one write and their replies are read in order; the body
//     follows a 354 only if a recipient was accepted (a 354 with none gets
//     a lone dot). Without it, one command per round trip. A 50-recipient
//     transaction costs 2 round trips pipelined, 53 in lock-step. A group is
//     at most 100 RCPTs, a few KB each way, well within socket buffers, so
//     writing it all before reading cannot deadlock.
//   - At most 100 recipients per transaction. A RCPT answered "452 4.5.3"
//     (or "too many recipients") is sent again in a new transaction on the
//     same connection; if a transaction takes nobody, the 452 stands.
//   - MAIL carries SIZE= when offered, BODY=8BITMIME for an 8-bit body,
//     SMTPUTF8 for a non-ASCII address. The body is normalised (CRLF, lines
//     of at most 998 octets) and dot-stuffed by us.
//   - Every read and write has its own deadline (CommandTimeout; the body
//     writes too, where go-smtp sets none; DataTimeout for the reply to the
//     final dot); the connection is closed when the context ends.
//
// # Unresponsive exchangers
//
// A tarpit accepts TCP and never greets; GreetingTimeout (RFC 5321: 5
// minutes) is how long each attempt waits for it, and ConnectTimeout bounds
// the dial. Neither bounds how many workers one such exchanger holds:
// MaxConnsPerIP does, counted per address across every domain, so many
// domains (or wildcard subdomains) whose MX resolves to one tarpit share
// one cap. An address at its cap is skipped (the next address or MX is
// tried); when every address was skipped and nothing else was tried, the
// results are Busy (4.4.5 at Stage dial, returned at once): the scheduler
// defers them locally, without counting an attempt. A relay is the
// operator's own server and has no such cap, new or reused connections.
//
// Each address also has a breaker, shared by every domain: after DownAfter
// (3) connections in a row got no answer (refused, connect timeout, no
// greeting), it is skipped for DownFirst (1 min), doubling per failed probe
// up to DownMax (30 min); a skipped address is noted as 4.4.1 at Stage dial
// (a real, soft failure: it did not answer just now). Past the period one
// connection probes it; any greeting, even a 421, closes the breaker.
//
// # Connection reuse
//
// After a Job the connection is kept idle for IdleTimeout (default 5s),
// keyed by the destination domain (or the relay), and the next Job for it
// starts with MAIL (RSET first if the last transaction did not finish). A
// connection carries at most MaxMessagesPerConn transactions. At most
// MaxIdlePerDest are kept per destination: the daemon passes its workers,
// since no destination has more busy at once (the scheduler's concurrency
// limits keep a domain's lower), so a burst finds what the last one
// opened instead of closing and reopening connections (a relay taking
// 100 workers' mail reconnected on one message in four with a cap of 16).
// Idle connections above a limit lowered since are QUIT by IdleTimeout. A pooled
// connection that turns out dead, or answers 421 before MAIL, is discarded
// and the Job goes on a fresh connection: its trouble is nobody's result.
// Close QUITs the idle connections.
//
// # Logs
//
// One Debug line per connection attempt ("delivery attempt", keys domain,
// mx, ip, stage, code, enhanced, tls, tls_version, tls_cipher,
// tls_fallback, reused, conn_txns).
package delivery
