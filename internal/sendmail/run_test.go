package sendmail

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/queue"
)

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// testEnv runs sendmail against a temporary data_dir.
type testEnv struct {
	Env
	out, errOut bytes.Buffer
}

func newEnv(t *testing.T, stdin string) *testEnv {
	c := conf.Defaults()
	c.Hostname = "h.test"
	c.DataDir = t.TempDir()
	c.Submission.MaxMessageBytes = 4096
	e := &testEnv{}
	e.Env = Env{Prog: "sendmail", Stdin: strings.NewReader(stdin), Stdout: &e.out, Stderr: &e.errOut,
		Config: c, Now: func() time.Time { return now }, User: func() (string, int) { return "www-data", os.Getuid() }}
	return e
}

func (e *testEnv) run(args ...string) int { return Run(e.Env, args) }

// dropped parses the one file in the maildrop.
func (e *testEnv) dropped(t *testing.T) (maildrop.Envelope, string) {
	t.Helper()
	files, _, err := maildrop.List(e.Config.MaildropPath(), now, time.Hour)
	if err != nil || len(files) != 1 {
		t.Fatalf("maildrop holds %v (%v), want one file", files, err)
	}
	data, _ := os.ReadFile(filepath.Join(e.Config.MaildropPath(), files[0].Name))
	env, body, err := maildrop.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return env, string(body)
}

func TestDeliverExtract(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "To: a@x.test\nCc: b@y.test\nBcc: hidden@z.test\nSubject: hi\n\nhello\n.\nafter\n")
	if code := e.run("-t", "-f", "app@h.test", "extra@x.test"); code != ExOK {
		t.Fatalf("exit %d: %s", code, e.errOut.String())
	}
	env, body := e.dropped(t)
	if env.Sender != "app@h.test" || strings.Join(env.Rcpts, " ") != "extra@x.test a@x.test b@y.test hidden@z.test" || env.UID != os.Getuid() {
		t.Fatalf("envelope %+v", env)
	}
	if strings.Contains(body, "hidden") || strings.Contains(body, "after") || !strings.Contains(body, "\r\n\r\nhello\r\n") {
		t.Fatalf("body %q", body)
	}
	if !strings.Contains(body, "From: <app@h.test>") {
		t.Fatalf("no From added: %q", body)
	}
}

func TestDeliverDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "hi\n.\nmore\n")
	if code := e.run("-i", "-F", "Web Server", "root"); code != ExOK {
		t.Fatalf("exit %d: %s", code, e.errOut.String())
	}
	env, body := e.dropped(t)
	if env.Sender != "www-data@h.test" || env.Rcpts[0] != "root@h.test" {
		t.Fatalf("envelope %+v", env)
	}
	if !strings.Contains(body, "From: \"Web Server\" <www-data@h.test>\r\n") || !strings.HasSuffix(body, "\r\n\r\nhi\r\n.\r\nmore\r\n") {
		t.Fatalf("body %q", body)
	}
}

func TestDeliverExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		msg         string
	}{
		{"no recipients", "To: a@x.test\n\nx\n", nil, ExUsage, "no recipients"},
		{"-t without addresses", "Subject: x\n\nx\n", []string{"-t"}, ExUsage, "no recipients"},
		{"bad recipient", "x\n", []string{"a@b..test"}, ExNoUser, "bad recipient"},
		{"bad To", "To: <a@\n\nx\n", []string{"-t"}, ExNoUser, "To"},
		{"bad sender", "x\n", []string{"-f", "a@@b", "c@d.test"}, ExUsage, "bad sender"},
		{"too large", strings.Repeat("x", 5000) + "\n", []string{"a@x.test"}, ExDataErr, "552 5.3.4"},
		{"NUL", "a\x00\n", []string{"a@x.test"}, ExDataErr, "NUL"},
		{"refused flag", "", []string{"-C", "/etc/x"}, ExUsage, "-C"},
		// intake's checks, the same the daemon runs at pickup and SMTP at DATA
		{"mail loop", strings.Repeat("Received: x\n", 31) + "\nx\n", []string{"a@x.test"}, ExDataErr, "554 5.4.6"},
		{"header line with nowhere to fold", "X-Long: " + strings.Repeat("v", 1200) + "\n\nx\n", []string{"a@x.test"}, ExDataErr, "554 5.6.0"},
		{"bad tag", "X-Mtaq-Tag: " + strings.Repeat("t", 200) + "\n\nx\n", []string{"a@x.test"}, ExDataErr, "550 5.6.0 X-Mtaq-Tag: "},
	} {
		e := newEnv(t, tc.stdin)
		if code := e.run(tc.args...); code != tc.code || !strings.Contains(e.errOut.String(), tc.msg) {
			t.Errorf("%s: exit %d %q, want %d with %q", tc.name, code, e.errOut.String(), tc.code, tc.msg)
		}
	}
}

func TestNullSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "x\n")
	if code := e.run("-f", "<>", "a@x.test"); code != ExOK {
		t.Fatalf("exit %d: %s", code, e.errOut.String())
	}
	if env, body := e.dropped(t); env.Sender != "" || !strings.Contains(body, "From: <MAILER-DAEMON@h.test>") {
		t.Fatalf("%+v %q", env, body)
	}
}

func TestMaildropNotWritable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "x\n")
	e.Config.Sendmail.Maildrop = filepath.Join(t.TempDir(), "no", "such", "dir")
	if code := e.run("a@x.test"); code != ExCantCreat {
		t.Fatalf("exit %d, want EX_CANTCREAT: %s", code, e.errOut.String())
	}
}

func TestSMTPOnStdio(t *testing.T) {
	t.Parallel()
	in := "EHLO app\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<bad@@x>\r\nDATA\r\n" +
		"Subject: s\r\n\r\n..dot\nbare lf\r\n.\r\nQUIT\r\n"
	e := newEnv(t, in)
	if code := e.run("-bs"); code != ExOK {
		t.Fatalf("exit %d: %s", code, e.errOut.String())
	}
	out := e.out.String()
	if !strings.HasPrefix(out, "220 h.test ESMTP") || !strings.Contains(out, "501 5.1.3") ||
		!strings.Contains(out, "250 2.0.0 Ok: queued as ") || !strings.HasSuffix(out, "221 2.0.0 Bye\r\n") {
		t.Fatalf("session:\n%s", out)
	}
	env, body := e.dropped(t)
	if env.Sender != "a@b.test" || len(env.Rcpts) != 1 || !strings.Contains(body, "\r\n\r\n.dot\r\nbare lf\r\n") {
		t.Fatalf("%+v %q", env, body)
	}
}

// fakeAdmin serves ListQueue from a fixed list, two per page, and Flush.
type fakeAdmin struct {
	admin.API
	msgs    []admin.QueueEntry
	err     error
	flushed int
}

func (f *fakeAdmin) ListQueue(_ context.Context, q admin.QueueFilter) (*admin.QueuePage, error) {
	if f.err != nil {
		return nil, f.err
	}
	var page admin.QueuePage
	for _, m := range f.msgs {
		if m.ID > q.After && m.Recipients[0].State == q.State && len(page.Messages) < 2 {
			page.Messages = append(page.Messages, m)
		}
	}
	if len(page.Messages) == 2 {
		page.Next = page.Messages[1].ID
	}
	return &page, nil
}

func (f *fakeAdmin) Flush(context.Context) (*admin.ActionResult, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.flushed++
	return &admin.ActionResult{Recipients: 3, Messages: 2}, nil
}

func entry(id, state string) admin.QueueEntry {
	return admin.QueueEntry{ID: id, Sender: "app@h.test", Arrived: now, Size: 2048, Recipients: []admin.RecipientEntry{
		{Address: "u@" + id + ".test", State: state, LastReply: &queue.Reply{Code: 451, Enhanced: "4.7.1", Text: "greylisted,\r\n try later"}},
	}}
}

func TestMailq(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.Prog = "mailq"
	e.Admin = &fakeAdmin{msgs: []admin.QueueEntry{entry("A1", "deferred"), entry("A2", "queued"), entry("A3", "deferred"),
		entry("A4", "deferred"), entry("A5", "delivered")}}
	maildrop.Ensure(e.Config.MaildropPath())
	maildrop.Drop(e.Config.MaildropPath(), maildrop.Envelope{Rcpts: []string{"x@y.test"}, Posted: now}, []byte("x\r\n"))
	if code := e.run("-bp"); code != ExOK {
		t.Fatalf("exit %d: %s", code, e.errOut.String())
	}
	out := e.out.String()
	for _, want := range []string{"A1 ", "A2 ", "A3 ", "A4 ", "deferred u@A1.test  (451 4.7.1 greylisted, try later)",
		"-- 8 Kbytes in 4 Requests.", "1 message waiting in the maildrop"} {
		if !strings.Contains(out, want) {
			t.Errorf("mailq output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "A5") {
		t.Errorf("a finished message is listed:\n%s", out)
	}
}

func TestDaemonDown(t *testing.T) {
	t.Parallel()
	down := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		args []string
		api  admin.API
		code int
	}{
		{[]string{"-bp"}, nil, ExUnavailable},
		{[]string{"-bp"}, &fakeAdmin{err: down}, ExUnavailable},
		{[]string{"-q"}, &fakeAdmin{err: down}, ExTempFail},
		{[]string{"-q"}, nil, ExTempFail},
	} {
		e := newEnv(t, "")
		e.Admin = tc.api
		if code := e.run(tc.args...); code != tc.code || !strings.Contains(e.errOut.String(), "not running") {
			t.Errorf("%v with %v: exit %d %q, want %d", tc.args, tc.api, code, e.errOut.String(), tc.code)
		}
	}
	e := newEnv(t, "")
	fa := &fakeAdmin{}
	e.Admin = fa
	if code := e.run("-q"); code != ExOK || fa.flushed != 1 || !strings.Contains(e.out.String(), "3 recipients of 2 messages") {
		t.Fatalf("flush: exit %d, flushed %d, %q", code, fa.flushed, e.out.String())
	}
}
