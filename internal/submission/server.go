// Package submission owns the SMTP listener that applications hand mail to:
// relay control, limits, address checks, the suppression check at RCPT and
// the enqueue. It does not deliver; it answers 250 only after the queue has
// durably committed the message.
//
// Invariants:
//
//	S1 a 2xx reply to DATA means Store.Enqueue returned nil.
//	S2 storage trouble is answered 4xx, never 5xx, and internal error text
//	   never reaches the client.
//	S3 only clients in Trusted or authenticated ones may name a recipient:
//	   there is no open relay. AUTH is offered and accepted only under TLS.
//	S4 stored bodies have CRLF line endings only and no NUL bytes.
//	S5 a body being received holds at most SpoolThreshold bytes of memory
//	   (the rest is spooled to disk) and is copied into memory whole once,
//	   to be committed; the bytes of all bodies held, in memory or on
//	   disk, stay within MaxBytesInFlight.
//	S6 open connections are bounded in total and per client address, and
//	   untrusted unauthenticated ones also in all, per address and per
//	   network, below the total; every connection over a limit gets a 421
//	   and is closed before any SMTP session.
//	S7 a session lasts at most MaxSessionDuration, and only progress
//	   towards a message renews its idle timer.
package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/proxylisten"
)

// Options configure a Server. Zero durations and limits take the defaults
// noted; Hostname, Intake (or Store) and at least one listener are
// required.
type Options struct {
	// Intake checks and queues every message, as for every other way in
	// (the daemon shares one). When nil, New makes one from Store, Clock,
	// Logger, the limits, MaxReceived, RefuseSuppressed, OnQueued and
	// NewID: for tests and programs that embed only this server.
	Intake          *intake.Intake
	Store           intake.Store
	Hostname        string
	Listen          []string       // plain SMTP: no STARTTLS, no AUTH
	Trusted         []netip.Prefix // clients that may relay without AUTH
	MaxMessageBytes int64          // default 25 MiB
	MaxRecipients   int            // default 1000
	Clock           clock.Clock    // default clock.Real
	Logger          *zap.Logger    // default zap.NewNop
	// OnQueued wakes the scheduler after a message is committed; may be nil.
	OnQueued func(id string)
	// OnAccepted, when set, hears each accepted message's latency from
	// the end of DATA to the 250 (metrics).
	OnAccepted func(latency time.Duration)
	// ReadTimeout is an idle timeout, renewed on every read, DATA included
	// (default 5m). WriteTimeout bounds each reply (default 1m).
	ReadTimeout, WriteTimeout time.Duration
	// RefuseSuppressed answers 550 5.7.1 at RCPT for a suppressed address
	// (on_suppressed = "refuse") instead of recording it as rejected.
	RefuseSuppressed bool
	// MaxReceived is the most Received: fields a message may already carry
	// (intake's default, 30); more means a mail loop.
	MaxReceived int
	// NewID, when set, names the message before Enqueue so the Received
	// field can carry the queue ID; otherwise Enqueue assigns it.
	NewID func(now time.Time) string
	// SubmissionListen offer STARTTLS (port 587); SMTPSListen speak TLS
	// from the first byte (port 465). On both, AUTH is offered under TLS
	// and clients outside Trusted must authenticate before MAIL. Both need
	// TLS.
	SubmissionListen, SMTPSListen []string
	TLS                           *tls.Config
	Users                         []User
	// AuthMaxFailures failed AUTHs end a connection (default 3);
	// AuthIPFailures from one IP (IPv6: one /64) within AuthIPWindow
	// refuse AUTH from it until they age out (default 10 in 15m).
	AuthMaxFailures, AuthIPFailures int
	AuthIPWindow                    time.Duration
	// MaxConnections is the most open connections over all listeners
	// (default 1000), MaxConnectionsPerIP the most from one client IP
	// (IPv6: one /64; default 100). Negative means no limit. Over a limit
	// the connection gets a 421 and is closed before any SMTP session.
	MaxConnections, MaxConnectionsPerIP int
	// MaxConnectionsUntrusted caps connections from outside Trusted that
	// have not authenticated (default half of MaxConnections, or 500 when
	// that has no limit); the rest of MaxConnections is kept for trusted
	// and authenticated clients (a session that authenticates leaves the
	// untrusted count). MaxConnectionsUntrustedPerIP (default 10) and
	// MaxConnectionsUntrustedPerNet (per /24, IPv6 /48; default 50) are
	// one untrusted client's and one network's share. Negative: no limit.
	MaxConnectionsUntrusted, MaxConnectionsUntrustedPerIP, MaxConnectionsUntrustedPerNet int
	// MaxSessionDuration is the longest a connection lasts, whatever it
	// sends (default 30m, negative: no limit); past it the next read ends
	// the session with a 421 4.4.2, or a 451 4.4.2 within a body.
	MaxSessionDuration time.Duration
	// Bodies over SpoolThreshold bytes (default 256 KiB) are written to a
	// temporary file (mode 0600) in SpoolDir while they are received, and
	// read back once, whole, to be committed; the file goes after the
	// commit or the abort. SpoolDir (default os.TempDir()) is created when
	// missing; when set, it must be mtaq's own: New removes files a crash
	// left in it. MaxBytesInFlight (default 512 MiB, negative: none) caps
	// the body bytes held by all transfers together, in memory or spooled;
	// a transfer that would pass it is answered 452 4.3.1.
	SpoolDir         string
	SpoolThreshold   int
	MaxBytesInFlight int64
	// ProxyNetworks, when set, puts the PROXY protocol on every listener
	// (internal/proxylisten): a connection from them must send a header,
	// and its client address is the one every check above sees (S3, S6,
	// AUTH failures, Received). Others are served as themselves.
	ProxyNetworks []netip.Prefix
}

// maxLineLength is go-smtp's limit for commands and DATA lines. It is above
// RFC 5321's 1000 because apps send long unwrapped HTML lines; delivery
// folds them.
const maxLineLength = 8192

// Kind is what a listener speaks.
type Kind int

const (
	Plain       Kind = iota // Options.Listen
	StartTLS                // Options.SubmissionListen
	ImplicitTLS             // Options.SMTPSListen
)

func (k Kind) String() string { return [...]string{"smtp", "submission", "smtps"}[k] }

// Server is the submission SMTP server.
type Server struct {
	opts   Options
	log    *zap.Logger
	in     *intake.Intake
	srvs   [3]*smtp.Server        // by Kind; nil when the kind has no listener
	users  atomic.Pointer[userDB] // replaced whole by SetUsers (reload)
	ipFail *failureLog
	conns  *connLimit
	// inFlight charges every body byte held from receipt to commit or abort.
	inFlight *byteBudget
	ctx      context.Context // cancelled when the server stops
	cancel   context.CancelFunc

	mu    sync.Mutex
	lns   [3][]*idleListener
	serve sync.WaitGroup
}

// New checks opts, fills defaults and builds the server; Start listens.
func New(opts Options) (*Server, error) {
	tlsListeners := len(opts.SubmissionListen)+len(opts.SMTPSListen) > 0
	if opts.Hostname == "" || len(opts.Listen) == 0 && !tlsListeners || opts.Store == nil && opts.Intake == nil {
		return nil, errors.New("submission: Hostname, a listener and Intake (or Store) are required")
	}
	if tlsListeners && opts.TLS == nil {
		return nil, errors.New("submission: SubmissionListen and SMTPSListen need TLS")
	}
	if opts.SpoolDir != "" {
		if err := cleanSpool(opts.SpoolDir); err != nil {
			return nil, err
		}
	}
	setDefaults(&opts)
	users, err := newUserDB(opts.Users)
	if err != nil {
		return nil, err
	}
	in := opts.Intake
	if in == nil {
		in = intake.New(intake.Options{Hostname: opts.Hostname, Store: opts.Store, Clock: opts.Clock,
			Logger: opts.Logger, MaxMessageBytes: opts.MaxMessageBytes, MaxRecipients: opts.MaxRecipients,
			MaxHops: opts.MaxReceived, RefuseSuppressed: opts.RefuseSuppressed, OnQueued: opts.OnQueued,
			NewID: opts.NewID})
	}
	s := &Server{opts: opts, log: opts.Logger.Named("submission"), in: in,
		ipFail: newFailureLog(opts.AuthIPFailures, opts.AuthIPWindow),
		conns: newConnLimit(connLimits{Total: opts.MaxConnections, PerIP: opts.MaxConnectionsPerIP,
			Untrusted: opts.MaxConnectionsUntrusted, UntrustedPerIP: opts.MaxConnectionsUntrustedPerIP,
			UntrustedPerNet: opts.MaxConnectionsUntrustedPerNet}),
		inFlight: &byteBudget{limit: opts.MaxBytesInFlight}}
	s.users.Store(users)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for k, addrs := range s.listenAddrs() {
		if len(addrs) > 0 {
			s.srvs[k] = s.newSMTPServer(Kind(k))
		}
	}
	return s, nil
}

func (s *Server) listenAddrs() [3][]string {
	return [3][]string{s.opts.Listen, s.opts.SubmissionListen, s.opts.SMTPSListen}
}

// newSMTPServer builds the go-smtp server of one kind. AllowInsecureAuth
// only hands the decision to the session: go-smtp would answer AUTH before
// TLS with a non-standard 523, the session answers 538 5.7.11 (RFC 4954)
// and advertises no mechanism without TLS.
func (s *Server) newSMTPServer(k Kind) *smtp.Server {
	opts := s.opts
	srv := smtp.NewServer(backend{s, k}) // a zero smtp.Server panics
	if k == StartTLS {
		srv.TLSConfig = opts.TLS // advertises STARTTLS
	}
	srv.AllowInsecureAuth = true
	srv.Domain = opts.Hostname
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxMessageBytes = opts.MaxMessageBytes // advertised as SIZE, checks SIZE=
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = opts.ReadTimeout // idleConn applies it to every read
	srv.WriteTimeout = opts.WriteTimeout
	srv.EnableSMTPUTF8 = true // 8BITMIME is always advertised by go-smtp v0.25
	srv.ErrorLog = zapPrintf{s.log}
	return srv
}

func setDefaults(o *Options) {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 1000
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.AuthMaxFailures <= 0 {
		o.AuthMaxFailures = 3
	}
	if o.AuthIPFailures <= 0 {
		o.AuthIPFailures = 10
	}
	if o.AuthIPWindow <= 0 {
		o.AuthIPWindow = 15 * time.Minute
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 1000
	}
	if o.MaxConnectionsPerIP == 0 {
		o.MaxConnectionsPerIP = 100
	}
	if o.MaxConnectionsUntrusted == 0 {
		o.MaxConnectionsUntrusted = 500
		if o.MaxConnections > 0 {
			o.MaxConnectionsUntrusted = max(1, o.MaxConnections/2)
		}
	}
	if o.MaxConnectionsUntrustedPerIP == 0 {
		o.MaxConnectionsUntrustedPerIP = 10
	}
	if o.MaxConnectionsUntrustedPerNet == 0 {
		o.MaxConnectionsUntrustedPerNet = 50
	}
	if o.MaxSessionDuration == 0 {
		o.MaxSessionDuration = 30 * time.Minute
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if o.SpoolThreshold <= 0 {
		o.SpoolThreshold = 256 << 10
	}
	if o.MaxBytesInFlight == 0 {
		o.MaxBytesInFlight = 512 << 20
	}
}

// Start listens on every address, then serves in the background. If one
// address fails, the ones already opened are closed again.
func (s *Server) Start() error {
	var lns [3][]*idleListener
	for k, addrs := range s.listenAddrs() {
		for _, addr := range addrs {
			ln, err := listenConfig.Listen(context.Background(), "tcp", addr)
			if err != nil {
				for _, l := range slices.Concat(lns[:]...) {
					l.Close()
				}
				return fmt.Errorf("submission: listen on %s (%s): %w", addr, Kind(k), err)
			}
			ln = proxylisten.Wrap(ln, proxylisten.Options{Networks: s.opts.ProxyNetworks, Logger: s.log})
			il := newIdleListener(ln, s)
			if Kind(k) == ImplicitTLS {
				il.tls = s.opts.TLS
			}
			lns[k] = append(lns[k], il)
		}
	}
	s.mu.Lock()
	for k := range lns {
		s.lns[k] = append(s.lns[k], lns[k]...)
	}
	s.mu.Unlock()
	for k := range lns {
		for _, l := range lns[k] {
			s.serveOn(Kind(k), l)
		}
	}
	return nil
}

// listenConfig turns TCP keepalive off on accepted connections: every
// read has a deadline (idleConn), so a vanished client is found without
// probes, and each connection costs four setsockopt calls fewer (Go's
// default keepalive sets four options on every accepted socket).
var listenConfig = net.ListenConfig{KeepAlive: -1}

func (s *Server) serveOn(k Kind, il *idleListener) {
	var l net.Listener = il
	if k == ImplicitTLS {
		l = tls.NewListener(il, s.opts.TLS) // go-smtp does the handshake first
	}
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		// Shutdown closes the listener: that ends Serve, it is no fault.
		if err := s.srvs[k].Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serve", zap.Stringer("addr", l.Addr()), zap.Error(err))
		}
	}()
	s.log.Info("listening", zap.Stringer("addr", l.Addr()), zap.Stringer("kind", k))
}

// Addrs returns the addresses listened on (useful with port 0): those of
// Listen, then SubmissionListen, then SMTPSListen, each in config order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range slices.Concat(s.lns[:]...) {
		out = append(out, l.Addr())
	}
	return out
}

// Shutdown stops accepting and lets sessions finish until ctx ends; then
// every remaining session ends with a 421 at its next read (a body being
// received is not committed), and what is left after shutdownGrace is
// closed. go-smtp's Close is a no-op after Shutdown, so the connections are
// closed through our listener wrapper.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	var err error
	for _, srv := range s.srvs {
		if srv == nil {
			continue
		}
		if e := srv.Shutdown(ctx); e != nil && !errors.Is(e, smtp.ErrServerClosed) && err == nil {
			err = e
		}
	}
	if err != nil && ctx.Err() != nil {
		// Past the deadline: each session ends at its next read with a
		// 421; a commit under way gets to write its 250 first.
		s.stopConns()
		wall := clock.Real{}
		for deadline := wall.Now().Add(shutdownGrace); s.openConns() > 0 && wall.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		s.closeConns()
	}
	s.cancel()
	s.serve.Wait()
	return err
}

// Close stops at once, dropping sessions in progress.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// closeListeners covers a Start racing a Shutdown: go-smtp only knows a
// listener once its Serve goroutine has run.
func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range slices.Concat(s.lns[:]...) {
		l.Close()
	}
}

// shutdownGrace bounds the wait, after Shutdown's deadline, for sessions to
// write their last reply (a commit under way, then the 421s).
const shutdownGrace = 5 * time.Second

func (s *Server) stopConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range slices.Concat(s.lns[:]...) {
		l.stopConns()
	}
}

func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range slices.Concat(s.lns[:]...) {
		n += l.open()
	}
	return n
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range slices.Concat(s.lns[:]...) {
		l.closeConns()
	}
}

// backend makes sessions of one listener kind; a session is created at the
// client's first EHLO, and again after STARTTLS.
type backend struct {
	s    *Server
	kind Kind
}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if badHelo(c.Hostname()) {
		return nil, errBadHelo
	}
	return b.s.newSession(c, b.kind), nil
}

// badHelo reports control characters in a HELO/EHLO argument: go-smtp
// echoes it in its 250, where a bare CR would break the reply.
func badHelo(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// zapPrintf routes go-smtp's internal log lines to zap.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, v ...any) { z.l.Warn(fmt.Sprintf(format, v...)) }
func (z zapPrintf) Println(v ...any)               { z.l.Warn(fmt.Sprint(v...)) }
