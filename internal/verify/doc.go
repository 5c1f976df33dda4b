// Package verify answers "should I send to this address?" from what mtaq
// already knows: the address's syntax (intake's parser, the one mail is
// accepted by), its domain's mail records (delivery's resolver and its
// TTL-honouring cache), the suppression list and the per-address delivery
// history (queue), role accounts, a list of disposable-mail domains and
// likely typos of large providers. An optional SMTP probe (off by
// default) asks the domain's exchanger through delivery and reads the
// reply with policy's classifier.
//
// It owns the verdict rules, the lists (the disposable list's file in
// data_dir and its embedded default), the probe's caches and per-domain
// rate. It does not own any mail state (queue), talk SMTP or DNS itself
// (delivery), nor serve HTTP (admin and the HTTP API call Verify).
//
// Verdicts, strongest first (every reason is returned, each with the
// verdict it alone implies):
//
//	V1 invalid  bad syntax; NXDOMAIN, null MX, or no MX and no A/AAAA;
//	            suppressed for hard_bounce or unclassified_bounce; the
//	            last outcome was a bounce; the probe's RCPT was refused as
//	            an unknown or disabled mailbox.
//	V2 risky    suppressed for any other reason (soft-bounce, complaint,
//	            unsubscribe, manual), with the reason and expiry.
//	V3 valid    delivered within the history window (and nothing above).
//	V4 risky    role account, disposable domain, likely typo (with a
//	            suggestion), catch-all domain, IP-literal domain.
//	V5 unknown  DNS SERVFAIL or timeout; the probe got a 4xx, failed, or
//	            was held back by its per-domain rate.
//	V6 valid    nothing against it: the domain takes mail.
//
// Bulk requests look each distinct domain up once, domains in parallel
// (Options.Parallel), and keep the results in the caller's order.
package verify
