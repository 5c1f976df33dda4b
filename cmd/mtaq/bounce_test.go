package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/internal/unprivtest"
	"github.com/mtaq/mtaq/queue"
)

// TestBounceReceive: an operator's inbound MX pipes a DSN to `mtaq bounce
// receive`; it is applied through the daemon and listed by `bounce ls`,
// and the exit status tells the pipe transport what to do.
func TestBounceReceive(t *testing.T) {
	n := newCLINetWith(t, `[bounce]
return_path_domains = { "sender.test" = "bounce.sender.test" }
`)
	corp := n.mx("corp.test", "127.0.0.2")
	id := n.send("ann@corp.test")
	n.wait(id, queue.Delivered)
	token := corp.Messages()[0].From
	dsn := strings.ReplaceAll(fmt.Sprintf(`From: Mail Delivery System <MAILER-DAEMON@mx.corp.test>
To: %s
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="x"

--x
Content-Type: text/plain

The mail system

<ann@corp.test>: unknown user

--x
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.corp.test

Final-Recipient: rfc822; ann@corp.test
Action: failed
Status: 5.1.1
Diagnostic-Code: x-unix; unknown user: "ann"

--x--
`, token), "\n", "\r\n")

	out, errs, code := n.run(strings.NewReader(dsn), "bounce", "receive", "--recipient", token)
	if code != 0 || !strings.Contains(out, "ann@corp.test: matched "+id+", suppressed") {
		t.Fatalf("bounce receive: exit %d\n%s%s", code, out, errs)
	}
	if out := n.ok("suppress", "show", "ann@corp.test"); !strings.Contains(out, "hard_bounce") {
		t.Fatalf("suppress show:\n%s", out)
	}
	// The same report again (the pipe was retried): nothing changes twice.
	if _, errs, code := n.run(strings.NewReader(dsn), "bounce", "receive", "--recipient", token); code != 0 {
		t.Fatalf("repeat: exit %d: %s", code, errs)
	}
	if out := n.ok("bounce", "ls"); strings.Count(out, "ann@corp.test") != 1 || !strings.Contains(out, id) {
		t.Fatalf("bounce ls lists the report %d times, want once:\n%s", strings.Count(out, "ann@corp.test"), out)
	}
	// Not an email: EX_DATAERR, retrying will not help.
	if _, errs, code := n.run(strings.NewReader("\x00\x01\x02 not mail at all"), "bounce", "receive"); code != exitDataErr {
		t.Fatalf("garbage: exit %d, want %d: %s", code, exitDataErr, errs)
	}
	// A report nobody can match is kept and listed, and exits 0.
	if out, errs, code := n.run(strings.NewReader(strings.ReplaceAll(dsn, token, "someone@else.test")), "bounce",
		"receive"); code != 0 || !strings.Contains(out, "unmatched") {
		t.Fatalf("unmatched: exit %d\n%s%s", code, out, errs)
	}
	if out := n.ok("bounce", "ls", "--unmatched"); !strings.Contains(out, queue.NoMatchNoMessage) {
		t.Fatalf("bounce ls --unmatched:\n%s", out)
	}
	// The daemon is down: EX_TEMPFAIL, so the MTA keeps the report and
	// retries.
	down := filepath.Join(t.TempDir(), "down.toml")
	if err := os.WriteFile(down, []byte(fmt.Sprintf("hostname = \"x.test\"\ndata_dir = %q\n", t.TempDir())), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runCLI(strings.NewReader(dsn), "bounce", "receive", "--config", down); code != exitTempFail {
		t.Fatalf("daemon down: exit %d, want %d: %s", code, exitTempFail, errs)
	}
}

// TestBounceReceiveAsPipeUser: a pipe transport runs `mtaq bounce receive`
// as an unprivileged user. Without access to the admin socket it exits 75
// (the MTA keeps the report and retries) and says why; as a member of
// [admin] group, with data_dir traversable by that group, it is applied.
func TestBounceReceiveAsPipeUser(t *testing.T) {
	u := unprivtest.Get(t)
	g, err := user.LookupGroupId(strconv.Itoa(int(u.GID)))
	if err != nil {
		t.Fatal(err)
	}
	n := newCLINetWith(t, fmt.Sprintf(`[bounce]
return_path_domains = { "sender.test" = "bounce.sender.test" }
[admin]
group = %q
`, g.Name))
	bin := buildMtaq(t)
	unprivtest.Traversable(t, bin)
	unprivtest.Traversable(t, n.cfg)
	if err := os.Chmod(n.cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	corp := n.mx("corp.test", "127.0.0.2")
	id := n.send("bea@corp.test")
	n.wait(id, queue.Delivered)
	token := corp.Messages()[0].From
	dsn := "From: MAILER-DAEMON@mx.corp.test\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.corp.test\r\n\r\n" +
		"Final-Recipient: rfc822; bea@corp.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--x--\r\n"
	receive := func() (int, string) {
		cmd := u.Command(t.Context(), bin, "bounce", "receive", "--config", n.cfg, "--recipient", token)
		cmd.Stdin = strings.NewReader(dsn)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := receive(); code != exitTempFail || !strings.Contains(out, "permission denied") {
		t.Fatalf("without access: exit %d: %s; want %d and the reason", code, out, exitTempFail)
	}
	dataDir := filepath.Join(filepath.Dir(n.cfg), "data")
	if err := os.Chown(dataDir, 0, int(u.GID)); err != nil {
		t.Fatal(err)
	}
	if code, out := receive(); code != 0 || !strings.Contains(out, "matched "+id) {
		t.Fatalf("as a member of [admin] group: exit %d: %s", code, out)
	}
	if out := n.ok("suppress", "show", "bea@corp.test"); !strings.Contains(out, "hard_bounce") {
		t.Fatalf("suppress show:\n%s", out)
	}
}
