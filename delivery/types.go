package delivery

import (
	"context"
	"net"
	"time"
)

// Stage is the step of a delivery attempt at which a Result was decided.
type Stage string

// Stages, in order.
const (
	StageResolve  Stage = "resolve"
	StageDial     Stage = "dial"
	StageGreeting Stage = "greeting"
	StageHello    Stage = "hello"
	StageTLS      Stage = "tls"
	StageAuth     Stage = "auth" // smarthost AUTH
	StageMail     Stage = "mail"
	StageRcpt     Stage = "rcpt"
	StageData     Stage = "data"
)

// Job is one transaction's worth of work: one sender, one destination
// domain, up to 100 recipients, one body.
type Job struct {
	MessageID string // for logs only
	Domain    string // lower case; every Rcpts entry is at this domain
	Sender    string // "" is the null sender
	Rcpts     []string
	Body      []byte // CRLF line endings, not dot-stuffed
	// Source, when set, is the local address every connection of the job
	// is bound to (the scheduler's source-pool choice), and EHLO the name
	// those connections announce ("" is Options.Hostname). Idle
	// connections are kept per destination and source. Ignored with a
	// Relay.
	Source net.IP
	EHLO   string
	// probe: stop after RCPT (Deliverer.Probe).
	probe bool
}

// Result is the outcome for one recipient of a Job.
type Result struct {
	Rcpt     string
	Code     int    // 0 when no reply was received (local failure)
	Enhanced string // "5.1.1", or ""
	Text     string
	Stage    Stage
	MX       string // host name of the exchanger that answered, if any
	IP       string // its address
	TLS      bool   // the session ran under TLS (STARTTLS or implicit)
	Duration time.Duration
	Err      error // the local error behind a Code 0 result

	// TLSVersion and TLSCipher name what the session negotiated
	// ("TLS 1.3", "TLS_AES_128_GCM_SHA256"); "" in plain text.
	TLSVersion, TLSCipher string
	// TLSFallback: the STARTTLS handshake with this address failed and the
	// mail went, or was refused, in plain text on a new connection. The
	// scheduler puts it in the recipient's timeline.
	TLSFallback bool
	// TLSPolicy says which policy set the TLS rules of the attempt (DANE,
	// MTA-STS, tls_policy, opportunistic, relay); TLSPolicyID is the
	// MTA-STS policy id.
	TLSPolicy   PolicySource
	TLSPolicyID string
	// Busy: nothing was attempted because every exchanger address was at
	// Options.MaxConnsPerIP (4.4.5, Stage dial). It is a local deferral:
	// it says nothing about the destination or the address.
	Busy bool
}

// TLSMode is a destination's TLS policy.
type TLSMode string

// TLS modes for Options.TLSPolicy.
const (
	// TLSOpportunistic (the default): STARTTLS when offered, certificate
	// not checked unless Options.TLSConfig asks; a failed handshake is
	// retried once in plain text.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSRequire: STARTTLS must be offered and the certificate must verify
	// for the MX host name (system roots, or Options.RootCAs); otherwise
	// the host is skipped with 4.7.4 (not offered) or 4.7.5 (handshake or
	// verification failed). Never plain text.
	TLSRequire TLSMode = "require"
)

// MX is one mail exchanger.
type MX struct {
	Host string // no trailing dot
	Pref uint16
}

// Resolver looks up what delivery needs from DNS. Errors are *DNSError.
type Resolver interface {
	// LookupMX returns the domain's MX records in preference order. A
	// domain with no MX records returns (nil, nil): use its A/AAAA (implicit
	// MX, RFC 5321 5.1). A null MX (RFC 7505) returns ErrNullMX.
	LookupMX(ctx context.Context, domain string) ([]MX, error)
	// LookupIP returns the host's IPv4 and IPv6 addresses.
	LookupIP(ctx context.Context, host string) ([]net.IP, error)
}

// Dialer opens connections; net.Dialer satisfies it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// SourceDialer is a Dialer that can bind the local address, for
// Job.Source. A *net.Dialer needs no such method: delivery copies it and
// sets LocalAddr. A Job with a Source and a Dialer that is neither fails
// at the dial stage rather than leave from an address nobody chose.
type SourceDialer interface {
	Dialer
	DialFrom(ctx context.Context, source net.IP, network, address string) (net.Conn, error)
}
