package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// TestQueueInspect is an operator looking at what the queue holds: the
// stored message as it will be sent (--body, --raw) through the running
// daemon, --offline refused while the daemon (a real process) holds the
// store, the same answers from the stopped daemon's store, and that
// looking changed nothing: restarted, the daemon delivers the message.
func TestQueueInspect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes")
	}
	pn := newProcNet(t, "later.test", "127.0.0.10")
	dns, port, listen := pn.dns, pn.port, pn.listen
	dir := t.TempDir()
	cfg := writeConfig(t, filepath.Join(dir, "mtaq.toml"), filepath.Join(dir, "data"), listen, dns.Addr(), port, "1s", "2s", "")
	logPath := filepath.Join(dir, "mtaq.log")
	run := func(args ...string) (string, string, int) {
		return runCLI(nil, append(args, "--config", cfg)...)
	}

	// Nobody listens at the MX yet: the message stays queued.
	p := startDaemon(t, cfg, listen, logPath)
	id := smtptest.SubmitMessage(t, listen, "app@sender.test", nil,
		"Subject: inspect me\r\nFrom: app@sender.test\r\n\r\nline one\r\nline two\r\n", "u@later.test")

	raw, errs, code := run("queue", "show", id, "--raw")
	if code != 0 {
		t.Fatalf("show --raw: exit %d: %s", code, errs)
	}
	for _, want := range []string{"Received: from ", "Message-ID: <", "Subject: inspect me\r\n", "\r\n\r\nline one\r\nline two\r\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("--raw lacks %q:\n%q", want, raw)
		}
	}
	body, _, code := run("queue", "show", id, "--body")
	if code != 0 || body != strings.ReplaceAll(raw, "\r\n", "\n") || strings.Contains(body, "\r") {
		t.Errorf("--body (exit %d) is not --raw with LF line ends:\n%q", code, body)
	}
	if _, errs, code := run("queue", "show", id, "--body", "--raw"); code != 2 || !strings.Contains(errs, "choose one") {
		t.Errorf("--body --raw: exit %d, %q", code, errs)
	}

	_, errs, code = run("queue", "ls", "--offline")
	if code != 69 || !strings.Contains(errs, "the daemon holds the queue in "+filepath.Join(dir, "data")) {
		t.Errorf("ls --offline beside a running daemon: exit %d, %q", code, errs)
	}

	p.kill(syscall.SIGTERM)
	_, errs, code = run("queue", "ls")
	if code != 69 {
		t.Errorf("ls without the daemon: exit %d, %q", code, errs)
	}
	ls, errs, code := run("queue", "ls", "--offline")
	if code != 0 || !strings.Contains(ls, id) || !strings.Contains(ls, "u@later.test") {
		t.Errorf("ls --offline after stop: exit %d, %q\n%s", code, errs, ls)
	}
	t.Logf("mtaq queue ls --offline:\n%s", ls)
	off, errs, code := run("queue", "show", id, "--offline", "--raw")
	if code != 0 || off != raw {
		t.Errorf("show --offline --raw: exit %d, %q; differs from the daemon's answer:\n%q", code, errs, off)
	}
	if show, _, code := run("queue", "show", id, "--offline"); code != 0 || !strings.Contains(show, "Subject: inspect me") {
		t.Errorf("show --offline: exit %d\n%s", code, show)
	}

	// Looking changed nothing: the daemon starts on the same store and
	// delivers the message once the MX answers.
	mx := smtptest.New(t, fmt.Sprintf("127.0.0.10:%d", port))
	startDaemon(t, cfg, listen, logPath)
	waitfor.True(t, "the delivery after restart", func() bool { return len(mx.Messages()) == 1 })
	if got := string(mx.Messages()[0].Data); !strings.Contains(got, "Subject: inspect me") {
		t.Errorf("delivered %q", got)
	}
	// The MX has it; the daemon records the delivery (and drops the
	// body) a moment later.
	waitfor.NoError(t, func() error {
		if _, errs, code := run("queue", "show", id, "--raw"); code != 1 || !strings.Contains(errs, "no body any more") {
			return fmt.Errorf("--raw after delivery: exit %d, %q", code, errs)
		}
		return nil
	})
}
