package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// Cookie names. The session cookie holds a random token; the login cookie
// carries the login form's CSRF token before there is a session.
const (
	sessionCookie = "mtaq_session"
	loginCookie   = "mtaq_login"
)

// sessionTTL: a console left open signs out after this much idleness.
const sessionTTL = 8 * time.Hour

type session struct {
	key     [32]byte // the API key's SHA-256: a reload that removes it ends the session
	user    string
	admin   bool // may change things; read-only otherwise
	csrf    string
	expires time.Time
}

type sessions struct {
	clock clock.Clock
	mu    sync.Mutex
	m     map[string]*session
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(key [32]byte, user string, admin bool) (string, *session) {
	now := s.clock.Now()
	ss := &session{key: key, user: user, admin: admin, csrf: token(), expires: now.Add(sessionTTL)}
	t := token()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m { // forget expired ones as new ones come
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[t] = ss
	return t, ss
}

// get returns the live session of r and extends it; nil when none.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[c.Value]
	if ss == nil || now.After(ss.expires) {
		delete(s.m, c.Value)
		return nil
	}
	ss.expires = now.Add(sessionTTL)
	return ss
}

// setAdmin replaces r's session with one of the given power (sessions are
// shared between requests: never change one in place).
func (s *sessions) setAdmin(r *http.Request, admin bool) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m[c.Value]
	if old == nil {
		return nil
	}
	ns := *old
	ns.admin = admin
	s.m[c.Value] = &ns
	return &ns
}

func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
}

// sameToken compares CSRF tokens in constant time.
func sameToken(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// loginLimiter is a token bucket per client IP for login attempts, so a
// key cannot be guessed at speed through the form.
type loginLimiter struct {
	rate  float64 // attempts per second
	burst float64
	clock clock.Clock

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// take spends one attempt of ip's; false when none is left.
func (l *loginLimiter) take(ip string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) > 10000 { // bounded memory under a spray of addresses
			for k, v := range l.buckets {
				if now.Sub(v.at).Seconds()*l.rate >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
