package doctor

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// parseTags reads a "tag=value; tag=value" list (RFC 6376 §3.2, used by
// DMARC, MTA-STS and TLS-RPT too). Tag names are lower-cased; a tag given
// twice is an error.
func parseTags(s string) (map[string]string, error) {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not tag=value", part)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("tag %s appears twice", name)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// withVersion returns the TXT values whose first tag is v=version (case
// ignored: publishers get it wrong and receivers forgive).
func withVersion(txts []string, version string) []string {
	var out []string
	for _, t := range txts {
		first, _, _ := strings.Cut(t, ";")
		name, value, ok := strings.Cut(first, "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "v") && strings.EqualFold(strings.TrimSpace(value), version) {
			out = append(out, t)
		}
	}
	return out
}

// dkimKeyMatches reports whether a parsed DKIM record publishes pub: same
// key type (k=, rsa by default) and the same key in p=. RSA keys are
// compared after parsing, so SubjectPublicKeyInfo and bare PKCS#1 both
// match.
func dkimKeyMatches(tags map[string]string, pub crypto.PublicKey) error {
	p, ok := tags["p"]
	if !ok {
		return errors.New("has no p= tag")
	}
	p = strings.Join(strings.Fields(p), "")
	if p == "" {
		return errors.New("has an empty p=: the key is revoked")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return fmt.Errorf("p= is not base64: %v", err)
	}
	k := strings.ToLower(tags["k"])
	if k == "" {
		k = "rsa"
	}
	switch want := pub.(type) {
	case *rsa.PublicKey:
		if k != "rsa" {
			return fmt.Errorf("says k=%s; the configured key is RSA", k)
		}
		var got any
		if got, err = x509.ParsePKIXPublicKey(der); err != nil {
			if got, err = x509.ParsePKCS1PublicKey(der); err != nil {
				return errors.New("p= is not an RSA public key")
			}
		}
		if g, ok := got.(*rsa.PublicKey); !ok || !g.Equal(want) {
			return errors.New("publishes another key than the configured one")
		}
	case ed25519.PublicKey:
		if k != "ed25519" {
			return fmt.Errorf("says k=%s; the configured key is Ed25519", k)
		}
		if !bytes.Equal(der, want) {
			return errors.New("publishes another key than the configured one")
		}
	default:
		return fmt.Errorf("cannot compare with a %T key", pub)
	}
	return nil
}

// validSTSID: 1 to 32 letters and digits (RFC 8461 §3.1).
func validSTSID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validRUA: a comma-separated list of mailto: or https: URIs (RFC 8460 §3).
func validRUA(rua string) bool {
	if rua == "" {
		return false
	}
	for u := range strings.SplitSeq(rua, ",") {
		u = strings.ToLower(strings.TrimSpace(u))
		if !strings.HasPrefix(u, "mailto:") && !strings.HasPrefix(u, "https:") {
			return false
		}
	}
	return true
}
