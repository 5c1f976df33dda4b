package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/mtaq/mtaq/internal/dnstest"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestReloadUnderLoad is issue 20's reload check: 50 authenticated
// sessions keep sending while the users file and an operator rule change
// and `mtaq reload` runs. No session is refused or dropped and every
// message gets its 250; the new user can log in afterwards, not before;
// the new rule decides the next reply; a restart-only change is named and
// not applied; a broken configuration is refused with the old one kept.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon process")
	}
	const sessions, perSession = 50, 6
	dns := dnstest.New(t)
	port := smtptest.FreePort(t, "127.0.0.13")
	dns.MX("ok.test", 10, "mx.ok.test")
	dns.A("mx.ok.test", "127.0.0.13")
	// Every recipient of this MX gets a reply the built-in rules read as
	// a hard, sender-side failure; the operator rule added below makes it
	// a soft one.
	smtptest.New(t, fmt.Sprintf("127.0.0.13:%d", port), smtptest.WithRcpt(func(to string) error {
		if strings.HasPrefix(to, "probe") {
			return smtptest.Reply(550, "5.7.1", "Message refused: weekly allowance XYZZY used up")
		}
		return nil
	}))
	dir := t.TempDir()
	cert := smtptest.SelfSigned(t, "127.0.0.1")
	certFile, keyFile := cert.WriteFiles(t, dir)
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	usersFile := filepath.Join(dir, "users")
	os.WriteFile(usersFile, []byte("alice:"+hash("alice-pw")+"\n"), 0o600)
	listen := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
	tlsListen := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t, "127.0.0.1"))
	cfg := filepath.Join(dir, "mtaq.toml")
	config := func(jitter, extra string) {
		toml := fmt.Sprintf(`hostname = "mtaq.test"
data_dir = %q
[submission]
listen = [%q]
submission_listen = [%q]
tls_cert = %q
tls_key = %q
users_file = %q
[delivery]
dns_servers = [%q]
port = %d
[retry]
first = "1h"
max = "2h"
expire = "3h"
jitter = %s
[dsn]
enabled = false
`, filepath.Join(dir, "data"), listen, tlsListen, certFile, keyFile, usersFile, dns.Addr(), port, jitter) + extra
		if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config("0.1", "")
	logPath := filepath.Join(dir, "mtaq.log")
	p := startDaemon(t, cfg, listen, logPath)
	defer p.kill(syscall.SIGTERM)

	login := func(user, pw string) (*smtp.Client, error) {
		c, err := smtp.DialStartTLS(tlsListen, &tls.Config{RootCAs: cert.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		if err := c.Auth(sasl.NewPlainClient("", user, pw)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	send := func(c *smtp.Client, to string) (string, error) {
		if err := c.Mail("app@sender.test", nil); err != nil {
			return "", err
		}
		if err := c.Rcpt(to, nil); err != nil {
			return "", err
		}
		w, err := c.Data()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(w, "Subject: reload\r\n\r\nbody\r\n")
		resp, err := w.CloseWithResponse()
		if err != nil {
			return "", err
		}
		m := smtptest.QueuedAs.FindStringSubmatch(resp.StatusText)
		if m == nil {
			return "", fmt.Errorf("reply %q names no queue ID", resp.StatusText)
		}
		return m[1], nil
	}
	if _, err := login("bob", "bob-pw"); err == nil {
		t.Fatal("bob logged in before the reload added him")
	}
	before := firstID(t, login, send, "probe1@ok.test")

	// 50 sessions log in and send; half-way, the files change and mtaq
	// reload runs while they are all connected.
	var acked, failed atomic.Int64
	var ready, wg sync.WaitGroup
	reloaded := make(chan struct{})
	ready.Add(sessions)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := login("alice", "alice-pw")
			ready.Done()
			if err != nil {
				failed.Add(1)
				t.Errorf("session %d: %v", i, err)
				return
			}
			defer c.Close()
			for n := range perSession {
				if n == perSession/2 {
					<-reloaded
				}
				if _, err := send(c, fmt.Sprintf("user%d-%d@ok.test", i, n)); err != nil {
					failed.Add(1)
					t.Errorf("session %d message %d: %v", i, n, err)
					return
				}
				acked.Add(1)
			}
			if err := c.Quit(); err != nil {
				t.Errorf("session %d quit: %v", i, err)
			}
		}()
	}
	ready.Wait()
	os.WriteFile(usersFile, []byte("alice:"+hash("alice-pw")+"\nbob:"+hash("bob-pw")+"\n"), 0o600)
	config("0.2", `
[[policy.rule]]
name = "weekly-allowance-is-temporary"
text = "XYZZY"
class = "soft"
category = "rate_limited"
`)
	out, errs, code := runCLI(nil, "reload", "--config", cfg)
	close(reloaded)
	if code != 0 || !strings.Contains(out, "policy.rule") || !strings.Contains(out, "submission users") {
		t.Errorf("mtaq reload: exit %d: %s%s", code, out, errs)
	}
	wg.Wait()
	t.Logf("mtaq reload said: %s", strings.TrimSpace(out))
	t.Logf("%d sessions, %d messages acknowledged, %d failures across the reload", sessions, acked.Load(), failed.Load())
	if acked.Load() != sessions*perSession || failed.Load() != 0 {
		t.Fatalf("%d of %d messages acknowledged", acked.Load(), sessions*perSession)
	}
	if !strings.Contains(out, "needs a restart") || !strings.Contains(out, "retry") {
		t.Errorf("the retry change was not named as needing a restart: %q", out)
	}

	// The new user logs in; the new rule reads the next reply.
	c, err := login("bob", "bob-pw")
	if err != nil {
		t.Fatalf("bob after the reload: %v", err)
	}
	c.Close()
	after := firstID(t, login, send, "probe2@ok.test")
	st := func(id string) queue.State {
		out, _, _ := runCLI(nil, "queue", "show", id, "--json", "--config", cfg)
		for _, s := range []queue.State{queue.Failed, queue.Deferred, queue.Bounced, queue.Delivered} {
			if strings.Contains(out, `"state": "`+string(s)+`"`) {
				return s
			}
		}
		return ""
	}
	waitfor.True(t, "both probes answered", func() bool { return st(before) != "" && st(after) != "" })
	if st(before) != queue.Failed || st(after) != queue.Deferred {
		t.Errorf("before the rule %s, after it %s; want failed then deferred", st(before), st(after))
	}
	show, _, _ := runCLI(nil, "queue", "show", after, "--json", "--config", cfg)
	if !strings.Contains(show, `"category": "rate_limited"`) {
		t.Errorf("the rule's category is not in the timeline:\n%s", show)
	}

	// A configuration that does not load is refused (mtaq reload says so
	// before it reaches the daemon; SIGHUP is refused by the daemon) and
	// alice still logs in.
	os.WriteFile(cfg, []byte("this is not toml ["), 0o600)
	if _, errs, code := runCLI(nil, "reload", "--config", cfg); code != 78 || !strings.Contains(errs, "mtaq.toml") {
		t.Errorf("mtaq reload of a broken file: exit %d, %q", code, errs)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitfor.True(t, "the refused reload in the log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "reload refused")
	})
	if c, err := login("alice", "alice-pw"); err != nil {
		t.Errorf("alice after a refused reload: %v", err)
	} else {
		c.Close()
	}
}

// firstID logs in as alice and sends one message to rcpt.
func firstID(t *testing.T, login func(string, string) (*smtp.Client, error), send func(*smtp.Client, string) (string, error), rcpt string) string {
	t.Helper()
	c, err := login("alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := send(c, rcpt)
	if err != nil {
		t.Fatal(errors.Join(fmt.Errorf("sending to %s", rcpt), err))
	}
	return id
}
