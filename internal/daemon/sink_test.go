package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// startSink runs Postfix's smtp-sink(1) on addr with extra fault options,
// dumping each received message into dir; it is stopped by PID at cleanup.
func startSink(t *testing.T, addr, dir string, opts ...string) {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/smtp-sink"); err != nil {
			missingTool(t, "smtp-sink not installed (Debian package postfix; .ci/run installs it)")
		}
	}
	args := []string{"-d", filepath.Join(dir, "%Y%m%d%H%M%S.")}
	if os.Getuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	args = append(append(args, opts...), addr, "64")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with a killed go test
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitfor.NoError(t, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("smtp-sink %v does not listen on %s: %w", opts, addr, err)
		}
		c.Close()
		return nil
	})
}

// waitFinalOr waits for state want, failing early with the recipient's last
// reply when it settles elsewhere.
func (n *internet) waitFinalOr(id string, want queue.State) queue.Recipient {
	n.t.Helper()
	var r queue.Recipient
	waitfor.NoError(n.t, func() error {
		m, err := n.d.Store().Message(context.Background(), id)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		r = m.Recipients[0]
		if r.State == want {
			return nil
		}
		if r.Attempts > 0 && r.State != queue.Queued {
			n.t.Fatalf("%s: %s, last reply %+v; want %s", r.Address, r.State, r.LastReply, want)
		}
		return fmt.Errorf("%s: %s, want %s", id, r.State, want)
	})
	return r
}

// dumped counts the messages smtp-sink stored. It opens a dump file at MAIL
// and fills it at the final dot, so a transaction whose recipients were all
// refused leaves an empty file while its connection waits in our idle pool.
func dumped(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if fi, err := e.Info(); err == nil && fi.Size() > 0 {
			n++
		}
	}
	return n
}

// TestAgainstSmtpSink delivers to Postfix's smtp-sink, a real SMTP server
// from another code base, in its normal mode and with its fault options:
// 4xx and 5xx at RCPT, 421 at RCPT, and the connection dropped after the
// final dot before any reply.
func TestAgainstSmtpSink(t *testing.T) {
	n := newInternet(t)
	sinks := []struct {
		domain, ip string
		opts       []string
		want       queue.State
		code       int
		enhanced   string
	}{
		{"ok.sink", "127.0.0.2", nil, queue.Delivered, 250, ""},
		{"soft.sink", "127.0.0.3", []string{"-r", "RCPT"}, queue.Deferred, 450, "4.3.0"},
		{"hard.sink", "127.0.0.4", []string{"-f", "RCPT"}, queue.Failed, 500, "5.3.0"},
		{"busy.sink", "127.0.0.5", []string{"-Q", "RCPT"}, queue.Deferred, 421, ""},
		{"drop.sink", "127.0.0.6", []string{"-q", "."}, queue.Deferred, 0, "4.4.2"},
	}
	dirs := map[string]string{}
	for _, s := range sinks {
		// smtp-sink runs as nobody when started by root: its dump directory
		// and every parent must be reachable for that user (t.TempDir's
		// parent is 0700).
		dir, err := os.MkdirTemp("", "mtaq-sink-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o777)
		dirs[s.domain] = dir
		n.dns.MX(s.domain, 10, "mx."+s.domain)
		n.dns.A("mx."+s.domain, s.ip)
		startSink(t, fmt.Sprintf("%s:%d", s.ip, n.port), dir, s.opts...)
	}
	for _, s := range sinks {
		t.Run(s.domain, func(t *testing.T) {
			id := n.send("app@sender.test", "user@"+s.domain)
			if m, _ := n.d.Store().Message(context.Background(), id); m != nil && false {
			}
			r := n.waitFinalOr(id, s.want)
			if r.LastReply == nil || r.LastReply.Code != s.code || (s.enhanced != "" && r.LastReply.Enhanced != s.enhanced) {
				t.Fatalf("last reply %+v, want %d %s", r.LastReply, s.code, s.enhanced)
			}
			got := dumped(t, dirs[s.domain])
			if want := map[bool]int{true: 1, false: 0}[s.want == queue.Delivered]; got != want && s.domain != "drop.sink" {
				t.Fatalf("sink stored %d messages, want %d", got, want)
			}
			t.Logf("%s: %s after %d attempt(s), last reply %d %s %q", s.domain, r.State, r.Attempts,
				r.LastReply.Code, r.LastReply.Enhanced, r.LastReply.Text)
		})
	}
}
