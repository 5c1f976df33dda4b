package sendmail

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
)

// serveSMTP runs one SMTP session on stdin/stdout (-bs). The local user
// is trusted: no AUTH, any recipient. Each message is dropped like a
// piped one, and 250 is sent only once the file is synced (E1).
func serveSMTP(env Env) error {
	conn := &stdioConn{r: env.Stdin, w: env.Stdout, closed: make(chan struct{})}
	srv := smtp.NewServer(&smtpBackend{env: env}) // a zero smtp.Server panics
	srv.Domain = env.Config.Hostname
	srv.MaxMessageBytes = env.Config.Submission.MaxMessageBytes
	srv.MaxRecipients = env.Config.Submission.MaxRecipients
	srv.MaxLineLength = 8192 // as submission: apps send long unwrapped lines
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = discardLog{}
	err := srv.Serve(&oneListener{conn: conn})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fail(ExIOErr, "smtp session: %v", err)
	}
	return nil
}

type smtpBackend struct{ env Env }

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{env: b.env}, nil
}

// smtpSession is one -bs transaction's envelope.
type smtpSession struct {
	env    Env
	sender string
	rcpts  []string
}

func reply(code int, e smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: e, Message: msg}
}

// refusal is intake's refusal as the reply, worded as the daemon words it.
func refusal(e *intake.Error) *smtp.SMTPError {
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: e.EnhancedCode(), Message: e.Text}
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if from != "" {
		if _, err := intake.ParseAddress(from, true); err != nil {
			return refusal(intake.ErrBadSender)
		}
	}
	s.sender, s.rcpts = from, nil
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, err := intake.ParseAddress(to, true); err != nil {
		return refusal(intake.ErrBadRecipient)
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data answers with the maildrop file name as the queue ID; the daemon
// gives the message its queue ID when it picks it up.
func (s *smtpSession) Data(r io.Reader) error {
	msg, err := readMessage(r, true, s.env.Config.Submission.MaxMessageBytes)
	switch {
	case errors.Is(err, errTooBig):
		return refusal(intake.ErrSize)
	case errors.Is(err, errNUL):
		return refusal(intake.ErrNUL)
	case err != nil:
		return reply(451, smtp.EnhancedCode{4, 3, 0}, "Error reading message data")
	}
	now := s.env.Now()
	fields, body := splitHeader(msg)
	msg = headerFix{sender: s.sender, hostname: s.env.Config.Hostname}.assemble(fields, body)
	var ie *intake.Error
	if err := check(s.env, s.sender, s.rcpts, msg); errors.As(err, &ie) {
		return refusal(ie)
	}
	_, uid := s.env.User()
	name, err := drop(s.env.Config.MaildropPath(),
		maildrop.Envelope{Sender: s.sender, Rcpts: s.rcpts, Posted: now, UID: uid}, msg)
	switch {
	case err == nil:
		return reply(250, smtp.EnhancedCode{2, 0, 0}, "Ok: queued as "+name)
	case exitCode(err) == ExTempFail:
		return refusal(intake.ErrNoSpace)
	}
	return refusal(intake.ErrStorage)
}

func (s *smtpSession) Reset()        { s.sender, s.rcpts = "", nil }
func (s *smtpSession) Logout() error { return nil }

// stdioConn is a net.Conn over stdin and stdout. Deadlines are ignored:
// the session ends when the local client closes its end.
type stdioConn struct {
	r      io.Reader
	w      io.Writer
	once   sync.Once
	closed chan struct{}
}

func (c *stdioConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *stdioConn) Write(b []byte) (int, error) { return c.w.Write(b) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr              { return localAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr             { return localAddr{} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

type localAddr struct{}

func (localAddr) Network() string { return "stdio" }
func (localAddr) String() string  { return "local" }

// oneListener hands go-smtp the one connection, then reports itself
// closed once that connection ends, which ends Serve.
type oneListener struct {
	conn *stdioConn
	used bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.conn, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return localAddr{} }

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}
