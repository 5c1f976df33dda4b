package submission

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

// idleListener wraps accepted connections in idleConn and remembers them,
// so Shutdown can close sessions go-smtp would wait on forever. It also
// applies the connection limits: a connection over one is answered 421 and
// closed here, and go-smtp never sees it.
type idleListener struct {
	net.Listener
	timeout  time.Duration // idle: see idleConn
	maxLife  time.Duration // a connection's whole life; below 1 none
	limit    *connLimit
	trusted  []netip.Prefix
	hostname string
	draining func() bool   // intake's: new connections get a 421 4.3.2
	tls      *tls.Config   // implicit TLS only: the 421 is sent under TLS
	refusing chan struct{} // bounds the goroutines finishing 421s
	closed   chan struct{} // closed by Close

	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*idleConn]struct{}
}

func newIdleListener(l net.Listener, s *Server) *idleListener {
	return &idleListener{Listener: l, timeout: s.opts.ReadTimeout, maxLife: s.opts.MaxSessionDuration,
		limit: s.conns, trusted: s.opts.Trusted, hostname: s.opts.Hostname, draining: s.in.Draining,
		refusing: make(chan struct{}, maxRefusing), closed: make(chan struct{}), conns: map[*idleConn]struct{}{}}
}

// Errors of connLimit.acquire, answered by refuse.
var (
	errTooManyFromIP  = errors.New("too many connections from one address")
	errTooManyFromNet = errors.New("too many connections from one network")
	errTooManyConns   = errors.New("too many connections")
	errDrainingConn   = errors.New("draining")
)

const (
	maxRefusing   = 256             // refused connections drained (or TLS handshakes) at once
	refuseTimeout = 5 * time.Second // for the TLS handshake, the write and the drain
)

func (l *idleListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.AddrPort().Addr().Unmap()
		}
		untrusted := !trustedIP(l.trusted, ip)
		if l.draining != nil && l.draining() {
			l.refuse(c, errDrainingConn) // before a slot: nothing to release
			continue
		}
		if err := l.limit.acquire(ip, untrusted); err != nil {
			l.refuse(c, err)
			continue
		}
		now := clock.Real{}.Now() // socket deadlines are wall-clock time
		ic := &idleConn{Conn: c, l: l, ip: ip, born: now}
		ic.untrusted.Store(untrusted)
		ic.lastProgress.Store(now.UnixNano())
		l.mu.Lock()
		l.conns[ic] = struct{}{}
		l.mu.Unlock()
		return ic, nil
	}
}

// refusal is the 421 for a refusal by connLimit.acquire.
func (l *idleListener) refusal(why error) string {
	switch {
	case errors.Is(why, errTooManyFromIP):
		return "421 4.7.0 " + l.hostname + " Too many connections from your address, try again later\r\n"
	case errors.Is(why, errTooManyFromNet):
		return "421 4.7.0 " + l.hostname + " Too many connections from your network, try again later\r\n"
	case errors.Is(why, errDrainingConn):
		return "421 4.3.2 " + l.hostname + " Service not available: this server is draining, try another\r\n"
	}
	return "421 4.3.2 " + l.hostname + " Too many connections, try again later\r\n"
}

// refuse answers a connection over a limit with a 421 and closes it. Every
// refused client gets the 421 (security issue 22: past 256 at once a
// flood used to be closed unanswered).
func (l *idleListener) refuse(c net.Conn, why error) {
	if l.tls == nil {
		l.refuseClear(c, l.refusal(why))
	} else {
		l.refuseTLS(c, l.refusal(why))
	}
}

// refuseClear writes the 421 at once (a fresh socket's buffer takes it
// without blocking) and closes the write side. Draining what the client
// sent, so the close sends no RST that could destroy the 421 unread, is
// done in the background while fewer than maxRefusing are.
func (l *idleListener) refuseClear(c net.Conn, msg string) {
	c.SetWriteDeadline(clock.Real{}.Now().Add(100 * time.Millisecond))
	_, err := io.WriteString(c, msg)
	if cw, ok := c.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite() // *net.TCPConn, or proxylisten's
	}
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetReadDeadline(clock.Real{}.Now().Add(refuseTimeout))
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// refuseTLS needs a handshake before the 421, in the background; past
// maxRefusing at once Accept waits for one to end, so new connections
// wait in the backlog instead of being closed unanswered.
func (l *idleListener) refuseTLS(c net.Conn, msg string) {
	select {
	case l.refusing <- struct{}{}:
	case <-l.closed:
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetDeadline(clock.Real{}.Now().Add(refuseTimeout))
		tc := tls.Server(c, l.tls)
		if tc.Handshake() != nil {
			return
		}
		if _, err := io.WriteString(tc, msg); err != nil {
			return
		}
		tc.CloseWrite() // close_notify: the client reads the 421, then EOF
		io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
	}()
}

// Close is idempotent: both we and go-smtp close the listener.
func (l *idleListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		err = l.Listener.Close()
	})
	return err
}

func (l *idleListener) closeConns() {
	for _, c := range l.snapshot() {
		c.Close()
	}
}

// stopConns makes every session end at its next read with a 421 (see stop).
func (l *idleListener) stopConns() {
	for _, c := range l.snapshot() {
		c.stop()
	}
}

func (l *idleListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *idleListener) snapshot() []*idleConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	conns := make([]*idleConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	return conns
}

// idleConn renews the read deadline before every Read, turning go-smtp's
// whole-DATA ReadTimeout into an idle timeout. Only progress renews it
// (see session.progress; every read of a body counts), and no read goes
// past the connection's maximum life, so NOOPs keep no session open
// (security issue 22). A timeout is sticky: every later Read fails at
// once, so after the 451 reply go-smtp closes the connection instead of
// reading the rest of the body as commands.
type idleConn struct {
	net.Conn
	l            *idleListener
	ip           netip.Addr            // the key of its connLimit slot
	born         time.Time             // wall clock, as socket deadlines
	lastProgress atomic.Int64          // unix nanoseconds, wall clock
	untrusted    atomic.Bool           // its slot counts in the untrusted share
	sticky       atomic.Pointer[error] // once set, every Read fails with it
	inBDAT       atomic.Bool           // a BDAT transaction is under way
	inData       atomic.Bool           // Data is running: reading or committing a body
	inBody       atomic.Bool           // from Data's start until the session's Reset: go-smtp drains a refused body in between
	eof          atomic.Bool           // the client has half-closed or gone
	stopping     atomic.Bool           // the server is shutting down: see stop
	once         sync.Once
	held         []byte // continuation lines of a reply not yet sent: see Write
}

// progress renews the idle timer.
func (c *idleConn) progress() { c.lastProgress.Store(clock.Real{}.Now().UnixNano()) }

// promote takes the connection out of the untrusted share (it has
// authenticated), once.
func (c *idleConn) promote() {
	if c.untrusted.CompareAndSwap(true, false) {
		c.l.limit.promote(c.ip)
	}
}

// deadline is the next read's: the idle timeout after the last progress,
// or after now while a body is read (or drained after a refusal), and
// never past the maximum life.
func (c *idleConn) deadline() time.Time {
	now := clock.Real{}.Now()
	if c.inBody.Load() {
		c.lastProgress.Store(now.UnixNano())
	}
	d := time.Unix(0, c.lastProgress.Load()).Add(c.l.timeout)
	if c.l.maxLife > 0 {
		if end := c.born.Add(c.l.maxLife); end.Before(d) {
			d = end
		}
	}
	return d
}

func (c *idleConn) Read(b []byte) (int, error) {
	if e := c.sticky.Load(); e != nil {
		return 0, *e
	}
	if c.stopping.Load() {
		return 0, c.stopped()
	}
	// Socket deadlines are kernel wall-clock time; a fake clock can't drive them.
	if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	if c.stopping.Load() { // stop ran before the renewal above undid its deadline
		return 0, c.stopped()
	}
	n, err := c.Conn.Read(b)
	if c.stopping.Load() && isTimeout(err) {
		return n, c.stopped()
	}
	if errors.Is(err, io.EOF) {
		c.eof.Store(true)
	}
	if isTimeout(err) {
		c.sticky.Store(&err)
		if c.inBDAT.Load() {
			// go-smtp reads BDAT chunks itself and would answer a plain
			// error with a 554 carrying its text: a timeout is a 451.
			return n, errDataTimeout
		}
	}
	return n, err
}

// stop ends the session at its next read, waking a read in progress: a
// body being read fails with 421 4.3.2 (nothing is committed) and the
// connection closes after that reply; a session between commands gets
// go-smtp's 421 for a timeout. A body already read is committed and
// answered first, so every client ends with a 250 or a 421.
func (c *idleConn) stop() {
	c.stopping.Store(true)
	c.Conn.SetReadDeadline(clock.Real{}.Now())
}

func (c *idleConn) stopped() error {
	closed := net.ErrClosed
	if c.inData.Load() {
		c.sticky.Store(&closed) // the 421 is the last reply
		return errShuttingDown
	}
	timeout := error(os.ErrDeadlineExceeded)
	c.sticky.Store(&timeout)
	return timeout
}

// endAfterReply makes the next Read fail as if the client had gone, so
// go-smtp closes the connection right after writing the reply in hand
// (a 421 after too many failed AUTHs).
func (c *idleConn) endAfterReply() {
	err := net.ErrClosed
	c.sticky.CompareAndSwap(nil, &err)
}

// handshakeFailed is go-smtp's reply when the STARTTLS handshake fails.
// The session would go on in clear, reading whatever follows as commands
// (perhaps injected ones), so the connection ends after it.
var handshakeFailed = []byte("550 5.0.0 Handshake error\r\n")

// Write sends b, except a continuation line of a multi-line reply
// ("250-PIPELINING\r\n"), which is held and sent with the reply's last
// line: go-smtp writes (and flushes) each line on its own, and an EHLO
// reply would cost eight system calls instead of one. go-smtp writes a
// reply's lines one after the other from the session's goroutine, so the
// last line always follows; a TLS record never starts with a digit, so
// nothing is held once STARTTLS has wrapped this connection.
func (c *idleConn) Write(b []byte) (int, error) {
	if continuation(b) && len(c.held)+len(b) <= maxHeld {
		if c.held == nil {
			c.held = make([]byte, 0, 512) // once per connection
		}
		c.held = append(c.held, b...)
		return len(b), nil
	}
	n, err := c.write(b)
	if bytes.Equal(b, handshakeFailed) {
		c.endAfterReply()
	}
	return n, err
}

// maxHeld bounds the continuation lines held (an EHLO reply is ~150 bytes).
const maxHeld = 4096

// write sends the held lines and b in one call; n counts b's bytes only.
func (c *idleConn) write(b []byte) (int, error) {
	if len(c.held) == 0 {
		return c.Conn.Write(b)
	}
	held := len(c.held)
	c.held = append(c.held, b...)
	n, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	return max(n-held, 0), err
}

// continuation reports whether b is one reply line "ddd-...CRLF".
func continuation(b []byte) bool {
	return len(b) >= 6 && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && b[3] == '-' &&
		bytes.IndexByte(b, '\n') == len(b)-1 && b[len(b)-2] == '\r'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// SetReadDeadline is ignored: go-smtp sets one per command, idleConn sets
// one per read, and the later one must win.
func (c *idleConn) SetReadDeadline(time.Time) error { return nil }

func (c *idleConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.limit.release(c.ip, c.untrusted.Swap(false))
	})
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
