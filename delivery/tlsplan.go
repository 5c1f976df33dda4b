package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// PolicySource says where an attempt's TLS rules came from; the scheduler
// puts it in the recipient's timeline.
type PolicySource string

// Policy sources, from the strongest. MTA-STS testing policies are checked
// and reported (TLS-RPT) but delivery goes on as opportunistic.
const (
	SourceDANE          PolicySource = "dane"            // RFC 7672: TLSA records, DNSSEC-validated
	SourceMTASTS        PolicySource = "mta-sts"         // RFC 8461 enforce
	SourceMTASTSTesting PolicySource = "mta-sts-testing" // RFC 8461 testing: report only
	SourceTLSPolicy     PolicySource = "tls_policy"      // the operator's [delivery] tls_policy
	SourceOpportunistic PolicySource = "opportunistic"   // STARTTLS when offered, unverified
	SourceRelay         PolicySource = "relay"           // the smarthost's relay_tls
)

// TLSReportPolicy is the policy part of a TLS-RPT entry (RFC 8460 4.3).
type TLSReportPolicy struct {
	Type    string   // "sts", "tlsa" or "no-policy-found"
	Strings []string // the policy's lines, or the TLSA records
	MXHost  []string // the policy's mx patterns, or the host the TLSA records belong to
}

// TLSEvent is one session's outcome for TLS reporting (RFC 8460): a
// success, or a failure with its result type. Delivery reports it through
// Options.OnTLS; what is counted and sent is not delivery's business.
type TLSEvent struct {
	Domain string // the recipient domain: the report's policy domain
	Policy TLSReportPolicy
	// Result is "" for a successful session, else an RFC 8460 4.3.2
	// result type (starttls-not-supported, certificate-host-mismatch,
	// certificate-expired, certificate-not-trusted, validation-failure,
	// tlsa-invalid, dnssec-invalid, sts-policy-fetch-error,
	// sts-policy-invalid, sts-webpki-invalid).
	Result string
	MX, IP string // receiving-mx-hostname and receiving-ip, when known
	Detail string // why, in words (failure-reason-code)
}

// hostPolicy is the TLS policy one connection runs under.
type hostPolicy struct {
	source PolicySource
	sts    *CachedSTS // enforce or testing
	dane   *daneHost
}

// plan is what a Deliver knows about a domain's TLS before dialing.
type plan struct {
	sts  *CachedSTS           // an enforce or testing policy
	dane map[string]*daneHost // exchangers with validated TLSA records
}

// hostPolicy picks the policy and TLS mode for one exchanger: DANE, then
// MTA-STS, then the operator's tls_policy, then opportunistic.
func (d *Deliverer) hostPolicy(p *plan, domain, host string) (tlsMode, *hostPolicy) {
	if p != nil {
		if h := p.dane[host]; h != nil {
			return modeDANE, &hostPolicy{source: SourceDANE, dane: h}
		}
		if p.sts != nil && p.sts.Policy.Mode == STSEnforce {
			return modeRequire, &hostPolicy{source: SourceMTASTS, sts: p.sts}
		}
		if p.sts != nil {
			return d.modeFor(domain), &hostPolicy{source: SourceMTASTSTesting, sts: p.sts}
		}
	}
	if _, set := d.opts.TLSPolicy[domain]; set {
		return d.modeFor(domain), &hostPolicy{source: SourceTLSPolicy}
	}
	return modeOpportunistic, &hostPolicy{source: SourceOpportunistic}
}

func (hp *hostPolicy) id() string {
	if hp != nil && hp.sts != nil {
		return hp.sts.ID
	}
	return ""
}

// report is the policy as TLS-RPT names it.
func (hp *hostPolicy) report(host string) TLSReportPolicy {
	switch {
	case hp.dane != nil:
		return TLSReportPolicy{Type: "tlsa", Strings: hp.dane.all, MXHost: []string{host}}
	case hp.sts != nil:
		return stsReport(&hp.sts.Policy)
	}
	return TLSReportPolicy{Type: "no-policy-found"}
}

func stsReport(p *STSPolicy) TLSReportPolicy {
	return TLSReportPolicy{Type: "sts", Strings: p.Lines(), MXHost: p.MX}
}

// Lines is the policy in its text form, one line per element, as TLS-RPT
// reports it (RFC 8460 4.3 policy-string).
func (p STSPolicy) Lines() []string {
	out := []string{"version: STSv1", "mode: " + string(p.Mode)}
	for _, mx := range p.MX {
		out = append(out, "mx: "+mx)
	}
	return append(out, fmt.Sprintf("max_age: %d", int64(p.MaxAge.Seconds())))
}

// prefix is what a TLS failure's text starts with under this policy.
func (hp *hostPolicy) prefix() string {
	switch {
	case hp == nil:
		return ""
	case hp.source == SourceMTASTS:
		return fmt.Sprintf("MTA-STS policy (id %s): ", hp.sts.ID)
	case hp.source == SourceDANE:
		return "DANE (" + hp.dane.name + "): "
	}
	return ""
}

func (d *Deliverer) tlsEvent(ev TLSEvent) {
	if d.opts.OnTLS != nil {
		d.opts.OnTLS(ev)
	}
}

// reportSession tells OnTLS how a new connection's TLS went. Connections
// that ended before TLS (dial, greeting, EHLO) and plain-text retries
// after a failed handshake (already counted) are not sessions to report.
func (d *Deliverer) reportSession(domain string, dst dest, s *session, out *outcome) {
	if d.opts.OnTLS == nil || dst.fallback || dst.pol == nil || dst.relay != nil {
		return
	}
	ev := TLSEvent{Domain: domain, Policy: dst.pol.report(dst.host), MX: dst.host, IP: dst.ip.String()}
	switch {
	case out != nil && out.fail.Stage == StageTLS:
		ev.Result, ev.Detail = tlsFailureType(out.fail), out.fail.Text
	case out != nil:
		return
	case dst.pol.source == SourceMTASTSTesting && !dst.pol.sts.Policy.Matches(dst.host):
		ev.Result, ev.Detail = "validation-failure", dst.host+" not in the policy's mx list"
	case s.tlsState == nil:
		ev.Result, ev.Detail = "starttls-not-supported", "STARTTLS not offered or refused"
	case dst.pol.source == SourceMTASTSTesting:
		if err := d.verifyPKIX(s.tlsState, dst.host); err != nil {
			ev.Result, ev.Detail = x509Result(err), err.Error()
		}
	}
	d.tlsEvent(ev)
}

// verifyPKIX checks a session's certificate as an enforce policy would:
// for a testing policy, which reports and does not refuse.
func (d *Deliverer) verifyPKIX(cs *tls.ConnectionState, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: d.opts.RootCAs, Intermediates: inter})
	return err
}

// tlsFailureType is the RFC 8460 result type of a failed TLS step.
func tlsFailureType(r Result) string {
	var de *daneError
	var ve *tls.CertificateVerificationError
	switch {
	case r.Enhanced == "4.7.4":
		return "starttls-not-supported"
	case errors.As(r.Err, &de):
		return de.result
	case errors.As(r.Err, &ve):
		return x509Result(ve.Err)
	case strings.Contains(r.Text, "x509:"):
		return x509Result(r.Err)
	}
	return "validation-failure"
}
