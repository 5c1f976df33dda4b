// Package proxylisten puts the PROXY protocol (v1 and v2, as HAProxy sends
// it) on a listener behind a load balancer, with
// github.com/pires/go-proxyproto as the parser. It owns one decision: whose
// PROXY header is believed. It does not apply limits, trust or relay rules:
// the servers above it (submission, httpapi) see the client's address as
// the connection's RemoteAddr and apply theirs to it.
//
// Invariants:
//
//	P1 a header is read only from a peer in Networks, and every such peer
//	   must send one: a connection from a load balancer without a header
//	   (or with a broken one, or none within HeaderTimeout) is closed
//	   before any byte of the protocol above is exchanged.
//	P2 a peer outside Networks is served as itself: nothing it sends is
//	   parsed as a header, so a PROXY line from it is a bad command to the
//	   server above, never an address.
//	P3 headers are read off the accept loop: a slow load balancer
//	   connection holds one goroutine for at most HeaderTimeout, never
//	   Accept.
package proxylisten

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
	"go.uber.org/zap"
)

// Options configure Wrap.
type Options struct {
	// Networks are the load balancers' addresses (proxy_networks).
	Networks []netip.Prefix
	// HeaderTimeout bounds the wait for the header (default 5s).
	HeaderTimeout time.Duration
	Logger        *zap.Logger // default zap.NewNop
}

// maxHandshakes bounds headers being read at once (P3); past it the accept
// loop waits and new connections wait in the kernel's backlog.
const maxHandshakes = 256

// Listener is a net.Listener whose connections from Networks carry the
// client's address from their PROXY header.
type Listener struct {
	net.Listener
	o       Options
	log     *zap.Logger
	ready   chan accepted
	slots   chan struct{}
	closed  chan struct{}
	closeMu sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// Wrap starts accepting on l. With no Networks it returns l unchanged.
func Wrap(l net.Listener, o Options) net.Listener {
	if len(o.Networks) == 0 {
		return l
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	p := &Listener{Listener: l, o: o, log: o.Logger.Named("proxy"), ready: make(chan accepted),
		slots: make(chan struct{}, maxHandshakes), closed: make(chan struct{})}
	go p.acceptLoop()
	return p
}

// Accept returns the next connection: one from outside Networks as it is,
// one from a load balancer once its header was read.
func (p *Listener) Accept() (net.Conn, error) {
	select {
	case a := <-p.ready:
		return a.c, a.err
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; headers being read are abandoned.
func (p *Listener) Close() error {
	var err error
	p.closeMu.Do(func() {
		close(p.closed)
		err = p.Listener.Close()
	})
	return err
}

func (p *Listener) acceptLoop() {
	for {
		c, err := p.Listener.Accept()
		if err != nil {
			// The server's Accept caller decides (go-smtp and net/http
			// back off on temporary errors); a closed listener ends here.
			if !p.hand(accepted{err: err}) || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !p.fromBalancer(c) {
			if !p.hand(accepted{c: c}) {
				c.Close()
				return
			}
			continue
		}
		select {
		case p.slots <- struct{}{}:
		case <-p.closed:
			c.Close()
			return
		}
		go func() {
			defer func() { <-p.slots }()
			pc, err := p.readHeader(c)
			if err != nil {
				p.refused(c, err)
				c.Close()
				return
			}
			if !p.hand(accepted{c: pc}) {
				pc.Close()
			}
		}()
	}
}

// hand passes a to Accept; false once the listener is closed.
func (p *Listener) hand(a accepted) bool {
	select {
	case p.ready <- a:
		return true
	case <-p.closed:
		return false
	}
}

func (p *Listener) fromBalancer(c net.Conn) bool {
	ta, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := ta.AddrPort().Addr().Unmap()
	for _, n := range p.o.Networks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// errNoHeader is a load balancer's connection that did not start with a
// PROXY header (P1).
var errNoHeader = errors.New("no PROXY protocol header from a proxy_networks peer")

func (p *Listener) readHeader(c net.Conn) (net.Conn, error) {
	br := bufio.NewReaderSize(c, 256) // a v1 line is at most 107 bytes
	h, err := proxyproto.ReadHeaderTimeout(c, br, p.o.HeaderTimeout)
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return nil, errNoHeader
	case err != nil:
		return nil, err
	}
	pc := &Conn{Conn: c, r: br}
	// LOCAL (the balancer's own health check) and UNKNOWN/UNSPEC carry no
	// client: the spec says to use the connection's own addresses.
	if h.Command.IsProxy() {
		if src, _, ok := h.TCPAddrs(); ok {
			pc.remote = src
		}
	}
	return pc, nil
}

// refused logs a load balancer connection closed for its header. One that
// closed without sending a byte is a TCP health check, logged at debug.
func (p *Listener) refused(c net.Conn, err error) {
	lvl := zap.WarnLevel
	if errors.Is(err, io.EOF) || errors.Is(err, errNoHeader) && closedEmpty(c) {
		lvl = zap.DebugLevel
	}
	p.log.Log(lvl, "connection refused: PROXY header", zap.Stringer("peer", c.RemoteAddr()), zap.Error(err))
}

// closedEmpty is true when the peer has closed without sending anything
// (the header read saw EOF at the first byte, which proxyproto reports as
// ErrNoProxyProtocol).
func closedEmpty(c net.Conn) bool {
	c.SetReadDeadline(time.Unix(1, 0)) // already past: reads only what is there
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// Conn is a load balancer's connection after its header: RemoteAddr is
// the client the header named, reads start with the bytes read past it.
type Conn struct {
	net.Conn
	r      *bufio.Reader // nil once drained
	remote net.Addr      // nil: the socket's own (LOCAL, UNKNOWN)
}

// RemoteAddr is the client's address from the header.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// ProxyAddr is the load balancer's address (the socket's peer).
func (c *Conn) ProxyAddr() net.Addr { return c.Conn.RemoteAddr() }

// Read serves what the header read buffered first; like any net.Conn,
// it is called from one goroutine at a time.
func (c *Conn) Read(b []byte) (int, error) {
	if c.r != nil && c.r.Buffered() > 0 {
		return c.r.Read(b) // only what is buffered: never blocks on the socket
	}
	c.r = nil
	return c.Conn.Read(b)
}

// CloseWrite half-closes a TCP connection (submission's 421 refusals).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
