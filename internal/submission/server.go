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
//	S3 only clients in Trusted (or, later, authenticated ones) may name a
//	   recipient: there is no open relay.
//	S4 stored bodies have CRLF line endings only and no NUL bytes.
//	S5 memory per connection is bounded by MaxMessageBytes.
package submission

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
)

// Store is the part of queue.Store that submission uses.
type Store interface {
	Enqueue(ctx context.Context, m *queue.Message, body []byte) error
	Suppression(ctx context.Context, addr string, now time.Time) (*queue.Suppression, error)
}

// Options configure a Server. Zero durations and limits take the defaults
// noted; Hostname, Listen and Store are required.
type Options struct {
	Hostname        string
	Listen          []string
	Trusted         []netip.Prefix // clients that may relay without AUTH
	MaxMessageBytes int64          // default 25 MiB
	MaxRecipients   int            // default 1000
	Store           Store
	Clock           clock.Clock // default clock.Real
	Logger          *zap.Logger // default zap.NewNop
	// OnQueued wakes the scheduler after a message is committed; may be nil.
	OnQueued func(id string)
	// ReadTimeout is an idle timeout, renewed on every read, DATA included
	// (default 5m). WriteTimeout bounds each reply (default 1m).
	ReadTimeout, WriteTimeout time.Duration
	// RefuseSuppressed answers 550 5.7.1 at RCPT for a suppressed address
	// (on_suppressed = "refuse") instead of recording it as rejected.
	RefuseSuppressed bool
	// MaxReceived is the most Received: fields a message may already carry
	// (default 100); more means a mail loop.
	MaxReceived int
	// NewID, when set, names the message before Enqueue so the Received
	// field can carry the queue ID; otherwise Enqueue assigns it.
	NewID func(now time.Time) string
}

// maxLineLength is go-smtp's limit for commands and DATA lines. It is above
// RFC 5321's 1000 because apps send long unwrapped HTML lines; delivery
// folds them.
const maxLineLength = 8192

// Server is the submission SMTP server.
type Server struct {
	opts   Options
	log    *zap.Logger
	srv    *smtp.Server
	ctx    context.Context // cancelled when the server stops
	cancel context.CancelFunc

	mu    sync.Mutex
	lns   []*idleListener
	serve sync.WaitGroup
}

// New checks opts, fills defaults and builds the server; Start listens.
func New(opts Options) (*Server, error) {
	if opts.Hostname == "" || len(opts.Listen) == 0 || opts.Store == nil {
		return nil, errors.New("submission: Hostname, Listen and Store are required")
	}
	setDefaults(&opts)
	s := &Server{opts: opts, log: opts.Logger.Named("submission")}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(backend{s}) // a zero smtp.Server panics
	srv.Domain = opts.Hostname
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxMessageBytes = opts.MaxMessageBytes // advertised as SIZE, checks SIZE=
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = opts.ReadTimeout // idleConn applies it to every read
	srv.WriteTimeout = opts.WriteTimeout
	srv.EnableSMTPUTF8 = true // 8BITMIME is always advertised by go-smtp v0.25
	srv.ErrorLog = zapPrintf{s.log}
	s.srv = srv
	return s, nil
}

func setDefaults(o *Options) {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 25 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 1000
	}
	if o.MaxReceived <= 0 {
		o.MaxReceived = 100
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
}

// Start listens on every address, then serves in the background. If one
// address fails, the ones already opened are closed again.
func (s *Server) Start() error {
	var lns []*idleListener
	for _, addr := range s.opts.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("submission: listen on %s: %w", addr, err)
		}
		lns = append(lns, newIdleListener(ln, s.opts.ReadTimeout))
	}
	s.mu.Lock()
	s.lns = append(s.lns, lns...)
	s.mu.Unlock()
	for _, l := range lns {
		s.serve.Add(1)
		go func() {
			defer s.serve.Done()
			// Shutdown closes the listener: that ends Serve, it is no fault.
			if err := s.srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.log.Error("serve", zap.Stringer("addr", l.Addr()), zap.Error(err))
			}
		}()
		s.log.Info("listening", zap.Stringer("addr", l.Addr()))
	}
	return nil
}

// Addrs returns the addresses listened on (useful with port 0).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.lns))
	for i, l := range s.lns {
		out[i] = l.Addr()
	}
	return out
}

// Shutdown stops accepting, lets sessions finish until ctx ends, then closes
// the rest. go-smtp's Close is a no-op after Shutdown, so the connections are
// closed through our listener wrapper.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	err := s.srv.Shutdown(ctx)
	if err != nil && ctx.Err() != nil {
		s.closeConns()
	}
	s.cancel()
	s.serve.Wait()
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
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
	for _, l := range s.lns {
		l.Close()
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lns {
		l.closeConns()
	}
}

// backend makes sessions; a session is created at the client's first EHLO.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return b.s.newSession(c), nil
}

// zapPrintf routes go-smtp's internal log lines to zap.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, v ...any) { z.l.Warn(fmt.Sprintf(format, v...)) }
func (z zapPrintf) Println(v ...any)               { z.l.Warn(fmt.Sprint(v...)) }

// idleListener wraps accepted connections in idleConn and remembers them,
// so Shutdown can close sessions go-smtp would wait on forever.
type idleListener struct {
	net.Listener
	timeout time.Duration

	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*idleConn]struct{}
}

func newIdleListener(l net.Listener, timeout time.Duration) *idleListener {
	return &idleListener{Listener: l, timeout: timeout, conns: map[*idleConn]struct{}{}}
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ic := &idleConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[ic] = struct{}{}
	l.mu.Unlock()
	return ic, nil
}

// Close is idempotent: both we and go-smtp close the listener.
func (l *idleListener) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.Listener.Close() })
	return err
}

func (l *idleListener) closeConns() {
	l.mu.Lock()
	conns := make([]*idleConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// idleConn renews the read deadline before every Read, turning go-smtp's
// whole-DATA ReadTimeout into an idle timeout. A timeout is sticky: every
// later Read fails at once, so after the 451 reply go-smtp closes the
// connection instead of reading the rest of the body as commands.
type idleConn struct {
	net.Conn
	l        *idleListener
	timedOut atomic.Pointer[error]
	once     sync.Once
}

func (c *idleConn) Read(b []byte) (int, error) {
	if e := c.timedOut.Load(); e != nil {
		return 0, *e
	}
	// Socket deadlines are kernel wall-clock time; a fake clock can't drive them.
	if err := c.Conn.SetReadDeadline(clock.Real{}.Now().Add(c.l.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if isTimeout(err) {
		c.timedOut.Store(&err)
	}
	return n, err
}

// SetReadDeadline is ignored: go-smtp sets one per command, idleConn sets
// one per read, and the later one must win.
func (c *idleConn) SetReadDeadline(time.Time) error { return nil }

func (c *idleConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
