package sendmail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

func TestSendmailExtractDelivers(t *testing.T) {
	w := newWorld(t)
	w.start()
	msg := "From: app@mtaq.test\nTo: Alice <alice@dest.test>\nCc: bob@dest.test\nBcc: secret@dest.test\n" +
		"Subject: e2e-extract\n\nline one\n.\nline two\n"
	if code, out := w.run(msg, "sendmail", "-t", "-i"); code != 0 {
		t.Fatalf("sendmail -t -i: exit %d: %s", code, out)
	}
	m := w.received("e2e-extract")
	slices.Sort(m.To)
	if strings.Join(m.To, " ") != "alice@dest.test bob@dest.test secret@dest.test" {
		t.Fatalf("envelope recipients %v", m.To)
	}
	data := string(m.Data)
	if strings.Contains(strings.ToLower(data), "bcc") || strings.Contains(data, "secret@") {
		t.Fatalf("the Bcc field reached the destination:\n%s", data)
	}
	if !strings.Contains(data, "\r\n.\r\nline two\r\n") || !strings.Contains(data, "Received: from local (uid ") {
		t.Fatalf("message as delivered:\n%s", data)
	}
}

func TestBSDMailx(t *testing.T) {
	mailx := needTool(t, "bsd-mailx")
	w := newWorld(t)
	w.start()
	rc := filepath.Join(w.dir, "mailrc")
	os.WriteFile(rc, []byte("set sendmail="+filepath.Join(w.bin, "sendmail")+"\n"), 0o600)
	// -n: not /etc/mail.rc; MAILRC: ours, which names our sendmail.
	t.Setenv("MAILRC", rc)
	if code, out := w.run("hello from mailx\n", mailx, "-n", "-s", "e2e-mailx", "carol@dest.test"); code != 0 {
		t.Fatalf("mail: exit %d: %s", code, out)
	}
	m := w.received("e2e-mailx")
	if len(m.To) != 1 || m.To[0] != "carol@dest.test" || !strings.Contains(string(m.Data), "hello from mailx\r\n") ||
		!strings.Contains(string(m.Data), "with local id") {
		t.Fatalf("got %v:\n%s", m.To, m.Data)
	}
}

func TestPHPMail(t *testing.T) {
	php := needTool(t, "php")
	w := newWorld(t)
	w.start()
	script := `exit(mail("dave@dest.test", "e2e-php", "hello from PHP\n.\nstill here", "From: web@mtaq.test") ? 0 : 1);`
	code, out := w.run("", php, "-n", "-d", "sendmail_path="+filepath.Join(w.bin, "sendmail")+" -t -i", "-r", script)
	if code != 0 {
		t.Fatalf("php mail(): exit %d: %s", code, out)
	}
	m := w.received("e2e-php")
	if len(m.To) != 1 || m.To[0] != "dave@dest.test" || !strings.Contains(string(m.Data), "\r\n.\r\nstill here") ||
		!strings.Contains(string(m.Data), "with local id") {
		t.Fatalf("got %v:\n%s", m.To, m.Data)
	}
}

func TestDaemonDownThenStarted(t *testing.T) {
	w := newWorld(t)
	code, out := w.run("Subject: e2e-down\n\nqueued while down\n", "sendmail", "-f", "cron@mtaq.test", "erin@dest.test")
	if code != 0 {
		t.Fatalf("sendmail with the daemon down: exit %d: %s", code, out)
	}
	files, _, err := maildrop.List(w.conf.MaildropPath(), time.Now(), time.Hour)
	if err != nil || len(files) != 1 {
		t.Fatalf("maildrop: %v %v", files, err)
	}
	code, out = w.run("", "mailq")
	if code != 69 || !strings.Contains(out, "not running") || !strings.Contains(out, "1 message waiting in the maildrop") {
		t.Fatalf("mailq with the daemon down: exit %d: %s", code, out)
	}
	w.start()
	m := w.received("e2e-down")
	if m.From != "cron@mtaq.test" || m.To[0] != "erin@dest.test" {
		t.Fatalf("envelope %s → %v", m.From, m.To)
	}
	if files, _, _ := maildrop.List(w.conf.MaildropPath(), time.Now(), time.Hour); len(files) != 0 {
		t.Fatalf("maildrop still holds %v", files)
	}
}

func TestDangerousFlagRefused(t *testing.T) {
	w := newWorld(t)
	code, out := w.run("", "sendmail", "-C", "/etc/x", "a@dest.test")
	if code != 64 || !strings.Contains(out, "-C") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := w.run("", filepath.Join(w.bin, "mtaq"), "sendmail", "-be", "x"); code != 64 || !strings.Contains(out, "-be") {
		t.Fatalf("mtaq sendmail -be: exit %d: %s", code, out)
	}
}

func TestMailqListsDeferred(t *testing.T) {
	w := newWorld(t, smtptest.WithRcpt(func(string) error {
		return smtptest.Reply(451, "4.7.1", "greylisted, come back later")
	}))
	w.start()
	if code, out := w.run("Subject: e2e-mailq\n\nx\n", "sendmail", "-f", "app@mtaq.test", "frank@dest.test"); code != 0 {
		t.Fatalf("sendmail: exit %d: %s", code, out)
	}
	ctx := context.Background()
	var id string
	waitfor.NoError(t, func() error {
		ms, err := w.d.Store().List(ctx, queue.Filter{State: queue.Deferred})
		if len(ms) != 1 {
			return fmt.Errorf("%d deferred messages, want the one sent (%v)", len(ms), err)
		}
		id = ms[0].ID
		return nil
	})
	// The mailq symlink asks the running daemon over its admin socket.
	code, out := w.run("", "mailq")
	if code != 0 {
		t.Fatalf("mailq: exit %d: %s", code, out)
	}
	for _, want := range []string{id, "app@mtaq.test", "deferred frank@dest.test  (451 4.7.1 greylisted, come back later)", "in 1 Requests."} {
		if !strings.Contains(out, want) {
			t.Errorf("mailq output lacks %q:\n%s", want, out)
		}
	}
}
