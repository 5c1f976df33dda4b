package conf

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DKIMKey is one [[dkim]] table: a key that signs mail whose From domain
// is Domain or under it.
type DKIMKey struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	// KeyFile is a PEM private key (PKCS#8 or PKCS#1): RSA of at least
	// 2048 bits, or Ed25519. Read by serve, not by other commands.
	KeyFile string `toml:"key_file"`
	// Headers replaces the default list of signed fields (README lists
	// it; internal/dkim keeps it); From is required.
	Headers []string `toml:"headers"`
	// Expire sets x= this long after signing; 0: no expiry.
	Expire Duration `toml:"expire"`
}

func validateDKIM(k *checker, keys []DKIMKey) {
	seen := map[string]bool{}
	for i, d := range keys {
		key := fmt.Sprintf("dkim[%d]", i)
		if d.Domain == "" || !isHostname(d.Domain) {
			k.add(key+".domain", "must be a domain name, got %q", d.Domain)
		}
		if d.Selector == "" || !isHostname(d.Selector) {
			k.add(key+".selector", "must be a DNS label (or labels), got %q", d.Selector)
		}
		id := strings.ToLower(d.Selector + "._domainkey." + d.Domain)
		if seen[id] {
			k.add(key+".selector", "%s is configured twice", id)
		}
		seen[id] = true
		if d.KeyFile == "" {
			k.add(key+".key_file", "must name the private key's PEM file")
		}
		if len(d.Headers) > 0 && !containsFold(d.Headers, "From") {
			k.add(key+".headers", "must include From (RFC 6376 §5.4)")
		}
		if d.Expire.Duration < 0 {
			k.add(key+".expire", "must not be negative, got %v", d.Expire.Duration)
		}
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// LoadDKIMKey reads a PEM private key: PKCS#8 or PKCS#1 RSA of at least
// 2048 bits, or PKCS#8 Ed25519.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDKIMKey(data)
}

// ParseDKIMKey is LoadDKIMKey on the file's bytes.
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: DKIM verifiers want at least 2048", n)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%T keys cannot sign DKIM (want RSA or Ed25519)", key)
}
