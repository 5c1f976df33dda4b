package bounce

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/clock"
)

// ServerOptions configure the inbound report listener.
type ServerOptions struct {
	Receiver   *Receiver
	ReturnPath *ReturnPath // nil: only feedback addresses are accepted
	// FeedbackAddresses take ARF reports (any case).
	FeedbackAddresses []string
	Hostname          string
	TLS               *tls.Config // nil: no STARTTLS
	MaxBytes          int64       // one report (552 5.3.4 beyond)
	// MaxConns open connections in all (421 4.3.2 beyond): each may hold
	// a report of MaxBytes in memory. MaxConnsPerIP open connections per
	// client (421 4.7.0 beyond); MaxReportsPerIP reports per client per
	// hour (451 4.7.1 beyond).
	MaxConns        int
	MaxConnsPerIP   int
	MaxReportsPerIP int
	// ReadTimeout bounds the wait for each read; SessionLifetime a whole
	// connection.
	ReadTimeout     time.Duration
	SessionLifetime time.Duration
	Clock           clock.Clock
	Logger          *zap.Logger
}

// Server is the inbound SMTP listener for reports. It never relays, offers
// no AUTH, and answers 250 only after Receive committed the report.
type Server struct {
	o     ServerOptions
	srv   *smtp.Server
	fbl   map[string]bool
	mu    sync.Mutex
	conns map[netip.Addr]int
	open  int // all connections
	// reports per client: times of the last hour's reports.
	reports map[netip.Addr][]time.Time
}

// maxRcpts per transaction: a report goes to one token or one feedback
// address; a few more cost nothing, hundreds are not a report.
const maxRcpts = 10

// maxLineLength bounds one line of a report (and of a command).
const maxLineLength = 64 << 10

// NewServer returns a listener for o; o.Receiver is required.
func NewServer(o ServerOptions) *Server {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 100
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = 10
	}
	if o.MaxReportsPerIP <= 0 {
		o.MaxReportsPerIP = 1000
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 2 * time.Minute
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 10 * time.Minute
	}
	s := &Server{o: o, fbl: map[string]bool{}, conns: map[netip.Addr]int{}, reports: map[netip.Addr][]time.Time{}}
	for _, a := range o.FeedbackAddresses {
		s.fbl[strings.ToLower(a)] = true
	}
	srv := smtp.NewServer(s) // a zero smtp.Server panics
	srv.Domain = o.Hostname
	srv.TLSConfig = o.TLS
	srv.MaxRecipients = maxRcpts
	// No MaxMessageBytes: go-smtp's reader stops at the limit without
	// draining, so the rest of the body would be read as commands. Data
	// enforces MaxBytes itself and drains, so the 552 arrives in order.
	// Reports come from every kind of MTA, some of which fold nothing:
	// be lenient with line length (RFC 5321 says 1000) but bounded.
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = o.ReadTimeout
	srv.WriteTimeout = time.Minute
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = printf{o.Logger}
	s.srv = srv
	return s
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.srv.Serve(&limitListener{Listener: l, s: s})
}

// shutdownGrace is how long Shutdown waits for sessions: a report is
// committed within its DATA, so only idle connections are left after it.
const shutdownGrace = 5 * time.Second

// Shutdown stops accepting, lets sessions finish for a few seconds (or
// until ctx ends), then closes what is left: a remote MTA whose
// connection is cut retries its report later.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, client: clientIP(c.Conn().RemoteAddr())}, nil
}

type session struct {
	s      *Server
	client netip.Addr
	from   string
	rcpts  []string
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.s.underReportLimit(ss.client) {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: "Too many reports from your address, try again later"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.s.accepts(to) {
		ss.s.o.Logger.Info("report for an unknown address refused", zap.String("client", ss.client.String()),
			zap.String("rcpt", to))
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "No such address here: this server only takes bounces and feedback reports"}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, ss.s.o.MaxBytes+1))
	if errors.Is(err, smtp.ErrTooLongLine) {
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
			Message: fmt.Sprintf("Line longer than %d bytes", maxLineLength)}
	}
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Error reading the message"}
	}
	if int64(len(raw)) > ss.s.o.MaxBytes {
		_, _ = io.Copy(io.Discard, r)
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
			Message: fmt.Sprintf("Report too big (limit %d bytes)", ss.s.o.MaxBytes)}
	}
	ss.s.countReport(ss.client)
	_, err = ss.s.o.Receiver.Receive(context.Background(), raw,
		Envelope{Rcpts: ss.rcpts, Sender: ss.from, Client: ss.client.String()})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotEmail):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Not an email message"}
	case errors.Is(err, ErrTooBig):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Report too big"}
	}
	ss.s.o.Logger.Error("recording a report", zap.String("client", ss.client.String()), zap.Error(err))
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot record the report now, try again later"}
}

// accepts reports whether rcpt is a valid token or a feedback address.
func (s *Server) accepts(rcpt string) bool {
	if s.fbl[strings.ToLower(rcpt)] {
		return true
	}
	if s.o.ReturnPath == nil {
		return false
	}
	_, ok := s.o.ReturnPath.Token(localPart(rcpt))
	return ok
}

// underReportLimit reports whether client may send another report.
func (s *Server) underReportLimit(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recent(ip)) < s.o.MaxReportsPerIP
}

func (s *Server) countReport(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports[ip] = append(s.recent(ip), s.o.Clock.Now())
}

// recent drops client's reports older than an hour; s.mu is held.
func (s *Server) recent(ip netip.Addr) []time.Time {
	cut := s.o.Clock.Now().Add(-time.Hour)
	ts := s.reports[ip]
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(s.reports, ip)
	} else {
		s.reports[ip] = ts
	}
	return ts
}

// limitListener refuses a client's connection beyond MaxConnsPerIP and
// bounds every read and the whole session.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c.RemoteAddr())
		s := l.s
		s.mu.Lock()
		refusal := ""
		switch {
		case s.open >= s.o.MaxConns:
			refusal = "421 4.3.2 Too many connections, try again later\r\n"
		case s.conns[ip] >= s.o.MaxConnsPerIP:
			refusal = "421 4.7.0 Too many connections from your address\r\n"
		default:
			s.conns[ip]++
			s.open++
		}
		s.mu.Unlock()
		if refusal != "" {
			_ = c.SetWriteDeadline(clock.Real{}.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, refusal)
			c.Close()
			continue
		}
		return &limitConn{Conn: c, s: s, ip: ip, end: clock.Real{}.Now().Add(s.o.SessionLifetime)}, nil
	}
}

type limitConn struct {
	net.Conn
	s    *Server
	ip   netip.Addr
	end  time.Time
	once sync.Once
}

// Read gives every read a fresh deadline, never past the session's end
// (go-smtp's ReadTimeout is one deadline for a whole DATA upload).
func (c *limitConn) Read(b []byte) (int, error) {
	d := clock.Real{}.Now().Add(c.s.o.ReadTimeout)
	if d.After(c.end) {
		d = c.end
	}
	_ = c.Conn.SetReadDeadline(d)
	return c.Conn.Read(b)
}

func (c *limitConn) SetReadDeadline(time.Time) error { return nil }

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		if c.s.conns[c.ip]--; c.s.conns[c.ip] <= 0 {
			delete(c.s.conns, c.ip)
		}
		c.s.open--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

func clientIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// printf sends go-smtp's error log to zap.
type printf struct{ l *zap.Logger }

func (p printf) Printf(format string, v ...any) { p.l.Warn(fmt.Sprintf(format, v...)) }
func (p printf) Println(v ...any)               { p.l.Warn(fmt.Sprint(v...)) }
