package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// numberedConn is an accepted connection: its number (for Received.Conn)
// and the EHLO keywords to hide.
type numberedConn struct {
	net.Conn
	n     int
	strip []string
	s     *Server
}

// track registers c for DropConns and adds implicit TLS when configured.
func (s *Server) track(c *numberedConn) net.Conn {
	s.mu.Lock()
	s.live[c] = true
	s.peak = max(s.peak, len(s.live))
	s.mu.Unlock()
	if s.cfg.implicit != nil {
		return tls.Server(c, s.cfg.implicit)
	}
	return c
}

func (c *numberedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.live, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// Write drops "250-KEYWORD..." lines. go-smtp flushes every reply line
// on its own, so a line never straddles two writes.
func (c *numberedConn) Write(p []byte) (int, error) {
	out := p
	for _, k := range c.strip {
		if bytes.HasPrefix(out, []byte("250-"+k+"\r\n")) || bytes.HasPrefix(out, []byte("250-"+k+" ")) {
			return len(p), nil
		}
	}
	return c.Conn.Write(out)
}

// errAuth is the reply to wrong credentials (go-smtp would say 454).
var errAuth = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}

// AuthMechanisms offers PLAIN and LOGIN when WithAuth configured users.
func (ss *session) AuthMechanisms() []string {
	if len(ss.s.cfg.users) == 0 {
		return nil
	}
	return ss.s.cfg.mechs
}

// Auth checks credentials against WithAuth's.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		want, ok := ss.s.cfg.users[user]
		if !ok || want != pass {
			return errAuth
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is AUTH LOGIN (go-sasl has only the client side): it asks
// "Username:" unless the client sent the name as an initial response,
// then "Password:".
type loginServer struct {
	check      func(user, pass string) error
	user       []byte
	step       int
	gotInitial bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch {
	case l.step == 1 && resp == nil:
		return []byte("Username:"), false, nil
	case l.step == 1:
		l.user, l.gotInitial = resp, true
		return []byte("Password:"), false, nil
	case l.step == 2 && !l.gotInitial:
		l.user = resp
		return []byte("Password:"), false, nil
	case l.step == 2 || l.step == 3:
		return nil, true, l.check(string(l.user), string(resp))
	}
	return nil, false, errors.New("unexpected LOGIN response")
}
