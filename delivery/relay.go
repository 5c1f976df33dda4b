package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// RelayTLS is how the connection to a smarthost is secured.
type RelayTLS string

// Relay TLS modes.
const (
	// RelaySTARTTLS (the default): STARTTLS must be offered and the
	// certificate must verify for the relay's host name.
	RelaySTARTTLS RelayTLS = "starttls"
	// RelayImplicit: TLS from the first byte (port 465), verified.
	RelayImplicit RelayTLS = "implicit"
	// RelayNoTLS: plain text. conf refuses it with credentials unless the
	// relay is on loopback.
	RelayNoTLS RelayTLS = "none"
)

// Relay is a smarthost: when set, every Job goes to it instead of its
// domain's exchangers (an ESP's SMTP endpoint, a local Postfix).
type Relay struct {
	Addr     string // host:port; host is a name (its A/AAAA are looked up) or an IP
	Username string // when set, AUTH PLAIN, else AUTH LOGIN, whichever is offered
	Password string
	// PasswordFile is read at each AUTH when Password is empty, so a
	// rotated secret needs no restart; surrounding white space is dropped.
	PasswordFile string
	TLS          RelayTLS // "" is RelaySTARTTLS
}

func (r *Relay) mode() tlsMode {
	switch r.TLS {
	case RelayImplicit:
		return modeImplicit
	case RelayNoTLS:
		return modePlain
	}
	return modeRequire
}

func (r *Relay) password() (string, error) {
	if r.Password != "" || r.PasswordFile == "" {
		return r.Password, nil
	}
	b, err := os.ReadFile(r.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("relay password file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// viaRelay delivers job through the smarthost: its addresses are tried in
// turn like an exchanger's. Trouble finding or reaching the relay is our
// configuration's or the relay's, never the recipient's: always soft.
func (d *Deliverer) viaRelay(ctx context.Context, job Job, body []byte) []Result {
	rl := d.opts.Relay
	host, port, err := splitRelay(rl.Addr)
	if err != nil {
		return fill(len(job.Rcpts), localFail(StageResolve, "4.3.5", err))
	}
	ips, fail := d.relayAddrs(ctx, host)
	if fail != nil {
		return fill(len(job.Rcpts), *fail)
	}
	var f failover
	for _, ip := range ips[:min(len(ips), d.opts.MaxAddrs)] {
		if d.self.has(ip, port) {
			err := fmt.Errorf("relay %s is this server: mail would loop", rl.Addr)
			return fill(len(job.Rcpts), localFail(StageResolve, "4.4.6", err))
		}
		if ctx.Err() != nil {
			break
		}
		dst := dest{key: relayKey, host: host, ip: ip, port: port, mode: rl.mode(), relay: rl}
		out := d.attempt(ctx, job, body, dst)
		if out.results != nil {
			return out.results
		}
		f.note(out.fail)
	}
	if f.last == nil {
		return fill(len(job.Rcpts), localFail(StageDial, "4.4.1", fmt.Errorf("relay %s not tried: %w", rl.Addr, ctx.Err())))
	}
	return fill(len(job.Rcpts), *f.last)
}

// relayKey is the idle-pool key of relayed mail: one destination for all.
const relayKey = "relay"

func splitRelay(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("relay address %q is not host:port", addr)
	}
	return host, port, nil
}

func (d *Deliverer) relayAddrs(ctx context.Context, host string) ([]net.IP, *Result) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	ips, err := d.opts.Resolver.LookupIP(ctx, host)
	d.dnsFailed(err)
	if err != nil {
		r := localFail(StageResolve, "4.4.3", fmt.Errorf("looking up relay %s: %w", host, err))
		return nil, &r
	}
	if len(ips) == 0 {
		r := localFail(StageResolve, "4.4.4", fmt.Errorf("relay %s has no address", host))
		return nil, &r
	}
	return ips, nil
}

// auth authenticates to the relay. A refusal (535 5.7.8) is every
// recipient's result, as a reply from the relay like any other; a relay
// that offers neither PLAIN nor LOGIN is skipped with 4.7.4; an unreadable
// password file is 4.3.5 (misconfigured) for everyone.
func (s *session) auth(c *smtp.Client) *outcome {
	rl := s.dst.relay
	pass, err := rl.password()
	if err != nil {
		return &outcome{results: fill(len(s.job.Rcpts), s.local(StageAuth, "4.3.5", err))}
	}
	var mech sasl.Client
	switch {
	case s.ext.authPlain:
		mech = sasl.NewPlainClient("", rl.Username, pass)
	case s.ext.authLogin:
		mech = &loginClient{user: rl.Username, pass: pass}
	default:
		err := errors.New("relay offers neither AUTH PLAIN nor AUTH LOGIN")
		return &outcome{fail: s.local(StageAuth, "4.7.4", err)}
	}
	err = c.Auth(mech)
	se := asReply(err)
	switch {
	case err == nil:
		return nil
	case se != nil:
		s.broken = se.Code == 421
		return &outcome{results: fill(len(s.job.Rcpts), s.reply(StageAuth, se))}
	}
	return &outcome{fail: s.lost(StageAuth, "4.4.2", err)}
}

// loginClient is AUTH LOGIN: the user name, then the password, each in
// answer to a 334 challenge, whatever the challenge says ("Username:",
// "Password:" are customary but not required). go-sasl's LOGIN client
// sends the user name as an initial response, which some servers refuse.
type loginClient struct {
	user, pass string
	step       int
}

func (a *loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginClient) Next([]byte) ([]byte, error) {
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("AUTH LOGIN: unexpected third challenge")
}
