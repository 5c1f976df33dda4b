package submission

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
)

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
	l      *idleListener
	sticky atomic.Pointer[error] // once set, every Read fails with it
	once   sync.Once
}

func (c *idleConn) Read(b []byte) (int, error) {
	if e := c.sticky.Load(); e != nil {
		return 0, *e
	}
	// Socket deadlines are kernel wall-clock time; a fake clock can't drive them.
	if err := c.Conn.SetReadDeadline(clock.Real{}.Now().Add(c.l.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if isTimeout(err) {
		c.sticky.Store(&err)
	}
	return n, err
}

// endAfterReply makes the next Read fail as if the client had gone, so
// go-smtp closes the connection right after writing the reply in hand
// (a 421 after too many failed AUTHs).
func (c *idleConn) endAfterReply() {
	err := net.ErrClosed
	c.sticky.CompareAndSwap(nil, &err)
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
