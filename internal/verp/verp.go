// Package verp makes and reads the variable envelope return path (VERP)
// of a message: "b-<queue id>-<mac>@<return-path domain>", so a bounce or
// complaint sent there later names the message it is about, and nobody
// who has not seen one of mtaq's messages can make one up (the mac is a
// truncated HMAC-SHA256 of the ID under a secret key). It owns the token's
// format; it does not choose the return-path domain, rewrite envelopes or
// keep the secret (the feedback-loop wiring does).
package verp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Prefix starts every token's local part.
const Prefix = "b-"

// idLen is a queue ID's length (queue.NewID): 16 Crockford base32
// characters.
const idLen = 16

// macLen base32 characters carry 50 bits of the HMAC: guessing one for a
// chosen ID takes 2^49 tries on average, each a message sent to us.
const macLen = 10

// alphabet is Crockford's base32 in lower case. Tokens are lower case
// because some MTAs fold the local part of the return path to lower case
// when they bounce; Parse accepts either case.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var macEncoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// Signer makes and checks tokens under one secret.
type Signer struct{ key []byte }

// New returns a Signer for key (at least 16 bytes of randomness).
func New(key []byte) *Signer { return &Signer{key: append([]byte(nil), key...)} }

// Address is the return path for the message queueID at domain, and
// false when queueID is not one queue.NewID makes (such messages keep
// their sender).
func (s *Signer) Address(queueID, domain string) (string, bool) {
	id := strings.ToLower(queueID)
	if !validID(id) || domain == "" {
		return "", false
	}
	return Prefix + id + "-" + s.mac(id) + "@" + domain, true
}

// Parse reads the local part of an address a report was sent to and
// returns the queue ID it names (upper case, as the queue writes it),
// false when it is not a token or its mac does not match.
func (s *Signer) Parse(local string) (queueID string, ok bool) {
	l := strings.ToLower(local)
	if !strings.HasPrefix(l, Prefix) || len(l) != len(Prefix)+idLen+1+macLen || l[len(Prefix)+idLen] != '-' {
		return "", false
	}
	id, mac := l[len(Prefix):len(Prefix)+idLen], l[len(Prefix)+idLen+1:]
	if !validID(id) || !hmac.Equal([]byte(mac), []byte(s.mac(id))) {
		return "", false
	}
	return strings.ToUpper(id), true
}

func (s *Signer) mac(id string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	return macEncoding.EncodeToString(h.Sum(nil))[:macLen]
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(alphabet, rune(id[i])) {
			return false
		}
	}
	return true
}
