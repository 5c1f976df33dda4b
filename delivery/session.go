package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/textproto"

	"github.com/emersion/go-smtp"
)

// session is one SMTP connection to one exchanger address.
type session struct {
	d      *Deliverer
	ctx    context.Context
	job    Job
	host   string
	ip     string
	dc     *deadlineConn
	tls    bool // STARTTLS succeeded
	broken bool // the connection is unusable: no QUIT
}

// run greets, upgrades to TLS when offered, and runs the transaction.
func (s *session) run(body []byte, useTLS bool) outcome {
	c := smtp.NewClient(s.dc)
	if err := c.Hello(s.d.opts.Hostname); err != nil {
		return outcome{fail: s.helloFail(err)}
	}
	if ok, _ := c.Extension("STARTTLS"); ok && useTLS {
		tc, out := s.startTLS(c)
		if out != nil {
			return *out
		}
		c = tc
	}
	utf8 := needsUTF8(s.job)
	if ok, _ := c.Extension("SMTPUTF8"); utf8 && !ok {
		r := s.base(StageMail)
		r.Enhanced = "5.6.7"
		r.Err = errors.New("an address is not ASCII and the server does not offer SMTPUTF8")
		r.Text = r.Err.Error()
		s.quit(c)
		return outcome{fail: r}
	}
	res, fail := s.transaction(c, body, utf8)
	s.quit(c)
	if fail != nil {
		return outcome{fail: *fail}
	}
	return outcome{results: res}
}

func needsUTF8(job Job) bool {
	if !isASCII(job.Sender) {
		return true
	}
	for _, r := range job.Rcpts {
		if !isASCII(r) {
			return true
		}
	}
	return false
}

// base is a Result carrying who we talked to.
func (s *session) base(stage Stage) Result {
	return Result{Stage: stage, MX: s.host, IP: s.ip, TLS: s.tls}
}

// reply is a Result for a server reply.
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
	r.Text = fmt.Sprintf("connection to %s [%s] lost: %v", s.host, s.ip, err)
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
	if s.dc.wrote.Load() == 0 {
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

// startTLS upgrades the connection. go-smtp v0.25 has no Client.StartTLS
// (only NewClientStartTLS, which would EHLO as "localhost" and close the
// connection when STARTTLS is not offered), so after go-smtp's EHLO we send
// STARTTLS ourselves, handshake, and give the TLS connection to a new
// go-smtp client with a stand-in greeting, which then says EHLO again
// (RFC 3207 4.2). A refused STARTTLS continues in plain text on the same
// connection; a broken one asks the caller to retry in plain text.
func (s *session) startTLS(c *smtp.Client) (*smtp.Client, *outcome) {
	if _, err := io.WriteString(s.dc, "STARTTLS\r\n"); err != nil {
		return nil, &outcome{fail: s.lost(StageTLS, "4.4.2", err), retryPlain: true}
	}
	_, _, err := textproto.NewReader(bufio.NewReader(s.dc)).ReadResponse(220)
	var te *textproto.Error
	if errors.As(err, &te) {
		return c, nil
	}
	if err != nil {
		return nil, &outcome{fail: s.lost(StageTLS, "4.4.2", err), retryPlain: true}
	}
	tc := tls.Client(s.dc, s.tlsConfig())
	if err := tc.HandshakeContext(s.ctx); err != nil {
		r := s.lost(StageTLS, "4.7.5", err)
		r.Text = fmt.Sprintf("TLS handshake with %s [%s] failed: %v", s.host, s.ip, err)
		return nil, &outcome{fail: r, retryPlain: true}
	}
	s.tls = true
	nc := smtp.NewClient(newPrefixConn(tc, "220 "+s.host+" TLS started\r\n"))
	if err := nc.Hello(s.d.opts.Hostname); err != nil {
		return nil, &outcome{fail: s.fromErr(StageHello, err)}
	}
	return nc, nil
}

func (s *session) tlsConfig() *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: true} // opportunistic: see Options.TLSConfig
	if s.d.opts.TLSConfig != nil {
		cfg = s.d.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

// quit ends the session politely unless the connection is already broken.
func (s *session) quit(c *smtp.Client) {
	if s.broken {
		return
	}
	s.dc.setTimeout(min(s.d.opts.CommandTimeout, quitTimeout))
	_ = c.Quit()
}
