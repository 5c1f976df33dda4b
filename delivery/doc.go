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
package delivery
