package sendmail_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mtaq/mtaq/internal/tmpfstest"
)

// TestMaildropFull puts the maildrop on a 1 MiB tmpfs and fills it to the
// last byte. The real sendmail binary then exits 75 (EX_TEMPFAIL) for a
// small and a large message, and sendmail -bs answers 452 4.3.1, leaving
// no temporary file for pickup; once the filler is deleted the next
// message goes through, and only that one reaches the MX.
func TestMaildropFull(t *testing.T) {
	if os.Geteuid() != 0 {
		needRoot(t)
	}
	w := newWorld(t)
	dir := w.conf.MaildropPath()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := tmpfstest.Mount(t, dir, "1m", ""); err != nil {
		t.Fatal(err)
	}
	w.start()                               // pickup sets the directory's mode and watches it
	filler := filepath.Join(dir, ".filler") // dot files are not mail to pickup
	fillUp(t, filler)

	msg := func(marker string, size int) string {
		return fmt.Sprintf("Subject: %s\n\n%s\n", marker, strings.Repeat(marker+" body line\n", size/20+1))
	}
	for _, m := range []struct {
		marker string
		size   int
	}{{"tiny-while-full", 10}, {"big-while-full", 300 << 10}} {
		code, out := w.run(msg(m.marker, m.size), "sendmail", "-i", "user@dest.test")
		if code != 75 || !strings.Contains(out, "no space left") {
			t.Fatalf("%s: exit %d (%s), want 75 EX_TEMPFAIL", m.marker, code, strings.TrimSpace(out))
		}
	}
	code, out := w.run("EHLO app\r\nMAIL FROM:<app@mtaq.test>\r\nRCPT TO:<user@dest.test>\r\nDATA\r\n"+
		"Subject: bs-while-full\r\n\r\nx\r\n.\r\nQUIT\r\n", "sendmail", "-bs")
	if !strings.Contains(out, "452 4.3.1") || strings.Contains(out, "queued as") {
		t.Fatalf("sendmail -bs on a full maildrop (exit %d):\n%s", code, out)
	}
	names := maildropNames(t, dir)
	if len(names) != 1 || names[0] != ".filler" {
		t.Fatalf("after the refusals the maildrop holds %q, want only .filler", names)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, out := w.run(msg("after-space", 10), "sendmail", "-i", "user@dest.test"); code != 0 {
		t.Fatalf("after space returned: exit %d (%s)", code, out)
	}
	w.received("after-space")
	for _, m := range w.mx.Messages() {
		if s := string(m.Data); strings.Contains(s, "while-full") {
			t.Fatalf("a message refused while full was delivered:\n%.200s", s)
		}
	}
	if n := len(w.mx.Messages()); n != 1 {
		t.Fatalf("MX got %d messages, want 1", n)
	}
}

// fillUp writes name until the filesystem has no byte left.
func fillUp(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; ; i++ {
		if i > 1024 {
			t.Fatal("the tmpfs never filled")
		}
		if _, err := f.Write(chunk); errors.Is(err, syscall.ENOSPC) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// maildropNames lists dir without corrupt/ (which pickup may create).
func maildropNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.Name() != "corrupt" {
			out = append(out, de.Name())
		}
	}
	return out
}

// needRoot skips without root unless MTAQ_E2E_TOOLS=require, where CI
// (which runs as root) must not pass by skipping.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("MTAQ_E2E_TOOLS") == "require" {
		t.Fatal("mounting a tmpfs needs root (MTAQ_E2E_TOOLS=require)")
	}
	t.Skip("mounting a tmpfs needs root")
}
