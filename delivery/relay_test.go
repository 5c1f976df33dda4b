package delivery

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
)

// relayEnv starts a relay at relay.test (127.0.0.2) with opts and returns
// a Relay for it. Jobs go to domains DNS knows nothing about: a relay
// never looks them up.
func relayEnv(t *testing.T, opts ...smtptest.Option) (*env, *smtptest.Server, *Relay) {
	e := newEnv(t)
	e.dns.A("relay.test", "127.0.0.2")
	srv := e.smtp("127.0.0.2", opts...)
	return e, srv, &Relay{Addr: fmt.Sprintf("relay.test:%d", e.port), Username: "app", Password: "s3cret"}
}

func withRelay(rl *Relay, mod ...func(*Options)) func(*Options) {
	return func(o *Options) {
		o.Relay = rl
		for _, m := range mod {
			m(o)
		}
	}
}

func TestRelaySTARTTLSAuthPlain(t *testing.T) {
	srvCfg := selfSigned(t, "relay.test")
	e, srv, rl := relayEnv(t, smtptest.WithTLS(srvCfg), smtptest.WithAuth("app", "s3cret"))
	d := e.deliverer(withRelay(rl, func(o *Options) { o.RootCAs = rootsFor(t, srvCfg) }))
	rs := d.Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test", "b@nowhere.test"))
	wantAll(t, rs, 2, 250, "2.0.0", StageData)
	m := srv.Messages()
	if len(m) != 1 || m[0].Auth != "app" || !m[0].TLS || !rs[0].TLS || rs[0].MX != "relay.test" {
		t.Errorf("server got %+v; result %+v", m, rs[0])
	}
	// The relay is one destination for every domain: the connection is reused.
	wantAll(t, d.Deliver(ctxT(t), job("elsewhere.test", "c@elsewhere.test")), 1, 250, "2.0.0", StageData)
	if srv.Conns() != 1 {
		t.Errorf("%d connections, want 1", srv.Conns())
	}
}

// TestRelayWrongPassword: the relay's 535 is every recipient's result,
// classified like any reply (policy calls it auth_failure).
func TestRelayWrongPassword(t *testing.T) {
	srvCfg := selfSigned(t, "relay.test")
	e, srv, rl := relayEnv(t, smtptest.WithTLS(srvCfg), smtptest.WithAuth("app", "other"))
	d := e.deliverer(withRelay(rl, func(o *Options) { o.RootCAs = rootsFor(t, srvCfg) }))
	rs := d.Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test", "b@nowhere.test"))
	wantAll(t, rs, 2, 535, "5.7.8", StageAuth)
	if len(srv.Messages()) != 0 {
		t.Error("a message went through")
	}
}

func TestRelayAuthLogin(t *testing.T) {
	srvCfg := selfSigned(t, "relay.test")
	e, srv, rl := relayEnv(t, smtptest.WithTLS(srvCfg), smtptest.WithAuth("app", "s3cret"),
		smtptest.WithAuthMechanisms("LOGIN"))
	d := e.deliverer(withRelay(rl, func(o *Options) { o.RootCAs = rootsFor(t, srvCfg) }))
	wantAll(t, d.Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test")), 1, 250, "2.0.0", StageData)
	if m := srv.Messages(); len(m) != 1 || m[0].Auth != "app" {
		t.Errorf("server got %+v", m)
	}
}

func TestRelayImplicitTLSPasswordFile(t *testing.T) {
	srvCfg := selfSigned(t, "relay.test")
	e, srv, rl := relayEnv(t, smtptest.WithImplicitTLS(srvCfg), smtptest.WithAuth("app", "s3cret"))
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rl.Password, rl.PasswordFile, rl.TLS = "", file, RelayImplicit
	d := e.deliverer(withRelay(rl, func(o *Options) { o.RootCAs = rootsFor(t, srvCfg) }))
	rs := d.Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if m := srv.Messages(); len(m) != 1 || m[0].Auth != "app" || !rs[0].TLS {
		t.Errorf("server got %+v, result TLS %v", m, rs[0].TLS)
	}
}

// TestRelayPlainLoopback: relay_tls "none" (conf allows it with
// credentials only on loopback).
func TestRelayPlainLoopback(t *testing.T) {
	e, srv, rl := relayEnv(t, smtptest.WithAuth("app", "s3cret"), smtptest.WithInsecureAuth())
	rl.TLS = RelayNoTLS
	rs := e.deliverer(withRelay(rl)).Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test"))
	wantAll(t, rs, 1, 250, "2.0.0", StageData)
	if m := srv.Messages(); len(m) != 1 || m[0].Auth != "app" || m[0].TLS {
		t.Errorf("server got %+v", m)
	}
}

// TestRelayWithoutSTARTTLS: credentials never go in plain text: with
// relay_tls "starttls" a relay that does not offer it gets nothing (4.7.4).
func TestRelayWithoutSTARTTLS(t *testing.T) {
	e, srv, rl := relayEnv(t, smtptest.WithAuth("app", "s3cret"), smtptest.WithInsecureAuth())
	rs := e.deliverer(withRelay(rl)).Deliver(ctxT(t), job("nowhere.test", "a@nowhere.test"))
	wantAll(t, rs, 1, 0, "4.7.4", StageTLS)
	if len(srv.Messages()) != 0 {
		t.Error("sent without TLS")
	}
}

// TestRelayRepliesClassified: a relay's RCPT refusal is that recipient's.
func TestRelayRepliesClassified(t *testing.T) {
	e, _, rl := relayEnv(t, smtptest.WithRcpt(func(to string) error {
		if to == "bad@nowhere.test" {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}))
	rl.TLS, rl.Username, rl.Password = RelayNoTLS, "", ""
	rs := e.deliverer(withRelay(rl)).Deliver(ctxT(t), job("nowhere.test", "bad@nowhere.test", "ok@nowhere.test"))
	want(t, rs[0], 550, "5.1.1", StageRcpt)
	want(t, rs[1], 250, "2.0.0", StageData)
}

// TestRelayTroubleIsSoft: a relay that does not resolve, or loops back to
// us, is our configuration's problem: soft, never a bounce.
func TestRelayTroubleIsSoft(t *testing.T) {
	e := newEnv(t)
	rl := &Relay{Addr: fmt.Sprintf("missing.test:%d", e.port), TLS: RelayNoTLS}
	rs := e.deliverer(withRelay(rl)).Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.3", StageResolve)

	loop := &Relay{Addr: "127.0.0.1:2525", TLS: RelayNoTLS}
	rs = e.deliverer(withRelay(loop), func(o *Options) { o.Self = []string{"127.0.0.1:2525"} }).
		Deliver(ctxT(t), job("x.test", "a@x.test"))
	wantAll(t, rs, 1, 0, "4.4.6", StageResolve)
}

// TestRelayReuseUncapped: the per-address cap is not the relay's, for
// reused connections as for new ones: with the relay's address at its
// cap, jobs in a row still share one connection.
func TestRelayReuseUncapped(t *testing.T) {
	e, srv, rl := relayEnv(t, smtptest.WithAuth("app", "s3cret"), smtptest.WithInsecureAuth())
	rl.TLS = RelayNoTLS
	d := e.deliverer(withRelay(rl, func(o *Options) { o.MaxConnsPerIP = 1 }))
	if !d.ips.acquire(net.ParseIP("127.0.0.2")) { // another job's connection, say
		t.Fatal("acquire")
	}
	for i := range 3 {
		wantAll(t, d.Deliver(ctxT(t), job("nowhere.test", fmt.Sprintf("u%d@nowhere.test", i))), 1, 250, "2.0.0", StageData)
	}
	if srv.Conns() != 1 || len(srv.Messages()) != 3 {
		t.Errorf("%d connections, %d messages; want 1, 3", srv.Conns(), len(srv.Messages()))
	}
}
