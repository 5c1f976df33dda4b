package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
)

// RecordName is where a selector's public key is published.
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + domain
}

// Record is the TXT record value that publishes pub (RFC 6376 §3.6.1,
// RFC 8463 for Ed25519): "v=DKIM1; k=rsa; p=...".
func Record(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("dkim: %T keys cannot be published", pub)
}

// SplitTXT cuts a record value into the 255-octet character-strings one
// TXT record is made of (RFC 1035 §3.3.14); DNS joins them back.
func SplitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
