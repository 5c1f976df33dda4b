package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// Scopes a key may hold.
const (
	ScopeSend  = "send"
	ScopeRead  = "read"
	ScopeAdmin = "admin" // also grants read
)

// Key is one API key as the daemon knows it: its SHA-256 and what its user
// may do. The key itself is never stored.
type Key struct {
	Hash   [32]byte
	User   string
	Scopes []string
	// AllowedSenders limits the envelope sender like SMTP AUTH does
	// (address or "@domain"), and what the key may read; empty: any.
	AllowedSenders []string
	NoDSN          bool // the user's dsn = false
}

// ParseKeyHash reads an api_keys entry ("sha256:<64 hex>").
func ParseKeyHash(s string) ([32]byte, error) {
	var h [32]byte
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	b, err := hex.DecodeString(hexPart)
	if !ok || err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%q is not sha256:<64 hex digits>", s)
	}
	copy(h[:], b)
	return h, nil
}

func (k *Key) has(scope string) bool {
	return slices.Contains(k.Scopes, scope) || scope == ScopeRead && slices.Contains(k.Scopes, ScopeAdmin)
}

// mayUse is submission's rule: any sender when AllowedSenders is empty,
// else an exact address or "@domain" match, case-insensitive.
func (k *Key) mayUse(sender string) bool {
	if len(k.AllowedSenders) == 0 {
		return true
	}
	at := strings.LastIndexByte(sender, '@')
	for _, a := range k.AllowedSenders {
		if strings.EqualFold(a, sender) || at >= 0 && strings.HasPrefix(a, "@") && strings.EqualFold(a, sender[at:]) {
			return true
		}
	}
	return false
}

// scope is the idempotency scope of the key: its hash.
func (k *Key) scope() string { return hex.EncodeToString(k.Hash[:]) }

// authenticate finds the bearer key: 401 when missing or unknown, 429 when
// its bucket is empty. The key's SHA-256 is what is looked up, so the
// lookup's timing says nothing about the stored hashes' preimages.
func (s *Server) authenticate(r *http.Request) (*Key, *Problem) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return nil, &Problem{Type: typeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "Authorization: send \"Bearer <API key>\""}
	}
	k := (*s.keys.Load())[sha256.Sum256([]byte(strings.TrimSpace(tok)))]
	if k == nil {
		return nil, &Problem{Type: typeUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "Authorization: unknown API key"}
	}
	if wait := s.limits.take(k.Hash); wait > 0 {
		return nil, &Problem{Type: typeRateLimited, Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("this API key is over its rate limit; retry after %d s", secondsUp(wait)), retryAfter: secondsUp(wait)}
	}
	return k, nil
}

func secondsUp(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// limiter is a token bucket per key: rate tokens a second, up to burst.
type limiter struct {
	rate  float64 // 0: no limit
	burst float64
	clock clock.Clock

	mu      sync.Mutex
	buckets map[[32]byte]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends a token, or says how long until one is there.
func (l *limiter) take(key [32]byte) time.Duration {
	if l.rate <= 0 {
		return 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
