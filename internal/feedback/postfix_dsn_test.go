package feedback

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
)

// postfixBin is Debian's Postfix (package postfix; .ci/run installs it).
const postfixBin = "/usr/sbin/postfix"

// postfixScenarios are the bounces postfixBounce can make: the recipient
// the original message goes to and, in comments, what Postfix does.
var postfixScenarios = map[string]string{
	// local(8) finds no such account: "unknown user", 5.1.1
	"unknown-local-user": "No.Such.User@local.postfix.test",
	// the next hop (our sink) answers 550 5.1.1 to RCPT
	"remote-550": "Jane.Doe+news@users.example.net",
}

// postfixSender is the original message's envelope sender: the DSN goes
// back to it, and the sink keeps what arrives for its domain.
const postfixSender = "app@sender.example"

// postfixBounce runs a private Postfix instance (its own config and queue
// directories in a temporary directory, loopback only) that relays to an
// in-test SMTP sink, sends it one message that must bounce as scenario
// says, and returns the bounce Postfix sends back to the sender, byte for
// byte as the sink received it. Postfix is stopped before it returns.
//
// Without /usr/sbin/postfix or root (Postfix's master must start as root)
// the test is skipped, unless MTAQ_E2E_TOOLS=require (CI), where it fails.
func postfixBounce(t *testing.T, scenario string) []byte {
	t.Helper()
	rcpt, ok := postfixScenarios[scenario]
	if !ok {
		t.Fatalf("postfixBounce: unknown scenario %q", scenario)
	}
	if _, err := os.Stat(postfixBin); err != nil {
		postfixMissing(t, "Postfix not installed (Debian package postfix; .ci/run installs it): "+err.Error())
	}
	if os.Getuid() != 0 {
		postfixMissing(t, "a private Postfix instance must be started as root")
	}

	sink := smtptest.New(t, fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t)),
		smtptest.WithRcpt(func(to string) error {
			if strings.HasSuffix(strings.ToLower(to), "@users.example.net") {
				return smtptest.Reply(550, "5.1.1", "<"+to+">: Recipient address rejected: User unknown")
			}
			return nil
		}))
	listen := fmt.Sprintf("127.0.0.1:%d", smtptest.FreePort(t))
	dir := postfixStart(t, listen, sink.Addr())

	smtptest.SubmitMessage(t, listen, postfixSender, nil,
		"From: App <"+postfixSender+">\r\nTo: "+rcpt+"\r\nSubject: order 4711\r\n"+
			"Message-ID: <order-4711@sender.example>\r\n\r\nThank you for your order.\r\n", rcpt)

	var dsn []byte
	waitfor.NoError(t, func() error {
		for _, m := range sink.Messages() {
			if len(m.To) == 1 && m.To[0] == postfixSender {
				dsn = m.Data
				return nil
			}
		}
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		return fmt.Errorf("no bounce for %s at the sink yet; Postfix's log:\n%s", rcpt, log)
	})
	postfixStop(t, dir)
	return dsn
}

// postfixMissing skips, or fails under MTAQ_E2E_TOOLS=require: CI must not
// pass by skipping.
func postfixMissing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// postfixStart writes main.cf and master.cf for an instance listening on
// listen and relaying everything to relay, starts it with `postfix -c DIR
// start` and returns DIR; a cleanup stops it (postfixStop) if the test
// ends early. Nothing under /etc/postfix or /var/spool/postfix is touched.
func postfixStart(t *testing.T, listen, relay string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mtaq-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	// Postfix's daemons run as user postfix and must reach their directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("chown postfix: %v: %s", err, out)
	}
	mainCf := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + dir + "/spool",
		"data_directory = " + dir + "/data",
		"maillog_file = " + dir + "/maillog",
		"maillog_file_prefixes = " + dir,
		"mail_owner = postfix",
		"setgid_group = postdrop",
		"myhostname = mta.postfix.test",
		"mydomain = postfix.test",
		"myorigin = $mydomain",
		"mydestination = local.postfix.test",
		"alias_maps =",
		"alias_database =",
		// accept every local address at SMTP, so that local(8) bounces it
		"local_recipient_maps =",
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"relayhost = [" + strings.Replace(relay, ":", "]:", 1),
		"smtputf8_enable = no",
		"biff = no",
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
		"",
	}, "\n")
	masterCf := listen + " inet n - n - - smtpd\n" + `cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`
	for name, text := range map[string]string{"main.cf": mainCf, "master.cf": masterCf} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		postfixStop(t, dir)
		os.RemoveAll(dir)
	})
	// "postfix start" runs "postfix check" first.
	cmd := exec.Command(postfixBin, "-c", filepath.Join(dir, "etc"), "start")
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v: %s\n%s", err, out, log)
	}
	waitfor.NoError(t, func() error {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return fmt.Errorf("postfix does not listen on %s: %w", listen, err)
		}
		return c.Close()
	})
	return dir
}

// postfixStop stops the instance in dir with `postfix -c DIR stop` and
// waits for its master (by the PID in its pid file) to exit, killing it
// after 10 s. Stopping a stopped instance does nothing.
func postfixStop(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "spool", "pid", "master.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || syscall.Kill(pid, 0) != nil {
		return
	}
	_ = exec.Command(postfixBin, "-c", filepath.Join(dir, "etc"), "stop").Run()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("postfix master %d did not stop within 10 s; killed", pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostfixBounceIsAReport: Debian's Postfix, bouncing a message to an
// unknown local user, sends a multipart/report naming the recipient. The
// parser's own tests take the bytes from postfixBounce.
func TestPostfixBounceIsAReport(t *testing.T) {
	for _, scenario := range []string{"unknown-local-user", "remote-550"} {
		t.Run(scenario, func(t *testing.T) {
			dsn := postfixBounce(t, scenario)
			rcpt := postfixScenarios[scenario]
			for _, want := range []string{
				"Content-Type: multipart/report; report-type=delivery-status;",
				"Content-Type: message/delivery-status",
				"Final-Recipient: rfc822; " + rcpt,
				"Action: failed",
				"Status: 5.1.1",
				"Message-ID: <order-4711@sender.example>",
			} {
				if !bytes.Contains(dsn, []byte(want)) {
					t.Errorf("bounce lacks %q:\n%s", want, dsn)
				}
			}
		})
	}
}
