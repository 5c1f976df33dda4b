package delivery

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/emersion/go-smtp"

	"github.com/mtaq/mtaq/internal/clock"
)

// dest is where one connection goes and how it must be secured.
type dest struct {
	key      string // idle-pool key: the domain, or the relay
	host     string // MX or relay host name: TLS server name, logs, results
	ip       net.IP
	src      net.IP // local address to bind (Job.Source); nil: the system's choice
	ehlo     string // EHLO name (Job.EHLO); "": Options.Hostname
	port     int
	mode     tlsMode
	fallback bool   // the plain-text retry after a failed STARTTLS handshake
	relay    *Relay // authenticate with its credentials
	pol      *hostPolicy
}

type tlsMode int

const (
	modeOpportunistic tlsMode = iota // STARTTLS if offered; plain-text retry on failure
	modePlain                        // never STARTTLS
	modeRequire                      // STARTTLS offered and certificate verified, else no mail
	modeImplicit                     // TLS from the first byte, certificate verified
	modeDANE                         // STARTTLS offered and the chain matches the TLSA records (RFC 7672)
)

// required: no STARTTLS or a failed handshake means no mail, never plain text.
func (m tlsMode) required() bool { return m == modeRequire || m == modeDANE }

// extensions are the EHLO keywords the transaction layer acts on.
type extensions struct {
	pipelining, eightBit, utf8, size bool
	authPlain, authLogin             bool
}

// session is one SMTP connection to one address, ready for MAIL once open
// returns it. It may outlive the Deliver that opened it, in the idle pool;
// ctx and job are those of the Deliver using it now.
type session struct {
	d         *Deliverer
	dst       dest
	dc        *deadlineConn
	conn      net.Conn // dc, or the TLS connection over it
	w         *wire
	ext       extensions
	tlsState  *tls.ConnectionState
	greetMark int64 // bytes written before the greeting (implicit TLS handshake)
	broken    bool  // unusable: no QUIT, no reuse
	dirty     bool  // a transaction is open on the server: RSET before the next MAIL
	txns      int   // MAIL commands accepted on this connection
	reused    bool  // taken from the idle pool for the current Deliver

	ctx  context.Context
	job  Job
	stop func() bool // undoes the close-on-cancel of ctx
}

// open dials dst and gets the session ready for MAIL: greeting, EHLO,
// TLS as dst.mode says, AUTH for a relay. On failure the outcome says
// what happened and the connection is closed.
func (d *Deliverer) open(ctx context.Context, job Job, dst dest) (*session, *outcome) {
	addr := net.JoinHostPort(dst.ip.String(), strconv.Itoa(dst.port))
	dctx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	conn, err := d.dial(dctx, dst.src, addr)
	cancel()
	if err != nil {
		r := localFail(StageDial, "4.4.1", err)
		r.Text = fmt.Sprintf("connect to %s (%s): %v", dst.host, addr, err)
		r.MX, r.IP, r.TLSFallback = dst.host, dst.ip.String(), dst.fallback
		return nil, &outcome{fail: r}
	}
	dc := newDeadlineConn(conn, clock.Real{}, d.opts.CommandTimeout) // sockets: wall clock
	s := &session{d: d, dst: dst, dc: dc, conn: dc}
	s.bind(ctx, job)
	if out := s.handshake(); out != nil {
		s.unbind()
		s.close()
		return nil, out
	}
	return s, nil
}

// handshake runs the greeting, EHLO, TLS and AUTH with go-smtp's client;
// the transactions that follow use the wire directly.
func (s *session) handshake() *outcome {
	if s.dst.mode == modeImplicit {
		if out := s.implicitTLS(); out != nil {
			return out
		}
	}
	s.dc.awaitGreeting(s.d.opts.GreetingTimeout, s.d.opts.CommandTimeout)
	s.w = newWire(s.conn)
	c := smtp.NewClient(lineConn{Conn: s.conn, r: s.w.r})
	if err := c.Hello(s.helloName()); err != nil {
		return &outcome{fail: s.helloFail(err)}
	}
	c, out := s.secure(c)
	if out != nil {
		return out
	}
	s.ext = extensions{
		pipelining: has(c, "PIPELINING"), eightBit: has(c, "8BITMIME"),
		utf8: has(c, "SMTPUTF8"), size: has(c, "SIZE"),
		authPlain: c.SupportsAuth("PLAIN"), authLogin: c.SupportsAuth("LOGIN"),
	}
	if s.dst.relay != nil && s.dst.relay.Username != "" {
		return s.auth(c)
	}
	return nil
}

func has(c *smtp.Client, ext string) bool {
	ok, _ := c.Extension(ext)
	return ok
}

// bind attaches the session to a Deliver: the connection is closed when
// ctx ends (go-smtp takes no context).
func (s *session) bind(ctx context.Context, job Job) {
	s.ctx, s.job = ctx, job
	s.stop = context.AfterFunc(ctx, func() { _ = s.dc.Conn.Close() })
}

// unbind detaches the session from its Deliver. If ctx ended meanwhile,
// the connection was closed under us: the session is broken.
func (s *session) unbind() {
	if s.stop != nil && !s.stop() {
		s.broken = true
	}
	s.stop = nil
}

// close ends the session: QUIT and close (with TLS's close_notify), or,
// when the connection is broken, just close the socket: nothing more is
// written to a peer that may not be reading.
func (s *session) close() {
	if s.broken || s.w == nil {
		_ = s.dc.Conn.Close()
		return
	}
	s.dc.setTimeout(min(s.d.opts.CommandTimeout, quitTimeout))
	_, _ = s.w.roundTrip("QUIT")
	_ = s.conn.Close()
}

// base is a Result carrying who we talked to and how.
func (s *session) base(stage Stage) Result {
	r := Result{Stage: stage, MX: s.dst.host, IP: s.dst.ip.String(), TLSFallback: s.dst.fallback}
	if s.dst.pol != nil {
		r.TLSPolicy, r.TLSPolicyID = s.dst.pol.source, s.dst.pol.id()
	}
	if st := s.tlsState; st != nil {
		r.TLS = true
		r.TLSVersion = tls.VersionName(st.Version)
		r.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
	}
	return r
}

// result is a Result for a server reply read by the wire.
func (s *session) result(stage Stage, rep reply) Result {
	r := s.base(stage)
	r.Code, r.Enhanced, r.Text = rep.Code, rep.Enhanced, rep.Text
	return r
}

// reply is a Result for a server reply read by go-smtp.
func (s *session) reply(stage Stage, se *smtp.SMTPError) Result {
	r := s.base(stage)
	r.Code, r.Enhanced, r.Text = replyFields(se)
	return r
}

// lost is a Result for a connection that broke without a reply.
func (s *session) lost(stage Stage, enhanced string, err error) Result {
	s.broken = true
	if cerr := s.ctx.Err(); cerr != nil {
		err = fmt.Errorf("attempt cancelled (%w): %w", cerr, err)
	}
	r := s.base(stage)
	r.Enhanced, r.Err = enhanced, err
	r.Text = fmt.Sprintf("connection to %s [%s] lost: %v", s.dst.host, s.dst.ip, err)
	return r
}

// local is a Result for a refusal of our own on a working connection.
func (s *session) local(stage Stage, enhanced string, err error) Result {
	r := s.base(stage)
	r.Enhanced, r.Err, r.Text = enhanced, err, err.Error()
	return r
}

// fromErr is reply or lost, whichever err is.
func (s *session) fromErr(stage Stage, err error) Result {
	if se := asReply(err); se != nil {
		return s.reply(stage, se)
	}
	return s.lost(stage, "4.4.2", err)
}

// helloFail describes a failed greeting or EHLO. Nothing written yet means
// the greeting failed; a silent or vanished greeter is "nobody answered".
func (s *session) helloFail(err error) Result {
	stage := StageHello
	if s.dc.wrote.Load() == s.greetMark {
		stage = StageGreeting
	}
	if se := asReply(err); se != nil {
		s.broken = true
		return s.reply(stage, se)
	}
	if stage == StageGreeting {
		return s.lost(stage, "4.4.1", err)
	}
	return s.lost(stage, "4.4.2", err)
}
