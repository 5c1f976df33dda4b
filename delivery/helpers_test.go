package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// env is a fake Internet on loopback: one DNS server and SMTP servers on
// 127.0.0.2, 127.0.0.3, ... all on one port.
type env struct {
	t    *testing.T
	dns  *dnstest.Server
	port int
	logs *observer.ObservedLogs
}

// mxIPs are the addresses test exchangers listen on.
var mxIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, dns: dnstest.New(t), port: smtptest.FreePort(t, mxIPs...)}
}

// smtp starts an exchanger on ip at the shared port.
func (e *env) smtp(ip string, opts ...smtptest.Option) *smtptest.Server {
	e.t.Helper()
	return smtptest.New(e.t, fmt.Sprintf("%s:%d", ip, e.port), opts...)
}

// deliverer returns a Deliverer using the env's DNS server, short timeouts
// and an observed Debug logger.
func (e *env) deliverer(mod ...func(*Options)) *Deliverer {
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	opts := Options{
		Hostname:        "out.mtaq.test",
		Port:            e.port,
		Resolver:        NewResolver([]string{e.dns.Addr()}, WithQueryTimeout(2*time.Second)),
		Logger:          zap.New(core),
		ConnectTimeout:  2 * time.Second,
		GreetingTimeout: 3 * time.Second,
		CommandTimeout:  3 * time.Second,
		DataTimeout:     3 * time.Second,
	}
	for _, m := range mod {
		m(&opts)
	}
	d := New(opts)
	e.t.Cleanup(d.Close)
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func job(domain string, rcpts ...string) Job {
	return Job{
		MessageID: "m1",
		Domain:    domain,
		Sender:    "app@sender.test",
		Rcpts:     rcpts,
		Body:      []byte("Subject: hi\r\n\r\nhello\r\n"),
	}
}

// want checks the fields of r a sender acts on.
func want(t *testing.T, r Result, code int, enhanced string, stage Stage) {
	t.Helper()
	if r.Code != code || r.Enhanced != enhanced || r.Stage != stage {
		t.Errorf("%s: got %d %q stage %s (%q, err %v); want %d %q stage %s",
			r.Rcpt, r.Code, r.Enhanced, r.Stage, r.Text, r.Err, code, enhanced, stage)
	}
}

func wantAll(t *testing.T, rs []Result, n, code int, enhanced string, stage Stage) {
	t.Helper()
	if len(rs) != n {
		t.Fatalf("got %d results, want %d", len(rs), n)
	}
	for _, r := range rs {
		want(t, r, code, enhanced, stage)
	}
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
