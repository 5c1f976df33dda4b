package daemon

import (
	"context"
	"errors"
	"github.com/mtaq/mtaq/internal/smtptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/queue"
)

// TestSwaks submits through the STARTTLS and implicit TLS listeners with
// swaks, Debian's SMTP test client, as an operator would check a setup.
func TestSwaks(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		missingTool(t, "swaks is not installed (apt-get install swaks libnet-ssleay-perl; .ci/run installs both)")
	}
	if out, _ := exec.Command("swaks", "--support").CombinedOutput(); !strings.Contains(string(out), "=== TLS supported") {
		missingTool(t, "swaks lacks TLS: apt-get install libnet-ssleay-perl (.ci/run installs it)")
	}
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("# name:hash[:senders]\napp2:"+bcryptHash(t, "other")+":@app2.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := newInternet(t, func(c *conf.Config) {
		c.Submission.TrustedNetworks = []string{"192.0.2.0/24"} // the test client is not trusted
		c.Submission.SubmissionListen = []string{"127.0.0.1:0"}
		c.Submission.SMTPSListen = []string{"127.0.0.1:0"}
		c.Submission.TLSCert, c.Submission.TLSKey = cert, key
		c.Submission.UsersFile = users
		c.Submission.Users = []conf.User{{Name: "app1", PasswordHash: bcryptHash(t, "secret")}}
	})
	dest := n.mx("dest.test", 10, "mx.dest.test", "127.0.0.2")
	a := n.d.Addrs() // plain, submission (STARTTLS), smtps
	plain, sub, smtps := a[0].String(), a[1].String(), a[2].String()

	delivered := 0
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
		want string
	}{
		{"STARTTLS and AUTH PLAIN", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "app1", "--auth-password", "secret"}, true, "235 2.0.0"},
		{"implicit TLS and AUTH LOGIN", []string{"--server", smtps, "--tlsc", "--auth", "LOGIN", "--auth-user", "app1", "--auth-password", "secret"}, true, "235 2.0.0"},
		{"users file", []string{"--server", smtps, "--tlsc", "--auth", "PLAIN", "--auth-user", "app2", "--auth-password", "other", "--from", "x@app2.test"}, true, "235 2.0.0"},
		{"wrong password", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "app1", "--auth-password", "nope"}, false, "535 5.7.8 Authentication credentials invalid"},
		{"sender not owned", []string{"--server", smtps, "--tlsc", "--auth", "PLAIN", "--auth-user", "app2", "--auth-password", "other"}, false, "553 5.7.1 Sender address rejected: not owned by user app2"},
		{"no AUTH on 587", []string{"--server", sub, "--tls"}, false, "530 5.7.0 Authentication required"},
		{"no AUTH on the plain listener", []string{"--server", plain}, false, "554 5.7.1 Relay access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := swaks(t, tc.args...)
			if !strings.Contains(out, tc.want) || (err == nil) != tc.ok {
				t.Fatalf("swaks %v: exit %v, want ok=%v and %q in:\n%s", tc.args, err, tc.ok, tc.want, out)
			}
			logReplies(t, out)
			if !tc.ok {
				return
			}
			m := smtptest.QueuedAs.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no queue ID in:\n%s", out)
			}
			n.wait(m[1], 0, queue.Delivered)
			delivered++
		})
	}
	if got := len(dest.Messages()); got != delivered || delivered != 3 {
		t.Fatalf("destination got %d messages, %d delivered, want 3", got, delivered)
	}
}

// swaks runs one submission with a deadline; its transcript is the output.
func swaks(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--helo", "client.test", "--from", "app@app1.test", "--to", "alice@dest.test", "--timeout", "10s"}
	cmd := exec.CommandContext(ctx, "swaks", append(base, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("swaks timed out:\n%s", out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), err
}

// logReplies keeps the replies that matter in the test log (-v): AUTH
// results, refusals and the queue ID.
func logReplies(t *testing.T, out string) {
	for _, l := range strings.Split(out, "\n") {
		if replyRE.MatchString(l) {
			t.Log(l)
		}
	}
}

var replyRE = regexp.MustCompile(`^<[~*]+ +(235|[45]\d\d|250 2\.0\.0 Ok: queued) `)

func bcryptHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	return smtptest.SelfSigned(t, "mtaq.test", "127.0.0.1").WriteFiles(t, dir)
}

func TestStartReportsAuthFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	for _, tc := range []struct {
		tweak func(*conf.Submission)
		want  string
	}{
		{func(s *conf.Submission) { s.TLSCert, s.TLSKey = filepath.Join(dir, "none.pem"), key }, "submission.tls_cert/tls_key: open "},
		{func(s *conf.Submission) { s.TLSCert, s.TLSKey = key, cert }, "submission.tls_cert/tls_key: "},
		{func(s *conf.Submission) { s.UsersFile = filepath.Join(dir, "none") }, "submission.users_file: open "},
	} {
		c := conf.Defaults()
		c.Hostname, c.DataDir = "mtaq.test", t.TempDir()
		c.Submission.Listen = []string{"127.0.0.1:0"}
		c.Submission.SMTPSListen = []string{"127.0.0.1:0"}
		c.Submission.TLSCert, c.Submission.TLSKey = cert, key
		tc.tweak(&c.Submission)
		d, err := Start(Options{Config: c})
		if err == nil {
			d.Stop(context.Background())
			t.Fatalf("started; want %q", tc.want)
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error %q, want prefix %q", err, tc.want)
		}
	}
}
