// Package httpapi owns the app-facing HTTP API ([http] listen): bearer
// authentication by API key (the SHA-256 of the key is in the user's
// api_keys), scopes (send, read, admin), a per-key rate limit, turning a
// JSON message into MIME (go-message), the Idempotency-Key, and RFC 9457
// problem documents that name the bad field. Sending goes through
// internal/intake like every other way in; reading and managing call the
// admin Service, the one implementation behind the CLI too.
//
// It owns no state: messages, idempotency records and suppressions live
// in the queue, rate-limit buckets are memory only.
package httpapi
