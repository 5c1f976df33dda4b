package pickup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/unprivtest"
	"github.com/mtaq/mtaq/queue"
)

// spool is the multi-user setup README advises: the maildrop outside
// data_dir (like /var/spool/mtaq/maildrop), writable by every user, with
// the daemon (root here, as in CI) importing from it, and an attacker
// acting as the unprivileged test user.
type spool struct {
	*harness
	user unprivtest.User
	logs *observer.ObservedLogs
}

func newSpool(t *testing.T) *spool {
	t.Helper()
	u := unprivtest.Get(t)
	base := t.TempDir()
	spoolDir := filepath.Join(base, "spool")
	if err := os.Mkdir(spoolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	unprivtest.Traversable(t, spoolDir)
	h := &harness{t: t, dir: filepath.Join(spoolDir, "maildrop"), qdir: filepath.Join(data, "quarantine"),
		clk: clock.NewFake(time.Now().UTC().Truncate(time.Second))}
	var err error
	h.store, err = queue.Open(filepath.Join(data, "queue"), queue.Options{Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	core, logs := observer.New(zap.InfoLevel)
	h.p, err = Open(Options{Dir: h.dir, QuarantineDir: h.qdir, Intake: h.intake(h.store, 1000),
		Clock: h.clk, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.p.Close() })
	return &spool{harness: h, user: u, logs: logs}
}

// as runs script as the unprivileged user with $MD set to the maildrop.
func (s *spool) as(script string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.user.Shell(ctx, "MD="+s.dir+"; "+script); err != nil {
		s.t.Fatalf("as %s: %s: %v\n%s", s.user.Name, script, err, out)
	}
}

// The reported exploit: a symlink named corrupt into a directory root
// runs scripts from, then an unreadable file. Moving the file aside used
// to follow the link and land the user's script there, and the same move
// replaced a root-owned 0600 file of the same name.
func TestSymlinkAttackOnQuarantine(t *testing.T) {
	t.Parallel()
	s := newSpool(t)
	target := filepath.Join(t.TempDir(), "profile.d")
	os.Mkdir(target, 0o755)
	victim := filepath.Join(target, "00-x.sh")
	if err := os.WriteFile(victim, []byte("root's own\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unprivtest.Traversable(t, target)
	s.as(`ln -s ` + target + ` "$MD/corrupt" && ln -s ` + target + ` "$MD/quarantine" && printf 'echo pwned\n' > "$MD/00-x.sh"`)
	s.scan()

	got, err := os.ReadFile(victim)
	info, _ := os.Lstat(victim)
	if err != nil || string(got) != "root's own\n" || info.Mode().Perm() != 0o600 || info.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the root-owned file was touched: %q %v %v", got, info.Mode(), err)
	}
	if des, _ := os.ReadDir(target); len(des) != 1 {
		t.Fatalf("files appeared in the target directory: %v", des)
	}
	for _, name := range []string{"00-x.sh", "corrupt", "quarantine"} {
		if !s.inQuarantine(name) {
			t.Errorf("%s not quarantined", name)
		}
	}
	if left := s.left(); len(left) != 0 {
		t.Fatalf("left in the maildrop: %v", left)
	}
	qi, _ := os.Stat(s.qdir)
	if qi.Mode().Perm() != 0o700 {
		t.Fatalf("quarantine mode %v", qi.Mode())
	}
	t.Logf("target untouched; %d entries quarantined", len(s.left())+3)
}

// A regular file named corrupt made the old move fail forever, so every
// junk file was read and logged again at each scan. Now each is refused
// once, with one line, whatever other names are planted.
func TestJunkLoggedOnce(t *testing.T) {
	t.Parallel()
	s := newSpool(t)
	const junk = 50
	s.as(fmt.Sprintf(`printf x > "$MD/corrupt"; i=0; while [ $i -lt %d ]; do printf 'junk\n' > "$MD/j$i"; i=$((i+1)); done`, junk))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for range 10 {
		waitTimer(t, s.clk)
		s.clk.Advance(time.Second)
	}
	waitTimer(t, s.clk)
	refused := s.logs.FilterMessage("refused a maildrop file; moved to the quarantine").Len()
	if refused != junk+1 || s.logs.Len() != junk+1 {
		t.Fatalf("%d refusal lines (%d lines in all) over 11 scans for %d bad files, want one each", refused, s.logs.Len(), junk+1)
	}
	if left := s.left(); len(left) != 0 {
		t.Fatalf("left in the maildrop: %v", left)
	}
}

// Hard links, FIFOs and sockets a user makes are refused without reading
// through them and without blocking the scan.
func TestLinksAndSpecialFiles(t *testing.T) {
	t.Parallel()
	s := newSpool(t)
	s.as(`printf x > "$MD/one" && ln "$MD/one" "$MD/two" && mkfifo "$MD/fifo"` +
		` && python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$MD/sock"`)
	done := make(chan struct{})
	go func() { s.scan(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scan blocked on a special file")
	}
	for _, name := range []string{"one", "two", "fifo", "sock"} {
		if !s.inQuarantine(name) {
			t.Errorf("%s not quarantined", name)
		}
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("queued %d", n)
	}
}

// A file its owner replaces while it is imported: the original is
// queued, the replacement is neither deleted unread nor lost. The owner is
// the unprivileged user, writing maildrop files by hand and renaming one
// over the other between the daemon's read and its removal.
func TestFileReplacedDuringImport(t *testing.T) {
	t.Parallel()
	s := newSpool(t)
	file := func(name, rcpt string) string {
		return fmt.Sprintf(`printf 'MTAQ-MAILDROP 1\nsender: cron@host.test\nrcpt: %s\nposted: 2026-12-07T09:00:00Z\nuid: %d\n\nx\r\n' > "$MD/%s"`,
			rcpt, s.user.UID, name)
	}
	s.as(file("a-first", "first@x.test") + " && " + file("tmp.second", "second@x.test"))
	replaced := false
	s.p.afterRead = func(n string) {
		if n != "a-first" || replaced {
			return
		}
		replaced = true
		s.as(`mv "$MD/tmp.second" "$MD/a-first"`)
	}
	s.scan()
	s.scan()
	var got []string
	for _, m := range s.messages() {
		got = append(got, m.Recipients[0].Address)
	}
	if !replaced || len(got) != 2 || len(s.left()) != 0 {
		t.Fatalf("queued %v, left %v: want both messages", got, s.left())
	}
}

// The maildrop applies the limits SMTP applies: a hand-written file with
// more recipients than max_recipients is refused, not delivered.
func TestMaildropRecipientLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.p.o.Intake = h.intake(h.store, 100)
	var rcpts []string
	for i := range 101 {
		rcpts = append(rcpts, fmt.Sprintf("u%d@x.test", i))
	}
	over := h.drop(rcpts...)
	at := h.drop(rcpts[:100]...)
	dup := h.drop(append(rcpts[:100], "U0@x.test")...) // 100 distinct
	if n := h.scan(); n != 2 {
		t.Fatalf("queued %d, want 2", n)
	}
	if !h.inQuarantine(over) || h.inQuarantine(at) || h.inQuarantine(dup) {
		t.Fatal("the file over the limit was not the one refused")
	}
}

// An idle maildrop is not listed again and again, however many files a
// user leaves in it (300,000 empty tmp. files kept the old importer at 60%
// of a core). MTAQ_LONG=1 uses the reported 300,000.
func TestIdleMaildropNotRelisted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := 20_000
	if os.Getenv("MTAQ_LONG") != "" {
		n = 300_000
	}
	for i := range n {
		f, err := os.Create(filepath.Join(h.dir, fmt.Sprintf("%s%07d", maildrop.TempPrefix, i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// Let the file system's clock pass the directory's mtime, as it does
	// within two seconds of a daemon's life.
	old := time.Now().Add(-time.Minute)
	os.Chtimes(h.dir, old, old)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.p.Run(ctx); close(done) }()
	waitTimer(t, h.clk) // the first listing, at start
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	const ticks = 30
	for range ticks {
		waitTimer(t, h.clk)
		h.clk.Advance(time.Second)
	}
	waitTimer(t, h.clk)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cancel()
	<-done
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	t.Logf("%d temporary files: %d listings in %d ticks; %v of CPU for the %d ticks after the first", n, h.p.listings, ticks+1, cpu, ticks)
	if h.p.listings != 1 {
		t.Fatalf("%d listings of an unchanged directory in %d ticks, want 1", h.p.listings, ticks+1)
	}
	// A change is seen at the next tick.
	h.drop("a@x.test")
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { h.p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h.waitMessages(1)
}

// Refused files and abandoned temporary files do not stay for ever.
func TestQuarantinePurgedAfterRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	core, logs := observer.New(zap.InfoLevel)
	h.p.log = zap.New(core)
	os.WriteFile(filepath.Join(h.dir, "junk"), []byte("junk"), 0o600)
	for i := range 3 {
		os.WriteFile(filepath.Join(h.dir, fmt.Sprint(maildrop.TempPrefix, i)), nil, 0o600)
	}
	h.scan()
	if !h.inQuarantine("junk") {
		t.Fatal("junk not quarantined")
	}
	h.clk.Advance(2 * time.Hour) // temporary files are stale after 1h
	h.scan()
	if des, _ := os.ReadDir(h.dir); len(des) != 0 {
		t.Fatalf("maildrop still holds %d entries", len(des))
	}
	if n := logs.FilterMessage("removed abandoned temporary files from the maildrop").Len(); n != 1 {
		t.Fatalf("%d lines for 3 stale files, want 1", n)
	}
	h.clk.Advance(31 * 24 * time.Hour)
	h.scan()
	if des, _ := os.ReadDir(h.qdir); len(des) != 0 {
		t.Fatalf("quarantine still holds %d entries after the retention", len(des))
	}
}
