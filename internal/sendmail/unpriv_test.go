package sendmail_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/daemon"
	"github.com/mtaq/mtaq/internal/unprivtest"
)

// newSharedWorld is the multi-user host README describes: the maildrop in
// a spool directory outside data_dir, the daemon running (as root, like
// CI), and sendmail run by the unprivileged test user.
func newSharedWorld(t *testing.T) (*world, unprivtest.User) {
	t.Helper()
	u := unprivtest.Get(t)
	w := newWorld(t)
	spool := filepath.Join(w.dir, "spool")
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(w.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[sendmail]\nmaildrop = %q\n", filepath.Join(spool, "maildrop"))
	f.Close()
	if w.conf, err = conf.Load(w.cfg); err != nil {
		t.Fatal(err)
	}
	os.Chmod(w.cfg, 0o644)
	unprivtest.Traversable(t, spool)
	unprivtest.Traversable(t, w.bin)
	w.start()
	return w, u
}

// runAs is world.run as u.
func (w *world) runAs(u unprivtest.User, stdin, name string, args ...string) (int, string) {
	w.t.Helper()
	if !strings.Contains(name, "/") {
		name = filepath.Join(w.bin, name)
	}
	cmd := u.Command(w.t.Context(), name, args...)
	cmd.Env = append(cmd.Env, "MTAQ_CONFIG="+w.cfg)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		w.t.Fatalf("%s: %v", name, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// A user who is not the maildrop's owner cannot open it to fsync it (mode
// 3733): sendmail used to exit 73 (and -bs answer 451) for a message that
// was then delivered, so callers retried and sent duplicates.
func TestSendmailAsOtherUser(t *testing.T) {
	w, u := newSharedWorld(t)
	code, out := w.runAs(u, "Subject: from-the-user\n\nhello\n", "sendmail", "-i", "user@dest.test")
	if code != 0 || out != "" {
		t.Fatalf("sendmail as %s: exit %d, output %q; want 0 and nothing", u.Name, code, out)
	}
	m := w.received("from-the-user")
	if want := fmt.Sprintf("Received: from local (uid %d)", u.UID); !strings.Contains(string(m.Data), want) {
		t.Fatalf("delivered without %q:\n%.300s", want, m.Data)
	}
	code, out = w.runAs(u, "EHLO app\r\nMAIL FROM:<app@mtaq.test>\r\nRCPT TO:<user@dest.test>\r\nDATA\r\n"+
		"Subject: bs-from-the-user\r\n\r\nx\r\n.\r\nQUIT\r\n", "sendmail", "-bs")
	if code != 0 || !strings.Contains(out, "250 2.0.0") || !strings.Contains(out, "queued as") {
		t.Fatalf("sendmail -bs as %s: exit %d:\n%s", u.Name, code, out)
	}
	w.received("bs-from-the-user")
	if n := len(w.mx.Messages()); n != 2 {
		t.Fatalf("MX got %d messages, want 2", n)
	}
}

// A set-uid program calling sendmail has a real uid other than its
// effective one. The file belongs to the effective uid; sendmail used to
// write the real one, exit 0, and the daemon then refused the file.
func TestSendmailSetUID(t *testing.T) {
	w, u := newSharedWorld(t)
	dir := filepath.Join(w.dir, "suid")
	os.Mkdir(dir, 0o755)
	bin := filepath.Join(dir, "sendmail")
	copyFile(t, filepath.Join(w.bin, "mtaq"), bin)
	if err := os.Chown(bin, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	code, out := w.run("Subject: set-uid\n\nhello\n", bin, "-i", "user@dest.test")
	if code != 0 {
		t.Fatalf("set-uid sendmail: exit %d: %s", code, out)
	}
	m := w.received("set-uid")
	if want := fmt.Sprintf("Received: from local (uid %d)", u.UID); !strings.Contains(string(m.Data), want) {
		t.Fatalf("delivered without %q:\n%.300s", want, m.Data)
	}
	if des, _ := os.ReadDir(daemon.QuarantineDir(w.conf)); len(des) != 0 {
		t.Fatalf("the daemon refused %d files", len(des))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
