// Package postfixtest runs a private instance of Debian's Postfix for
// tests: its own configuration, queue and log in a temporary directory,
// listening on one loopback address and relaying to another, started with
// `postfix -c DIR start` and stopped by its master's PID. It owns the
// instance's files and lifetime; it touches nothing under /etc/postfix or
// /var/spool/postfix, and it does not install Postfix (.ci/run does).
package postfixtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bin is Debian's Postfix (package postfix).
const Bin = "/usr/sbin/postfix"

// Options describe an instance.
type Options struct {
	// Listen is the smtpd address, "127.0.0.2:2525".
	Listen string
	// Relay ("host:port") gets every message not for a local domain.
	Relay string
	// Hostname is myhostname (the DSNs' Reporting-MTA); default
	// mta.postfix.test.
	Hostname string
	// LocalDomains are mydestination: local(8) delivers to them, and
	// with no local_recipient_maps accepts every address at SMTP, then
	// bounces unknown users. Default local.postfix.test.
	LocalDomains []string
	// LocalRecipients, when set, are the only local users (by local
	// part): smtpd refuses others at RCPT with 550 5.1.1, as a Postfix
	// with local_recipient_maps does. Empty: every address is accepted.
	LocalRecipients []string
}

// Instance is a running Postfix.
type Instance struct {
	Dir string
}

// Require skips t when Postfix cannot run here (not installed, or not
// root: its master must start as root), or fails it under
// MTAQ_E2E_TOOLS=require, where CI must not pass by skipping.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if _, err := os.Stat(Bin); err != nil {
		why = "Postfix not installed (Debian package postfix; .ci/run installs it): " + err.Error()
	} else if os.Getuid() != 0 {
		why = "a private Postfix instance must be started as root"
	}
	if why == "" {
		return
	}
	if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Start writes the instance's main.cf and master.cf, starts it, waits
// until it listens, and stops it when the test ends.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	Require(t)
	if o.Hostname == "" {
		o.Hostname = "mta.postfix.test"
	}
	if len(o.LocalDomains) == 0 {
		o.LocalDomains = []string{"local.postfix.test"}
	}
	dir, err := os.MkdirTemp("", "mtaq-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	in := &Instance{Dir: dir}
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
	recipients := "" // accept every local address at SMTP, so that local(8) bounces it
	if len(o.LocalRecipients) > 0 {
		pairs := make([]string, len(o.LocalRecipients))
		for i, r := range o.LocalRecipients {
			pairs[i] = r + "=ok"
		}
		recipients = "inline:{" + strings.Join(pairs, ", ") + "}"
	}
	mainCf := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + dir + "/spool",
		"data_directory = " + dir + "/data",
		"maillog_file = " + dir + "/maillog",
		"maillog_file_prefixes = " + dir,
		"mail_owner = postfix",
		"setgid_group = postdrop",
		"myhostname = " + o.Hostname,
		"mydomain = postfix.test",
		"myorigin = $mydomain",
		"mydestination = " + strings.Join(o.LocalDomains, ", "),
		"alias_maps =",
		"alias_database =",
		"local_recipient_maps = " + recipients,
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"relayhost = [" + strings.Replace(o.Relay, ":", "]:", 1),
		"smtputf8_enable = no",
		"biff = no",
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
		"",
	}, "\n")
	masterCf := o.Listen + " inet n - n - - smtpd\n" + `cleanup   unix  n - n - 0 cleanup
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
		in.Stop(t)
		os.RemoveAll(dir)
	})
	// "postfix start" runs "postfix check" first.
	cmd := exec.Command(Bin, "-c", filepath.Join(dir, "etc"), "start")
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v: %s\n%s", err, out, in.Log())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", o.Listen, time.Second)
		if err == nil {
			c.Close()
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix does not listen on %s: %v\n%s", o.Listen, err, in.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns the instance's mail log so far.
func (in *Instance) Log() string {
	b, _ := os.ReadFile(filepath.Join(in.Dir, "maillog"))
	return string(b)
}

// Stop stops the instance with `postfix -c DIR stop` and waits for its
// master (by the PID in its pid file) to exit, killing it after 10 s.
// Stopping a stopped instance does nothing.
func (in *Instance) Stop(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(in.Dir, "spool", "pid", "master.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || syscall.Kill(pid, 0) != nil {
		return
	}
	_ = exec.Command(Bin, "-c", filepath.Join(in.Dir, "etc"), "stop").Run()
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
