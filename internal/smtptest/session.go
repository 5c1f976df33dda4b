package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

// listener counts connections and plays the greeting hook: a connection
// given a non-2xx greeting never reaches go-smtp, which always sends 220.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.mu.Lock()
		l.s.conns++
		n := l.s.conns
		l.s.mu.Unlock()
		var r *smtp.SMTPError
		if l.s.cfg.greeting != nil {
			r = l.s.cfg.greeting(n)
		}
		if r == nil {
			return l.s.track(&numberedConn{Conn: c, n: n, strip: l.s.cfg.strip, s: l.s}), nil
		}
		go refuse(c, r)
	}
}

// refuse sends reply r as the greeting and closes c.
func refuse(c net.Conn, r *smtp.SMTPError) {
	defer c.Close()
	line := fmt.Sprintf("%03d %s\r\n", r.Code, r.Message)
	if r.EnhancedCode != smtp.NoEnhancedCode && r.EnhancedCode != smtp.EnhancedCodeNotSet {
		e := r.EnhancedCode
		line = fmt.Sprintf("%03d %d.%d.%d %s\r\n", r.Code, e[0], e[1], e[2], r.Message)
	}
	_, _ = io.WriteString(c, line)
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	n := 0
	if numbered, ok := nc.(*numberedConn); ok {
		n = numbered.n
	}
	return &session{s: b.s, c: c, conn: n}, nil
}

type session struct {
	s       *Server
	c       *smtp.Conn
	conn    int
	from    string
	to      []string
	opts    smtp.MailOptions
	user    string
	closing bool // a hook answered 421: the connection is over
}

// hook runs f's verdict: ErrDrop closes the connection under go-smtp, which
// then fails to write its reply, as a crashed peer would. After a 421 the
// server takes no more commands: the next one (pipelined clients send
// them before reading the 421) closes the connection without a reply.
func (ss *session) hook(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 421 {
		ss.closing = true
	}
	if err == ErrDrop {
		_ = ss.c.Conn().Close()
	}
	return err
}

// over closes a connection that answered 421.
func (ss *session) over() bool {
	if ss.closing {
		_ = ss.c.Conn().Close()
	}
	return ss.closing
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.over() {
		return ErrDrop
	}
	if f := ss.s.cfg.mail; f != nil {
		if err := f(from); err != nil {
			return ss.hook(err)
		}
	}
	ss.from, ss.to = from, nil
	ss.opts = smtp.MailOptions{}
	if opts != nil {
		ss.opts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.over() {
		return ErrDrop
	}
	if f := ss.s.cfg.rcpt; f != nil {
		if err := f(to); err != nil {
			return ss.hook(err)
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.over() {
		return ErrDrop
	}
	var verdict error
	if f := ss.s.cfg.data; f != nil {
		verdict = f(ss.from, ss.to, data)
	}
	var se *smtp.SMTPError
	if verdict != nil && !(errors.As(verdict, &se) && se.Code/100 == 2) {
		return ss.hook(verdict)
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.record(Received{
		Helo: ss.c.Hostname(), From: ss.from, To: ss.to, Data: data, TLS: isTLS,
		Body: string(ss.opts.Body), UTF8: ss.opts.UTF8, Size: ss.opts.Size, Auth: ss.user, Conn: ss.conn,
		Peer: ss.c.Conn().RemoteAddr().String(),
	})
	return verdict // nil, or a 2xx with the hook's text
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// FreePort returns a TCP port that is free on every one of ips right now
// (e.g. "127.0.0.2", "127.0.0.3"), for servers that must share one port.
func FreePort(t testing.TB, ips ...string) int {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{"127.0.0.1"}
	}
	for range 50 {
		if p, ok := tryPort(ips); ok {
			return p
		}
	}
	t.Fatalf("smtptest: no port free on all of %v", ips)
	return 0
}

func tryPort(ips []string) (int, bool) {
	first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
	if err != nil {
		return 0, false
	}
	defer first.Close()
	port := first.Addr().(*net.TCPAddr).Port
	for _, ip := range ips[1:] {
		l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			return 0, false
		}
		defer l.Close()
	}
	return port, true
}
