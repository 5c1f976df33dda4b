package conf

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"
)

// Bounce configures the feedback loop: the return path mtaq puts on mail
// (a per-message token at a return-path domain), and the inbound listener
// where asynchronous bounces (DSNs) and spam complaints (ARF) arrive.
type Bounce struct {
	// Listen, e.g. ["0.0.0.0:25"], runs an inbound SMTP server that takes
	// only reports: RCPT to a valid token or a feedback address. Empty (the
	// default) runs none; `mtaq bounce receive` still takes reports from
	// an existing inbound MX.
	Listen []string `toml:"listen"`
	// ReturnPathDomains maps a sender domain (the envelope sender's, else
	// the From header's; a parent domain covers its subdomains) to the
	// return-path domain its mail goes out with. The return-path domain
	// must be the sender domain or under it, so SPF aligns for DMARC.
	ReturnPathDomains map[string]string `toml:"return_path_domains"`
	// DefaultReturnPathDomain is used for senders not listed; "" keeps
	// their envelope sender.
	DefaultReturnPathDomain string `toml:"default_return_path_domain"`
	// SecretFile holds the HMAC key that makes tokens unforgeable; ""
	// generates one in data_dir the first time and keeps it.
	SecretFile string `toml:"secret_file"`
	// FeedbackAddresses are where ARF complaint reports arrive (the
	// address registered with Yahoo's or Microsoft's feedback loop).
	FeedbackAddresses []string `toml:"feedback_addresses"`
	// MaxMessageBytes caps one report (552 5.3.4 beyond).
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxConnections caps the listener's open connections (421 4.3.2
	// beyond); MaxConnectionsPerIP one client's (421 4.7.0 beyond);
	// MaxReportsPerIP its reports per hour (451 4.7.1 beyond).
	MaxConnections      int `toml:"max_connections"`
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	MaxReportsPerIP     int `toml:"max_reports_per_ip"`
	// ComplaintTTL is how long a complaint suppresses; 0 (the default)
	// means forever: the person said they do not want the mail.
	ComplaintTTL Duration `toml:"complaint_ttl"`
}

// DefaultBounce is the [bounce] table's defaults.
func DefaultBounce() Bounce {
	return Bounce{Listen: []string{}, ReturnPathDomains: map[string]string{}, FeedbackAddresses: []string{},
		MaxMessageBytes: 10 << 20, MaxConnections: 100, MaxConnectionsPerIP: 10, MaxReportsPerIP: 1000}
}

// Enabled reports whether mail gets a return-path token at all.
func (b Bounce) Enabled() bool {
	return len(b.ReturnPathDomains) > 0 || b.DefaultReturnPathDomain != ""
}

func validateBounce(k *checker, b Bounce) {
	for _, a := range b.Listen {
		if err := checkListen(a); err != nil {
			k.add("bounce.listen", "%v", err)
		}
	}
	for from, rp := range b.ReturnPathDomains {
		key := "bounce.return_path_domains." + from
		f, r := strings.ToLower(from), strings.ToLower(rp)
		switch {
		case !isHostname(f):
			k.add(key, "%q is not a domain name", from)
		case !isHostname(r):
			k.add(key, "%q is not a domain name", rp)
		case r != f && !strings.HasSuffix(r, "."+f):
			k.add(key, "%q must be %s or a subdomain of it, or SPF will not align with the From domain for DMARC", rp, from)
		}
	}
	if d := b.DefaultReturnPathDomain; d != "" && !isHostname(d) {
		k.add("bounce.default_return_path_domain", "%q is not a domain name", d)
	}
	for _, a := range b.FeedbackAddresses {
		p, err := mail.ParseAddress(a)
		if err != nil || p.Address != a || p.Name != "" {
			k.add("bounce.feedback_addresses", "%q is not a plain address (local@domain)", a)
		}
	}
	if len(b.Listen) > 0 && !b.Enabled() && len(b.FeedbackAddresses) == 0 {
		k.add("bounce.listen", "nothing to receive: set return_path_domains, default_return_path_domain or feedback_addresses")
	}
	k.atLeast("bounce.max_message_bytes", b.MaxMessageBytes, 64<<10)
	k.atLeast("bounce.max_connections", int64(b.MaxConnections), 1)
	k.atLeast("bounce.max_connections_per_ip", int64(b.MaxConnectionsPerIP), 1)
	k.atLeast("bounce.max_reports_per_ip", int64(b.MaxReportsPerIP), 1)
	if b.ComplaintTTL.Duration < 0 {
		k.add("bounce.complaint_ttl", "must not be negative (0 means never), got %v", b.ComplaintTTL.Duration)
	} else if b.ComplaintTTL.Duration > 0 && b.ComplaintTTL.Duration < time.Hour {
		k.add("bounce.complaint_ttl", "must be 0 (forever) or at least 1h, got %v", b.ComplaintTTL.Duration)
	}
}

// MinSecretBytes is the shortest return-path secret accepted.
const MinSecretBytes = 16

// ReadBounceSecret reads a secret_file: its bytes, surrounding white space
// trimmed, at least MinSecretBytes of them.
func ReadBounceSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key := bytes.TrimSpace(data)
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("%s holds %d bytes; a secret needs at least %d (e.g. head -c 32 /dev/urandom | base64 > %s)",
			path, len(key), MinSecretBytes, path)
	}
	return key, nil
}
