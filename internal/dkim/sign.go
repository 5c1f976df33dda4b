package dkim

import (
	"bytes"
	"crypto"
	"fmt"
	"sort"
	"strings"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Key is one configured key. A Key without Signer only says that Domain
// is covered (what sendmail needs to answer like the daemon without
// reading keys it may not read).
type Key struct {
	Domain, Selector string
	Signer           crypto.Signer
	// Headers replaces DefaultHeaders; nil keeps them.
	Headers []string
	// Expire sets x= this long after signing; 0: none.
	Expire time.Duration
}

// DefaultHeaders are signed when a key names none (conf keeps the same
// list for its documentation).
var DefaultHeaders = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"}

// overSigned fields are listed in h= once more than the message has them,
// so nobody can add one after signing (a second From or Subject shown to
// the reader, a List-Unsubscribe of their own: RFC 8058 §4 requires both
// of its fields to be signed).
var overSigned = map[string]bool{"from": true, "subject": true, "date": true, "to": true, "reply-to": true,
	"list-unsubscribe": true, "list-unsubscribe-post": true}

// Signer holds the keys and picks those for a message.
type Signer struct {
	keys []Key // most specific domain first
}

// New returns a Signer for keys; domains compare case-insensitively.
func New(keys []Key) *Signer {
	ks := append([]Key(nil), keys...)
	for i := range ks {
		ks[i].Domain = strings.ToLower(strings.TrimSuffix(ks[i].Domain, "."))
	}
	sort.SliceStable(ks, func(i, j int) bool { return len(ks[i].Domain) > len(ks[j].Domain) })
	return &Signer{keys: ks}
}

// For returns the keys that sign mail whose From domain is domain: every
// key of the most specific configured domain that domain equals or is
// under (relaxed DMARC alignment), so several keys of one domain sign
// together (RSA and Ed25519, or a rotation overlap).
func (s *Signer) For(domain string) []Key {
	if s == nil {
		return nil
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	var out []Key
	for _, k := range s.keys {
		if len(out) > 0 && k.Domain != out[0].Domain {
			break
		}
		if domain == k.Domain || strings.HasSuffix(domain, "."+k.Domain) {
			out = append(out, k)
		}
	}
	return out
}

// Covers reports whether mail from domain would be signed.
func (s *Signer) Covers(domain string) bool { return len(s.For(domain)) > 0 }

// Sign returns the DKIM-Signature fields for msg (CRLF lines, header and
// body) from domain, one per key, relaxed/relaxed, to be put on top of it.
// None when no key covers domain.
func (s *Signer) Sign(msg []byte, domain string, now time.Time) ([]byte, error) {
	keys := s.For(domain)
	if len(keys) == 0 {
		return nil, nil
	}
	present := fieldCounts(msg)
	var out []byte
	for _, k := range keys {
		if k.Signer == nil {
			return nil, fmt.Errorf("dkim: key %s for %s was not loaded", k.Selector, k.Domain)
		}
		o := &msgauth.SignOptions{Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
			BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
			HeaderKeys:             headerKeys(k.Headers, present)}
		if k.Expire > 0 {
			o.Expiration = now.Add(k.Expire)
		}
		sg, err := msgauth.NewSigner(o)
		if err != nil {
			return nil, err
		}
		if _, err := sg.Write(msg); err != nil {
			sg.Close()
			return nil, err
		}
		if err := sg.Close(); err != nil {
			return nil, err
		}
		out = append(out, sg.Signature()...)
	}
	return out, nil
}

// headerKeys lists each field of names as often as msg has it, and the
// over-signed ones once more; a field the message lacks and that is not
// over-signed is left out. From is always listed.
func headerKeys(names []string, present map[string]int) []string {
	if names == nil {
		names = DefaultHeaders
	}
	var out []string
	for _, n := range names {
		l := strings.ToLower(n)
		c := present[l]
		if overSigned[l] || l == "from" {
			c++
		}
		for range c {
			out = append(out, n)
		}
	}
	return out
}

// fieldCounts counts the header fields of msg by lower-case name.
func fieldCounts(msg []byte) map[string]int {
	counts := map[string]int{}
	for len(msg) > 0 {
		i := bytes.Index(msg, []byte("\r\n"))
		line := msg
		if i >= 0 {
			line, msg = msg[:i], msg[i+2:]
		} else {
			msg = nil
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok {
			counts[strings.ToLower(strings.TrimSpace(string(name)))]++
		}
	}
	return counts
}
