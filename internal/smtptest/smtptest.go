// Package smtptest runs programmable SMTP servers (go-smtp) that play remote
// mail exchangers in tests. Each server listens on a loopback "ip:port" of
// the test's choosing, so several can share one port on 127.0.0.2,
// 127.0.0.3, ... the way delivery dials every MX on one configured port.
//
// By default a server accepts everything and records each accepted message.
// Options replace the reply at the greeting, MAIL, each RCPT and DATA, and
// shape the server: STARTTLS or implicit TLS, AUTH, a recipient limit, an
// idle timeout, EHLO keywords hidden (a server without PIPELINING or
// 8BITMIME). A hook's 421 ends the session as a real server's does.
package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// ErrDrop, returned by a MAIL, RCPT or DATA hook, makes the server close the
// connection without replying.
var ErrDrop = errors.New("smtptest: drop connection")

// Received is one message the server accepted.
type Received struct {
	Helo string // the EHLO/HELO argument (the last one, after STARTTLS too)
	From string
	To   []string
	Data []byte
	TLS  bool // the transaction ran under STARTTLS

	Body string // the MAIL BODY= parameter ("8BITMIME"), "" when absent
	UTF8 bool   // MAIL had SMTPUTF8
	Size int64  // the MAIL SIZE= parameter, 0 when absent
	Auth string // the user name the session authenticated as, "" if none
	Conn int    // which connection (counting from 1) carried the message
	Peer string // the client's address (host:port): which source address it came from
}

// Option configures a Server.
type Option func(*config)

type config struct {
	greeting func(conn int) *smtp.SMTPError
	mail     func(from string) error
	rcpt     func(to string) error
	data     func(from string, to []string, data []byte) error
	tls      *tls.Config
	domain   string
	strip    []string // EHLO keywords hidden from clients
	maxRcpt  int
	users    map[string]string
	mechs    []string
	insecure bool
	implicit *tls.Config
	idle     time.Duration
}

// WithGreeting decides the greeting of the n-th connection (counting from
// 1). A non-nil reply is sent instead of the 220 banner and the connection is
// closed, like a server answering "421 4.7.0 try later".
func WithGreeting(f func(conn int) *smtp.SMTPError) Option {
	return func(c *config) { c.greeting = f }
}

// WithMail decides the reply to MAIL FROM: nil accepts, an *smtp.SMTPError
// is sent as is, ErrDrop closes the connection.
func WithMail(f func(from string) error) Option { return func(c *config) { c.mail = f } }

// WithRcpt decides the reply to each RCPT TO, as WithMail does.
func WithRcpt(f func(to string) error) Option { return func(c *config) { c.rcpt = f } }

// WithData decides the reply after the final dot, as WithMail does; a 2xx
// *smtp.SMTPError accepts with that reply. Only accepted messages are
// recorded.
func WithData(f func(from string, to []string, data []byte) error) Option {
	return func(c *config) { c.data = f }
}

// WithTLS offers STARTTLS with cfg.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithDomain sets the name in the banner and EHLO reply.
func WithDomain(d string) Option { return func(c *config) { c.domain = d } }

// WithoutExtension hides EHLO keywords (e.g. "PIPELINING", "8BITMIME")
// that go-smtp always offers, by dropping their lines from the EHLO reply
// on the way out. It works on plain-text connections only, and not for
// the last keyword of the reply (SIZE or LIMITS, never one of these).
func WithoutExtension(keywords ...string) Option {
	return func(c *config) { c.strip = append(c.strip, keywords...) }
}

// WithMaxRecipients makes the server answer "452 4.5.3" to RCPTs past n
// in one transaction (default 100).
func WithMaxRecipients(n int) Option { return func(c *config) { c.maxRcpt = n } }

// WithAuth offers AUTH PLAIN and LOGIN (only under TLS unless
// WithInsecureAuth) and accepts user with password; anything else gets
// "535 5.7.8". Authentication is not required to send.
func WithAuth(user, password string) Option {
	return func(c *config) {
		if c.users == nil {
			c.users = map[string]string{}
		}
		c.users[user] = password
	}
}

// WithInsecureAuth offers AUTH in plain text too.
func WithInsecureAuth() Option { return func(c *config) { c.insecure = true } }

// WithAuthMechanisms replaces the mechanisms WithAuth offers ("PLAIN",
// "LOGIN").
func WithAuthMechanisms(m ...string) Option { return func(c *config) { c.mechs = m } }

// WithImplicitTLS makes every connection TLS from the first byte (port
// 465 style) with cfg.
func WithImplicitTLS(cfg *tls.Config) Option { return func(c *config) { c.implicit = cfg } }

// WithIdleTimeout sets how long the server waits for a command line
// (default 10s); then it answers "421 4.4.2 Idle timeout" and closes.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// Greylist answers "451 4.7.1" to the first RCPT for each address and
// accepts it from then on.
func Greylist() Option {
	var mu sync.Mutex
	seen := map[string]bool{}
	return WithRcpt(func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if seen[to] {
			return nil
		}
		seen[to] = true
		return Reply(451, "4.7.1", "greylisted, try again later")
	})
}

// Reply builds the *smtp.SMTPError a hook returns, e.g.
// Reply(550, "5.1.1", "no such user"). enhanced may be "".
func Reply(code int, enhanced, text string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, Message: text, EnhancedCode: smtp.NoEnhancedCode}
	var a, b, c int
	if n, _ := fmt.Sscanf(enhanced, "%d.%d.%d", &a, &b, &c); n == 3 {
		e.EnhancedCode = smtp.EnhancedCode{a, b, c}
	}
	return e
}

// Server is a running SMTP server.
type Server struct {
	cfg  config
	srv  *smtp.Server
	addr string

	mu    sync.Mutex
	conns int
	msgs  []Received
	live  map[*numberedConn]bool
	peak  int // most sessions open at once since New or ResetPeak
}

// New starts a server on addr ("127.0.0.2:2525", or port 0 for any) and
// closes it when the test ends.
func New(t testing.TB, addr string, opts ...Option) *Server {
	t.Helper()
	s := &Server{cfg: config{domain: "mx.smtptest", maxRcpt: 100, mechs: []string{"PLAIN", "LOGIN"},
		idle: 10 * time.Second}, live: map[*numberedConn]bool{}}
	for _, o := range opts {
		o(&s.cfg)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", addr, err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(backend{s})
	srv.Domain = s.cfg.domain
	srv.TLSConfig = s.cfg.tls
	srv.EnableSMTPUTF8 = true
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = s.cfg.maxRcpt
	srv.AllowInsecureAuth = s.cfg.insecure
	srv.ReadTimeout = s.cfg.idle
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = discardLog{}
	s.srv = srv
	go func() { _ = srv.Serve(&listener{Listener: l, s: s}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Addr returns the "ip:port" the server listens on.
func (s *Server) Addr() string { return s.addr }

// Conns returns how many connections the server accepted, including those
// turned away at the greeting.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Sessions returns how many sessions are open now and the most that were
// open at once since the server started or ResetPeak: what a receiving
// server's per-client connection limit counts. A session counts from
// accept until the server closes it (after QUIT, or when the client's
// connection is gone).
func (s *Server) Sessions() (now, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live), s.peak
}

// ResetPeak starts a new peak from the sessions open now.
func (s *Server) ResetPeak() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = len(s.live)
}

// Messages returns a copy of the messages accepted so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// DropConns closes every open connection without a word, as a server
// that restarted or timed out idle clients silently; it keeps listening.
func (s *Server) DropConns() {
	s.mu.Lock()
	var cs []*numberedConn
	for c := range s.live {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

func (s *Server) record(m Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

type discardLog struct{}

func (discardLog) Printf(string, ...interface{}) {}
func (discardLog) Println(...interface{})        {}
