package delivery

import (
	"errors"
	"fmt"
	"strings"
)

// DNSErrorKind says what went wrong with a lookup.
type DNSErrorKind string

// Kinds of DNS failure. Only KindNXDomain and KindNullMX are permanent.
const (
	KindNXDomain  DNSErrorKind = "nxdomain"  // the name does not exist
	KindNullMX    DNSErrorKind = "null-mx"   // "MX 0 ." (RFC 7505)
	KindServFail  DNSErrorKind = "servfail"  // every server answered SERVFAIL
	KindRefused   DNSErrorKind = "refused"   // every server answered REFUSED
	KindTimeout   DNSErrorKind = "timeout"   // no usable answer in time
	KindTemporary DNSErrorKind = "temporary" // anything else: network, bad answers, CNAME loop
)

// Sentinels, one per kind; a *DNSError matches its kind's sentinel with
// errors.Is (errors.Is(err, ErrNullMX)).
var (
	ErrNXDomain     = errors.New("domain does not exist")
	ErrNullMX       = errors.New("domain accepts no mail (null MX, RFC 7505)")
	ErrServFail     = errors.New("dns server failure")
	ErrRefused      = errors.New("dns query refused")
	ErrDNSTimeout   = errors.New("dns timeout")
	ErrDNSTemporary = errors.New("dns temporary failure")
)

var kindErr = map[DNSErrorKind]error{
	KindNXDomain:  ErrNXDomain,
	KindNullMX:    ErrNullMX,
	KindServFail:  ErrServFail,
	KindRefused:   ErrRefused,
	KindTimeout:   ErrDNSTimeout,
	KindTemporary: ErrDNSTemporary,
}

// DNSError is the error type of DNSResolver and of the Resolver contract.
type DNSError struct {
	Name      string // the name asked about, as given
	Type      string // "MX", "A", "AAAA"
	Kind      DNSErrorKind
	Permanent bool  // true for NXDOMAIN and null MX only
	Err       error // the underlying cause, if any
}

func newDNSError(name, qtype string, kind DNSErrorKind, cause error) *DNSError {
	return &DNSError{
		Name:      strings.TrimSuffix(name, "."),
		Type:      qtype,
		Kind:      kind,
		Permanent: kind == KindNXDomain || kind == KindNullMX,
		Err:       cause,
	}
}

func (e *DNSError) Error() string {
	s := fmt.Sprintf("dns %s %s: %v", e.Type, e.Name, kindErr[e.Kind])
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind's sentinel and the cause.
func (e *DNSError) Unwrap() []error {
	out := []error{kindErr[e.Kind]}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Temporary reports whether asking again later may give another answer.
func (e *DNSError) Temporary() bool { return !e.Permanent }
