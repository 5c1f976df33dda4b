package bounce

import (
	"net/mail"
	"strings"

	"github.com/mtaq/mtaq/internal/verp"
	"github.com/mtaq/mtaq/queue"
)

// Domains are [bounce] return_path_domains and default_return_path_domain.
type Domains struct {
	// BySender maps a sender domain to its return-path domain; a listed
	// domain covers its subdomains.
	BySender map[string]string
	// Default is for senders not listed; "" keeps their sender.
	Default string
}

// ReturnPath chooses the envelope sender a message goes out with.
type ReturnPath struct {
	domains Domains
	signer  *verp.Signer
}

// NewReturnPath returns the chooser for d under key.
func NewReturnPath(d Domains, key []byte) *ReturnPath {
	by := make(map[string]string, len(d.BySender))
	for k, v := range d.BySender {
		by[strings.ToLower(k)] = strings.ToLower(v)
	}
	return &ReturnPath{domains: Domains{BySender: by, Default: strings.ToLower(d.Default)}, signer: verp.New(key)}
}

// Sender is m's envelope sender on the wire: b-<token>@<return-path
// domain> when m's sender domain (the envelope sender's, else the From
// field's) or a parent is listed, else at default_return_path_domain when
// set, else m.Sender. The null sender
// stays null: mail that must not be answered (DSNs) must not get a
// return path that answers.
func (p *ReturnPath) Sender(m *queue.Message) string {
	if m.Sender == "" || !p.Enabled() {
		return m.Sender
	}
	rp := p.domains.listed(domainOf(m.Sender))
	if rp == "" {
		if a, err := mail.ParseAddress(m.From); err == nil {
			rp = p.domains.listed(domainOf(a.Address))
		}
	}
	if rp == "" {
		rp = p.domains.Default
	}
	if rp == "" {
		return m.Sender
	}
	if addr, ok := p.signer.Address(m.ID, rp); ok {
		return addr
	}
	return m.Sender
}

// Enabled reports whether any mail gets a token.
func (p *ReturnPath) Enabled() bool { return len(p.domains.BySender) > 0 || p.domains.Default != "" }

// For is the return-path domain mail from sender domain dom goes out
// with: the listed one, else Default ("" for none).
func (d Domains) For(dom string) string {
	if rp := d.listed(strings.ToLower(dom)); rp != "" {
		return rp
	}
	return strings.ToLower(d.Default)
}

// listed is the return-path domain of the most specific listed domain dom
// (lower case) is, or is under; "" when none.
func (d Domains) listed(dom string) string {
	best, rp := "", ""
	for k, v := range d.BySender {
		k = strings.ToLower(k)
		if (dom == k || strings.HasSuffix(dom, "."+k)) && len(k) > len(best) {
			best, rp = k, strings.ToLower(v)
		}
	}
	return rp
}

// Token returns the queue ID a return-path local part names, false when
// it is not a token this secret made.
func (p *ReturnPath) Token(local string) (string, bool) { return p.signer.Parse(local) }

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}
