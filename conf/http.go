package conf

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// HTTP configures the app-facing HTTP API ([http]). API keys belong to
// [[submission.user]] tables (api_keys, api_scopes).
type HTTP struct {
	// Listen, e.g. ["127.0.0.1:8025"]; empty serves no HTTP API.
	Listen []string `toml:"listen"`
	// TLSCert and TLSKey (PEM files, read by the daemon) make every
	// listener speak HTTPS; both or neither.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// RateLimit is the requests per second one API key may make (a token
	// bucket holding RateBurst); beyond it the API answers 429 with
	// Retry-After. 0 means no limit.
	RateLimit float64 `toml:"rate_limit"`
	RateBurst int     `toml:"rate_burst"`
	// Proxy: the PROXY protocol on every HTTP listener (proxy.go).
	Proxy
}

// DefaultHTTP is [http] when the file has none: no listener.
func DefaultHTTP() HTTP {
	return HTTP{Listen: []string{}, RateLimit: 100, RateBurst: 200, Proxy: Proxy{ProxyNetworks: []string{}}}
}

// API scopes a key may hold.
const (
	ScopeSend  = "send"
	ScopeRead  = "read"
	ScopeAdmin = "admin"
)

// APIKeyPrefix starts every api_keys entry: the key's SHA-256 in hex
// follows (`mtaq passwd --api-key` prints one).
const APIKeyPrefix = "sha256:"

// Scopes returns api_scopes, or ["send"] when unset.
func (u User) Scopes() []string {
	if u.APIScopes == nil {
		return []string{ScopeSend}
	}
	return u.APIScopes
}

func validateHTTP(k *checker, h HTTP, s Submission) {
	for i, a := range h.Listen {
		if err := checkListen(a); err != nil {
			k.add(fmt.Sprintf("http.listen[%d]", i), "%v", err)
		}
	}
	if (strings.TrimSpace(h.TLSCert) == "") != (strings.TrimSpace(h.TLSKey) == "") {
		// Named by the key that is there, so the line points at it.
		if h.TLSCert == "" {
			k.add("http.tls_key", "needs http.tls_cert as well")
		} else {
			k.add("http.tls_cert", "needs http.tls_key as well")
		}
	}
	validateProxy(k, "http", h.Proxy)
	if h.RateLimit < 0 {
		k.add("http.rate_limit", "must not be negative, got %v", h.RateLimit)
	}
	if h.RateLimit > 0 {
		k.atLeast("http.rate_burst", int64(h.RateBurst), 1)
	}
	seen := map[string]string{}
	for i, u := range s.Users {
		for j, key := range u.APIKeys {
			name := fmt.Sprintf("submission.user[%d].api_keys[%d]", i, j)
			if other, ok := seen[strings.ToLower(key)]; ok {
				k.add(name, "the same key as %s", other)
			}
			seen[strings.ToLower(key)] = name
		}
	}
}

// checkAPIKey accepts "sha256:" and 64 hex digits.
func checkAPIKey(s string) error {
	h, ok := strings.CutPrefix(s, APIKeyPrefix)
	if !ok {
		return fmt.Errorf("%q: must start with %q (make one with `mtaq passwd --api-key`)", s, APIKeyPrefix)
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return fmt.Errorf("%q: want %s and 64 hex digits (the key's SHA-256)", s, APIKeyPrefix)
	}
	return nil
}

func checkScope(s string) error {
	switch s {
	case ScopeSend, ScopeRead, ScopeAdmin:
		return nil
	}
	return fmt.Errorf("%q: want send, read or admin", s)
}
