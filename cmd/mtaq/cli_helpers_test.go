package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/daemon"
	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// cliNet is a daemon started in-process on a fake Internet, and the path
// of the config file the CLI finds it by.
type cliNet struct {
	t    testing.TB
	d    *daemon.Daemon
	dns  *dnstest.Server
	port int
	cfg  string
}

func newCLINet(t testing.TB) *cliNet { return newCLINetWith(t, "") }

// newCLINetWith is newCLINet with more TOML (whole tables) in the file.
func newCLINetWith(t testing.TB, extra string) *cliNet {
	t.Helper()
	dir, err := os.MkdirTemp("", "mtaq") // short: unix socket paths are < 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &cliNet{t: t, dns: dnstest.New(t), port: smtptest.FreePort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")}
	n.cfg = filepath.Join(dir, "mtaq.toml")
	toml := fmt.Sprintf(`hostname = "mtaq.test"
data_dir = %q
[submission]
listen = ["127.0.0.1:0"]
[delivery]
dns_servers = [%q]
port = %d
[dsn]
enabled = false  # the queue listings below hold the tests' own messages only
`, filepath.Join(dir, "data"), n.dns.Addr(), n.port) + extra
	if err := os.WriteFile(n.cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := conf.Load(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.d, err = daemon.Start(daemon.Options{Config: c, Rand: func() float64 { return 0.5 },
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.d.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return n
}

func (n *cliNet) mx(domain, ip string, opts ...smtptest.Option) *smtptest.Server {
	n.dns.MX(domain, 10, "mx."+domain)
	n.dns.A("mx."+domain, ip)
	return smtptest.New(n.t, fmt.Sprintf("%s:%d", ip, n.port), opts...)
}

func (n *cliNet) send(to ...string) string {
	n.t.Helper()
	return smtptest.Submit(n.t, n.d.Addrs()[0].String(), "app@sender.test", to...)
}

// wait polls until id's first recipients are in the states want.
func (n *cliNet) wait(id string, want ...queue.State) {
	n.t.Helper()
	waitfor.NoError(n.t, func() error {
		m, err := n.d.Store().Message(context.Background(), id)
		if err != nil {
			return err
		}
		for i, st := range want {
			if m.Recipients[i].State != st {
				return fmt.Errorf("%s: %+v, want %v", id, m.Recipients, want)
			}
		}
		return nil
	})
}

// run executes the CLI as main does and returns stdout, stderr and the
// exit status.
func (n *cliNet) run(stdin io.Reader, args ...string) (string, string, int) {
	n.t.Helper()
	return runCLI(stdin, append(args, "--config", n.cfg)...)
}

func runCLI(stdin io.Reader, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	cmd := rootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if stdin != nil {
		cmd.SetIn(stdin)
	}
	code := 0
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(&errb, "mtaq:", err)
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (n *cliNet) ok(args ...string) string {
	n.t.Helper()
	out, errs, code := n.run(nil, args...)
	if code != 0 {
		n.t.Fatalf("mtaq %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}
