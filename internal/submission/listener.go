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
	timeout  time.Duration
	limit    *connLimit
	hostname string
	tls      *tls.Config   // implicit TLS only: the 421 is sent under TLS
	refusing chan struct{} // bounds the goroutines writing 421s

	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*idleConn]struct{}
}

func newIdleListener(l net.Listener, timeout time.Duration, limit *connLimit, hostname string) *idleListener {
	return &idleListener{Listener: l, timeout: timeout, limit: limit, hostname: hostname,
		refusing: make(chan struct{}, maxRefusing), conns: map[*idleConn]struct{}{}}
}

// Errors of connLimit.acquire, answered by refuse.
var (
	errTooManyFromIP = errors.New("too many connections from one address")
	errTooManyConns  = errors.New("too many connections")
)

const (
	maxRefusing   = 256             // 421s being written at once; beyond, just close
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
		if err := l.limit.acquire(ip); err != nil {
			l.refuse(c, err)
			continue
		}
		ic := &idleConn{Conn: c, l: l, ip: ip}
		l.mu.Lock()
		l.conns[ic] = struct{}{}
		l.mu.Unlock()
		return ic, nil
	}
}

// refuse answers a connection over a limit with a 421 and closes it, in
// the background so a slow client cannot stall Accept.
func (l *idleListener) refuse(c net.Conn, why error) {
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close() // a flood: no reply is cheaper than a goroutine each
		return
	}
	msg := "421 4.3.2 " + l.hostname + " Too many connections, try again later\r\n"
	if errors.Is(why, errTooManyFromIP) {
		msg = "421 4.7.0 " + l.hostname + " Too many connections from your address, try again later\r\n"
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		c.SetDeadline(clock.Real{}.Now().Add(refuseTimeout))
		w := c
		if l.tls != nil {
			tc := tls.Server(c, l.tls)
			if tc.Handshake() != nil {
				return
			}
			w = tc
		}
		if _, err := io.WriteString(w, msg); err != nil {
			return
		}
		// Half-close, then drain what the client already sent: closing
		// with unread input sends a RST, which can destroy the 421 before
		// the client reads it.
		if tc, ok := c.(*net.TCPConn); ok && l.tls == nil {
			tc.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(w, 64<<10))
	}()
}

// Close is idempotent: both we and go-smtp close the listener.
func (l *idleListener) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.Listener.Close() })
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
// whole-DATA ReadTimeout into an idle timeout. A timeout is sticky: every
// later Read fails at once, so after the 451 reply go-smtp closes the
// connection instead of reading the rest of the body as commands.
type idleConn struct {
	net.Conn
	l        *idleListener
	ip       netip.Addr            // the key of its connLimit slot
	sticky   atomic.Pointer[error] // once set, every Read fails with it
	inBDAT   atomic.Bool           // a BDAT transaction is under way
	inData   atomic.Bool           // Data is running: reading or committing a body
	eof      atomic.Bool           // the client has half-closed or gone
	stopping atomic.Bool           // the server is shutting down: see stop
	once     sync.Once
}

func (c *idleConn) Read(b []byte) (int, error) {
	if e := c.sticky.Load(); e != nil {
		return 0, *e
	}
	if c.stopping.Load() {
		return 0, c.stopped()
	}
	// Socket deadlines are kernel wall-clock time; a fake clock can't drive them.
	if err := c.Conn.SetReadDeadline(clock.Real{}.Now().Add(c.l.timeout)); err != nil {
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

func (c *idleConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Equal(b, handshakeFailed) {
		c.endAfterReply()
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
		c.l.limit.release(c.ip)
	})
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
