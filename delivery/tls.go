package delivery

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"
)

// secure runs STARTTLS when dst.mode asks for it. Opportunistic: a server
// that does not offer or refuses STARTTLS gets the mail in plain text on
// this connection; a broken handshake asks the caller for a plain-text
// retry on a new connection. Require: no STARTTLS, a refusal or a failed
// handshake or verification skips this address (4.7.4 / 4.7.5), never
// plain text.
func (s *session) secure(c *smtp.Client) (*smtp.Client, *outcome) {
	if s.dst.mode != modeOpportunistic && !s.dst.mode.required() {
		return c, nil
	}
	if !has(c, "STARTTLS") {
		if s.dst.mode.required() {
			err := errors.New("TLS is required for this destination and the server does not offer STARTTLS")
			return nil, &outcome{fail: s.local(StageTLS, "4.7.4", err)}
		}
		return c, nil
	}
	return s.startTLS(c)
}

// startTLS upgrades the connection. go-smtp v0.25 has no Client.StartTLS
// (only NewClientStartTLS, which would EHLO as "localhost" and close the
// connection when STARTTLS is not offered), so after go-smtp's EHLO we send
// STARTTLS on the wire, handshake, and give the TLS connection to a new
// go-smtp client with a stand-in greeting, which then says EHLO again
// (RFC 3207 4.2).
func (s *session) startTLS(c *smtp.Client) (*smtp.Client, *outcome) {
	retry := s.dst.mode == modeOpportunistic
	rep, err := s.w.roundTrip("STARTTLS")
	if err != nil {
		return nil, &outcome{fail: s.lost(StageTLS, "4.4.2", err), retryPlain: retry}
	}
	if rep.Code != 220 {
		if s.dst.mode.required() {
			err := fmt.Errorf("TLS is required for this destination and STARTTLS was refused: %v", rep)
			return nil, &outcome{fail: s.local(StageTLS, "4.7.4", err)}
		}
		return c, nil
	}
	if n := s.w.r.Buffered(); n > 0 {
		// Bytes after the 220 and before the handshake were never
		// encrypted: someone is injecting commands (CVE-2011-0411).
		err := fmt.Errorf("%d bytes arrived after the STARTTLS reply, before the handshake", n)
		return nil, &outcome{fail: s.tlsFailed(err), retryPlain: retry}
	}
	tc := tls.Client(s.dc, s.tlsConfig())
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return nil, &outcome{fail: s.tlsFailed(err), retryPlain: retry}
	}
	s.upgraded(tc)
	nc := smtp.NewClient(newPrefixConn(lineConn{Conn: tc, r: s.w.r}, "220 "+s.dst.host+" TLS started\r\n"))
	if err := nc.Hello(s.helloName()); err != nil {
		return nil, &outcome{fail: s.fromErr(StageHello, err)}
	}
	return nc, nil
}

// implicitTLS handshakes before the greeting (a relay on port 465).
func (s *session) implicitTLS() *outcome {
	tc := tls.Client(s.dc, s.tlsConfig())
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return &outcome{fail: s.tlsFailed(err)}
	}
	s.upgraded(tc)
	s.greetMark = s.dc.wrote.Load()
	return nil
}

// tlsFailed is the 4.7.5 result of a failed handshake or verification.
func (s *session) tlsFailed(err error) Result {
	r := s.lost(StageTLS, "4.7.5", err)
	r.Text = fmt.Sprintf("TLS handshake with %s [%s] failed: %v", s.dst.host, s.dst.ip, err)
	var de *daneError
	if errors.As(err, &de) { // its text says what DANE found
		r.Text = fmt.Sprintf("TLS handshake with %s [%s] refused: %v", s.dst.host, s.dst.ip, de)
	}
	return r
}

func (s *session) upgraded(tc *tls.Conn) {
	st := tc.ConnectionState()
	s.conn, s.tlsState, s.w = tc, &st, newWire(tc)
}

// tlsConfig is Options.TLSConfig (cloned) for opportunistic STARTTLS, any
// certificate accepted when it is nil. Require and implicit TLS always
// verify the certificate for the host name, against Options.RootCAs when
// set, and refuse anything older than TLS 1.2.
func (s *session) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if s.d.opts.TLSConfig != nil {
		cfg = s.d.opts.TLSConfig.Clone()
	}
	if s.dst.mode == modeRequire || s.dst.mode == modeImplicit {
		cfg.InsecureSkipVerify = false
		if s.d.opts.RootCAs != nil {
			cfg.RootCAs = s.d.opts.RootCAs
		}
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	} else if s.dst.mode == modeDANE {
		// The TLSA records, not the WebPKI, say which certificate is right.
		h, host := s.dst.pol.dane, s.dst.host
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyDANE(h, host, cs) }
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	} else if s.d.opts.TLSConfig == nil {
		cfg.InsecureSkipVerify = true // opportunistic: encrypted, not authenticated
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.dst.host
	}
	return cfg
}

// modeFor is the TLS mode for delivery to domain.
func (d *Deliverer) modeFor(domain string) tlsMode {
	if d.opts.TLSPolicy[domain] == TLSRequire {
		return modeRequire
	}
	return modeOpportunistic
}
