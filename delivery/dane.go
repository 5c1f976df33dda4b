package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

// DANE for SMTP (RFC 7672). It applies only where DNSSEC says so: the
// validating resolver set the AD bit on the domain's MX answer and on the
// exchanger's TLSA answer. Without AD nothing is attempted: an unsigned
// answer could have been forged, and so could its absence.

// TLSA usages, selectors and matching types that RFC 7672 3.1 lets SMTP use.
const (
	tlsaDANETA = 2 // a trust anchor in the server's chain
	tlsaDANEEE = 3 // the server's own certificate or key
)

// TLSA is one TLSA record (RFC 6698 2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// String is the record's presentation form: "3 1 1 <hex>".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, hex.EncodeToString(t.Data))
}

// usable: DANE-TA or DANE-EE, a known selector, a known matching type with
// a digest of the right length (RFC 7672 3.1.3: anything else is ignored).
func (t TLSA) usable() bool {
	if t.Usage != tlsaDANETA && t.Usage != tlsaDANEEE || t.Selector > 1 {
		return false
	}
	switch t.MatchingType {
	case 0:
		return len(t.Data) > 0
	case 1:
		return len(t.Data) == sha256.Size
	case 2:
		return len(t.Data) == sha512.Size
	}
	return false
}

// matches reports whether c is the certificate or key t names.
func (t TLSA) matches(c *x509.Certificate) bool {
	data := c.Raw
	if t.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case 1:
		sum := sha256.Sum256(data)
		data = sum[:]
	case 2:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	return bytes.Equal(data, t.Data)
}

// DNSSECResolver is the optional lookup DANE needs; DNSResolver has it. A
// Resolver without it gets no DANE.
type DNSSECResolver interface {
	// LookupMXSecure is LookupMX, and whether the answers were validated
	// (the AD bit).
	LookupMXSecure(ctx context.Context, domain string) ([]MX, bool, error)
	// LookupTLSA returns name's TLSA records and whether the answer was
	// validated. No records: (nil, secure, nil), NXDOMAIN included.
	LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error)
}

// LookupTLSA asks for name's TLSA records (e.g. "_25._tcp.mx.example.com").
func (r *DNSResolver) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	rrs, secure, err := r.resolveSec(ctx, name, dns.TypeTLSA)
	var de *DNSError
	if errors.As(err, &de) && de.Kind == KindNXDomain {
		return nil, secure, nil
	}
	if err != nil {
		return nil, false, err
	}
	var out []TLSA
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TLSA); ok {
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				continue
			}
			out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
		}
	}
	return out, secure, nil
}

// daneHost is what DNSSEC says about one exchanger: its usable TLSA
// records (none usable: TLS is still required, RFC 7672 2.2), or why they
// could not be had.
type daneHost struct {
	name    string // "_25._tcp.<host>"
	records []TLSA // usable ones
	all     []string
	err     error // the TLSA lookup failed: the host is not tried
}

// daneHosts looks up the TLSA records of each exchanger of a domain whose
// MX answer was validated. Hosts whose TLSA answer is insecure or empty
// are left out: DANE does not apply to them.
func (d *Deliverer) daneHosts(ctx context.Context, hosts []MX) map[string]*daneHost {
	out := map[string]*daneHost{}
	for _, mx := range hosts[:min(len(hosts), d.opts.MaxHosts)] {
		host := mx.Host
		if a, err := ASCIIDomain(host); err == nil {
			host = a
		}
		name := "_" + strconv.Itoa(d.opts.Port) + "._tcp." + host
		recs, secure, err := d.dane.LookupTLSA(ctx, name)
		switch {
		case err != nil:
			out[host] = &daneHost{name: name, err: err}
		case secure && len(recs) > 0:
			h := &daneHost{name: name}
			for _, r := range recs {
				h.all = append(h.all, r.String())
				if r.usable() {
					h.records = append(h.records, r)
				}
			}
			out[host] = h
		}
	}
	return out
}

// daneError is a certificate DANE refused, with its TLS-RPT result type.
type daneError struct {
	result string
	msg    string
}

func (e *daneError) Error() string { return e.msg }

// verifyDANE checks the server's chain against the usable records: a
// DANE-EE record must match the leaf (names and dates are not checked, RFC
// 7672 3.1.1); a DANE-TA record must match a certificate of the chain that
// the leaf then chains to, with the leaf valid for the MX host name (RFC
// 7672 3.1.2, 3.2.2). No usable record: encryption without authentication.
func verifyDANE(h *daneHost, host string, cs tls.ConnectionState) error {
	if len(h.records) == 0 {
		return nil
	}
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &daneError{result: "validation-failure", msg: "DANE: the server sent no certificate"}
	}
	var taErr error
	for _, r := range h.records {
		if r.Usage == tlsaDANEEE && r.matches(certs[0]) {
			return nil
		}
	}
	for _, r := range h.records {
		if r.Usage != tlsaDANETA {
			continue
		}
		for i := 1; i < len(certs); i++ {
			if !r.matches(certs[i]) {
				continue
			}
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(certs[i])
			for _, c := range certs[1:i] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
			if err == nil {
				return nil
			}
			taErr = err
		}
	}
	if taErr != nil {
		return &daneError{result: x509Result(taErr),
			msg: fmt.Sprintf("DANE: the chain matches a DANE-TA record of %s but does not verify: %v", h.name, taErr)}
	}
	return &daneError{result: "validation-failure",
		msg: fmt.Sprintf("DANE: no TLSA record of %s matches the certificate chain", h.name)}
}

// x509Result maps a verification error to its RFC 8460 result type.
func x509Result(err error) string {
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &host):
		return "certificate-host-mismatch"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "certificate-expired"
	case errors.As(err, &ua):
		return "certificate-not-trusted"
	}
	return "validation-failure"
}

// Validates reports whether the DNS servers validate DNSSEC: they set the
// AD bit on the answer for the root zone's NS records, which are signed.
// DANE needs it; mtaq doctor says so when it is missing.
func (r *DNSResolver) Validates(ctx context.Context) (bool, error) {
	resp, err := r.query(ctx, ".", dns.TypeNS)
	if err != nil {
		return false, err
	}
	return resp.AuthenticatedData, nil
}
