package conf

import (
	"net/mail"
	"strings"
)

// TLSRPT configures SMTP TLS reporting (RFC 8460) for the mail mtaq
// sends. Sessions are counted per recipient domain whatever Enabled says
// (mtaq tls report DOMAIN shows them); Enabled sends each day's aggregate
// report to the domains that ask for one in their _smtp._tls TXT record.
type TLSRPT struct {
	// Enabled sends the daily reports. Default false: a report is mail
	// (or an HTTPS POST) to a third party, so the operator opts in.
	Enabled bool `toml:"enabled"`
	// OrganizationName is the report's organization-name: who sends it.
	OrganizationName string `toml:"organization_name"`
	// ContactInfo is the report's contact-info: an address (or URI)
	// receivers may write to about the reports.
	ContactInfo string `toml:"contact_info"`
	// From is the report mail's From and envelope sender; default
	// tlsrpt-noreply@<hostname>. Its domain should have a DKIM key.
	From string `toml:"from"`
}

func validateTLSRPT(k *checker, t TLSRPT) {
	if !t.Enabled {
		return
	}
	if strings.TrimSpace(t.OrganizationName) == "" {
		k.add("tlsrpt.organization_name", "is required when tlsrpt.enabled is true (RFC 8460 organization-name)")
	}
	if strings.TrimSpace(t.ContactInfo) == "" {
		k.add("tlsrpt.contact_info", "is required when tlsrpt.enabled is true (RFC 8460 contact-info)")
	}
	if t.From != "" {
		if a, err := mail.ParseAddress(t.From); err != nil || a.Address != t.From {
			k.add("tlsrpt.from", "must be a bare address like tlsrpt@example.com, got %q", t.From)
		}
	}
}
