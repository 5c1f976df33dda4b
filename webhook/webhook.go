// Package webhook verifies the requests mtaq's webhooks send, for
// receivers written in Go; mtaq signs with the same code. It owns the two
// signature schemes every request carries, and nothing else (no payload
// types, no HTTP handler):
//
//   - Standard Webhooks (https://www.standardwebhooks.com/): headers
//     webhook-id, webhook-timestamp and webhook-signature
//     ("v1,<base64 HMAC-SHA256 of id.timestamp.body>"), so receivers in any
//     language can use that project's ready-made verifiers. The HMAC key is
//     the secret base64-decoded when it starts with "whsec_" (the format
//     those verifiers take), else the secret's bytes.
//   - mtaq's own: X-Mtaq-Timestamp and X-Mtaq-Signature
//     ("sha256=<hex HMAC-SHA256 of timestamp.body>"), keyed by the secret's
//     bytes as written in the configuration.
//
// Verify the raw body as received, before decoding the JSON.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request headers. The Standard Webhooks names are lower case as the
// specification writes them; http.Header.Get finds them in any case.
const (
	HeaderID        = "webhook-id"        // stable per event: the same on every retry, for deduplication
	HeaderTimestamp = "webhook-timestamp" // unix seconds when signed
	HeaderSignature = "webhook-signature" // "v1,<base64>", several space-separated when rotating
	// mtaq's scheme, kept for receivers written before Standard Webhooks.
	HeaderMtaqTimestamp = "X-Mtaq-Timestamp" // unix seconds when signed
	HeaderMtaqSignature = "X-Mtaq-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
)

// SecretPrefix marks a Standard Webhooks secret: the rest is the key in
// base64.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock before Verify refuses it as a possible replay.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped).
var (
	ErrNoSignature = errors.New("webhook: the request carries no signature headers")
	ErrSignature   = errors.New("webhook: signature does not match")
	ErrTimestamp   = errors.New("webhook: timestamp missing, malformed or too far from now")
	ErrSecret      = errors.New("webhook: bad secret")
)

// Verify checks a request mtaq sent: the Standard Webhooks signature when
// the request has one, else the X-Mtaq one, and that its timestamp is
// within DefaultTolerance of the wall clock. nil means the body is
// authentic.
func Verify(secret string, header http.Header, body []byte) error {
	return VerifyAt(secret, header, body, time.Now(), DefaultTolerance)
}

// VerifyAt is Verify with the receiver's time and tolerance given.
func VerifyAt(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if sigs := get(header, HeaderSignature); sigs != "" {
		ts := get(header, HeaderTimestamp)
		if err := checkTime(ts, now, tolerance); err != nil {
			return err
		}
		want, err := SignStandard(secret, get(header, HeaderID), ts, body)
		if err != nil {
			return err
		}
		for _, s := range strings.Fields(sigs) {
			if hmac.Equal([]byte(s), []byte(want)) {
				return nil
			}
		}
		return fmt.Errorf("%w (%s)", ErrSignature, HeaderSignature)
	}
	if sig := header.Get(HeaderMtaqSignature); sig != "" {
		ts := header.Get(HeaderMtaqTimestamp)
		if err := checkTime(ts, now, tolerance); err != nil {
			return err
		}
		if !hmac.Equal([]byte(sig), []byte(SignMtaq(secret, ts, body))) {
			return fmt.Errorf("%w (%s)", ErrSignature, HeaderMtaqSignature)
		}
		return nil
	}
	return ErrNoSignature
}

// get reads a header whether its key is canonical (as net/http's server
// stores it) or lower case (as set directly in the map).
func get(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func checkTime(ts string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %v from now", ErrTimestamp, ts, d.Round(time.Second))
	}
	return nil
}

// SignMtaq returns the X-Mtaq-Signature value for body signed at
// timestamp (unix seconds, as sent in X-Mtaq-Timestamp).
func SignMtaq(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignStandard returns the webhook-signature value ("v1,<base64>") for
// body sent with id at timestamp. It fails only for a "whsec_" secret
// whose rest is not base64, or an id or timestamp containing '.', which
// would make the signed content ambiguous.
func SignStandard(secret, id, timestamp string, body []byte) (string, error) {
	key, err := StandardKey(secret)
	if err != nil {
		return "", err
	}
	if strings.Contains(id, ".") || strings.Contains(timestamp, ".") {
		return "", fmt.Errorf("%w: id %q or timestamp %q contains '.'", ErrSignature, id, timestamp)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// StandardKey returns the Standard Webhooks HMAC key for secret: the
// base64 after "whsec_", else the secret's own bytes.
func StandardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %s is not base64: %v", ErrSecret, SecretPrefix, err)
	}
	return key, nil
}

// StandardSecret is secret in the form Standard Webhooks verifiers take:
// itself when it starts with "whsec_", else "whsec_" and its bytes in
// base64.
func StandardSecret(secret string) string {
	if strings.HasPrefix(secret, SecretPrefix) {
		return secret
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString([]byte(secret))
}
