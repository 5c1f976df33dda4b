// Package doctor checks a sending domain's DNS the way receivers will see
// it: SPF (RFC 7208 evaluation for mtaq's outbound addresses), DKIM
// selectors against the configured keys, DMARC, return-path alignment,
// reverse DNS of the outbound addresses, MTA-STS (the record, the policy
// fetched as senders fetch it, and whether it covers the domain's MX),
// DANE (whether the DNS servers validate DNSSEC, and the TLSA records of
// the domain's MX) and the TLS-RPT record. Each
// check gives PASS, WARN, FAIL or INFO with the record to publish. It owns
// the checks and their wording; it reads no configuration file (the CLI
// passes what it needs) and asks DNS only through the Resolver it is given,
// delivery's in production so answers match what delivery sees.
package doctor
