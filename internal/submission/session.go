package submission

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/internal/intake"
)

// Replies. Texts are fixed: nothing internal reaches the client (S2).
// Those about the message are intake's, so every way in words them alike.
var (
	errRelayDenied  = reply(554, 5, 7, 1, "Relay access denied")
	errBadSender    = toSMTP(intake.ErrBadSender)
	errTooManyRcpts = toSMTP(intake.ErrTooManyRcpts)
	errSize         = toSMTP(intake.ErrSize)
	errNULByte      = toSMTP(intake.ErrNUL)
	errLineTooLong  = reply(500, 5, 5, 2, "Line too long")
	errDataTimeout  = reply(451, 4, 4, 2, "Timeout reading message data, closing connection")
	errDataRead     = reply(451, 4, 3, 0, "Error reading message data")
	errShuttingDown = reply(421, 4, 3, 2, "Service shutting down, message not accepted, try again later")
	errStorage      = toSMTP(intake.ErrStorage)
	errNoSpace      = toSMTP(intake.ErrNoSpace)
	errBusy         = reply(452, 4, 3, 1, "Too much mail in transit, try again later")
	errAuthRequired = reply(530, 5, 7, 0, "Authentication required")
	errTLSRequired  = reply(530, 5, 7, 0, "Must issue a STARTTLS command first")
	errBadHelo      = reply(501, 5, 5, 2, "Bad HELO/EHLO argument")
	errDraining     = toSMTP(intake.ErrDraining)
)

func reply(code, a, b, c int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: msg}
}

// session is one client connection's state. The envelope (sender, rcpts)
// lives from MAIL to the end of DATA or RSET.
type session struct {
	s    *Server
	conn *smtp.Conn
	ip   netip.Addr // unmapped: an IPv4 client on a dual-stack socket is IPv4
	kind Kind
	tls  bool      // known at creation: go-smtp makes a new session after STARTTLS
	idle *idleConn // under the TLS layer, if any; nil in unit tests without one
	// trusted: the client's IP is in Options.Trusted. user is set by a
	// successful AUTH. Either one allows relaying (S3).
	trusted      bool
	user         *User
	authFailures int

	hasSender bool
	sender    string // "" is the null sender
	utf8      bool   // MAIL ... SMTPUTF8
	rcpts     []intake.Recipient
	seen      map[string]bool // lower-cased addresses already accepted
}

func (s *Server) newSession(c *smtp.Conn, k Kind) *session {
	ss := &session{s: s, conn: c, kind: k}
	_, ss.tls = c.TLSConnectionState()
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	ss.idle, _ = nc.(*idleConn)
	if ta, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ss.ip = ta.AddrPort().Addr().Unmap()
	}
	ss.trusted = trustedIP(s.opts.Trusted, ss.ip)
	ss.progress() // a greeting, and again after STARTTLS
	return ss
}

// progress renews the idle timer: only steps towards a message do, so a
// client sending NOOP, RSET or HELP, or a MAIL that cannot lead anywhere,
// is idle (security issue 22).
func (ss *session) progress() {
	if ss.idle != nil {
		ss.idle.progress()
	}
}

// mayRelay is the one relay decision: trusted network or authenticated.
func (ss *session) mayRelay() bool { return ss.trusted || ss.user != nil }

// end closes the connection once the reply in hand is written.
func (ss *session) end() {
	if ss.idle != nil {
		ss.idle.endAfterReply()
	}
}

// Mail checks the sender. On the plain listener relay permission is checked
// at RCPT, so an untrusted client hears "relay access denied" per recipient,
// the conventional place. On the TLS listeners, where AUTH exists, an
// untrusted client must have authenticated before MAIL (RFC 4954 530).
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.Reset()
	if ss.s.in.Draining() {
		ss.end() // a 421 closes the session (RFC 5321 4.2.2)
		return errDraining
	}
	if ss.kind != Plain && !ss.mayRelay() {
		if !ss.tls {
			return errTLSRequired
		}
		return errAuthRequired
	}
	utf8 := opts != nil && opts.UTF8
	if opts != nil && opts.Size > ss.s.opts.MaxMessageBytes {
		return errSize // go-smtp checks SIZE= first; kept so the limit holds without it
	}
	if err := ss.s.in.Sender(from, utf8); err != nil {
		return errBadSender
	}
	if ss.user != nil && !ss.user.mayUse(from) {
		return reply(553, 5, 7, 1, "Sender address rejected: not owned by user "+ss.user.Name)
	}
	ss.hasSender, ss.sender, ss.utf8 = true, from, utf8
	if ss.mayRelay() {
		ss.progress()
	}
	return nil
}

// Rcpt checks relay permission and the recipient limit, then has intake
// check the address and the suppression list.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.mayRelay() {
		return errRelayDenied
	}
	if len(ss.rcpts) >= ss.s.opts.MaxRecipients {
		return errTooManyRcpts // go-smtp checks first; kept so the limit holds without it
	}
	key := strings.ToLower(to)
	if ss.seen[key] {
		return nil // the same mailbox twice gets one copy
	}
	r, err := ss.s.in.Recipient(ss.s.ctx, ss.origin(), to)
	if err != nil {
		return smtpReply(err)
	}
	if ss.seen == nil {
		ss.seen = map[string]bool{}
	}
	ss.seen[key] = true
	ss.rcpts = append(ss.rcpts, r)
	ss.progress()
	return nil
}

// Reset forgets the envelope (RSET, a new EHLO, the end of DATA).
func (ss *session) Reset() {
	ss.hasSender, ss.sender, ss.utf8 = false, "", false
	ss.rcpts, ss.seen = nil, nil
	if ss.idle != nil {
		ss.idle.inBody.Store(false)
	}
}

// Logout frees nothing: the session holds no resources beyond memory.
func (ss *session) Logout() error { return nil }

// origin is who hands the message over, for intake: every client that
// got this far may relay (trusted or authenticated), so its message is
// fixed up like a local one.
func (ss *session) origin() intake.Origin {
	o := intake.Origin{Kind: intake.SMTP, ClientAddr: ss.clientAddr(), Helo: ss.conn.Hostname(),
		Protocol: ss.protocol(), Fixup: ss.mayRelay(), UTF8: ss.utf8,
		NoDSN: ss.user != nil && ss.user.DSN != nil && !*ss.user.DSN}
	if ss.user != nil {
		o.User = ss.user.Name
	}
	return o
}

// smtpReply is intake's refusal as go-smtp's reply; anything else is a
// storage fault.
func smtpReply(err error) *smtp.SMTPError {
	var e *intake.Error
	if !errors.As(err, &e) {
		e = intake.ErrStorage
	}
	return toSMTP(e)
}

func toSMTP(e *intake.Error) *smtp.SMTPError {
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: e.EnhancedCode(), Message: e.Text}
}

// clientAddr is the client's IP for Message.ClientAddr and Received.
func (ss *session) clientAddr() string {
	if !ss.ip.IsValid() {
		return "unknown"
	}
	return ss.ip.String()
}
