package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/unprivtest"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestBackupRestoreUnderLoad is issue 20's backup check: mtaq backup taken
// in the middle of a 10,000-message run (submissions and deliveries going
// on), restored into a new data directory, started there: the restored
// daemon delivers every recipient the backup held pending, each once, and
// the suppression list is intact. Counts before and after are logged.
func TestBackupRestoreUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts daemon processes and sends 10,000 messages")
	}
	const n, conns = 10000, 8
	pn := newProcNet(t, "crash.test", "127.0.0.10")
	dns, portA, listen := pn.dns, pn.port, pn.listen
	// The first MX defers every third message, so the backup holds
	// deferred recipients as well as ones not yet tried.
	seqOf := regexp.MustCompile(`^user(\d+)@`)
	smtptest.New(t, fmt.Sprintf("127.0.0.10:%d", portA), smtptest.WithRcpt(func(to string) error {
		if m := seqOf.FindStringSubmatch(to); m != nil {
			if i, _ := strconv.Atoi(m[1]); i%3 == 0 {
				return smtptest.Reply(451, "4.3.0", "try later")
			}
		}
		return nil
	}))
	dir := t.TempDir()
	cfgA := writeConfig(t, filepath.Join(dir, "a.toml"), filepath.Join(dir, "data"), listen, dns.Addr(), portA, "1m", "1m", "")
	logPath := filepath.Join(dir, "mtaq.log")
	run := func(cfg string, args ...string) string {
		t.Helper()
		out, errs, code := runCLI(nil, append(args, "--config", cfg)...)
		if code != 0 {
			t.Fatalf("mtaq %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}

	a := startDaemon(t, cfgA, listen, logPath)
	run(cfgA, "suppress", "add", "complained@crash.test", "--reason", "complaint")
	run(cfgA, "suppress", "add", "gone@crash.test", "--reason", "hard_bounce")

	// The backup starts once 2,000 messages are acknowledged, while the
	// rest are still being submitted and delivered: a signal, not a clock.
	var acked atomic.Int64
	midRun := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for from := c * n / conns; from < (c+1)*n/conns; from += 100 {
				got, err := submit(listen, from, min(from+100, (c+1)*n/conns))
				if acked.Add(int64(len(got))) >= 2000 {
					once.Do(func() { close(midRun) })
				}
				if err != nil {
					t.Errorf("connection %d: %v", c, err)
					once.Do(func() { close(midRun) })
					return
				}
			}
		}(c)
	}
	<-midRun
	backupDir := filepath.Join(dir, "backup")
	var res admin.BackupResult
	if err := json.Unmarshal([]byte(run(cfgA, "backup", backupDir, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	during := acked.Load()
	wg.Wait()
	t.Logf("backup while %d of %d messages were acknowledged: %d messages, %d recipients pending (%v), %d suppressions, %d bytes, %.2fs",
		during, n, res.Messages, res.Pending, res.States, res.Suppressions, res.Bytes, res.Seconds)
	if res.Messages < 2000 || res.Pending == 0 || res.Suppressions != 2 {
		t.Fatalf("backup holds %+v", res)
	}
	if _, errs, code := runCLI(nil, "backup", backupDir, "--config", cfgA); code != 2 || !strings.Contains(errs, "exists") {
		t.Errorf("a second backup into the same directory: exit %d, %q", code, errs)
	}
	a.kill(syscall.SIGTERM)

	// Restore refuses a non-empty directory, then fills an empty one.
	busy := filepath.Join(dir, "busy")
	os.MkdirAll(filepath.Join(busy, "x"), 0o750)
	if _, errs, code := runCLI(nil, "restore", backupDir, busy); code != 2 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore into a non-empty directory: exit %d, %q", code, errs)
	}
	restored := filepath.Join(dir, "restored")
	var got admin.BackupResult
	out, errs, code := runCLI(nil, "restore", backupDir, restored, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("restore: exit %d: %s%s", code, errs, out)
	}
	t.Logf("restored: %d messages, %d recipients pending (%v), %d suppressions", got.Messages, got.Pending, got.States, got.Suppressions)
	if got.Messages != res.Messages || got.Pending != res.Pending || got.Suppressions != res.Suppressions {
		t.Fatalf("restored %+v, backup %+v", got, res)
	}

	// The restored daemon delivers to a second MX that takes everything.
	portB := smtptest.FreePort(t, "127.0.0.10")
	sinkB := smtptest.New(t, fmt.Sprintf("127.0.0.10:%d", portB))
	cfgB := writeConfig(t, filepath.Join(dir, "b.toml"), restored, listen, dns.Addr(), portB, "1s", "1s", "")
	startDaemon(t, cfgB, listen, logPath)
	run(cfgB, "queue", "retry", "--all") // deferred ones were due in a minute
	// Thousands of deliveries under the race detector on a loaded
	// machine: a wider bound than waitfor.Timeout, for the volume.
	const drain = 3 * time.Minute
	waitfor.Within(t, drain, func() error {
		if got := len(sinkB.Messages()); got < res.Pending {
			return fmt.Errorf("the restored daemon delivered %d of the %d the backup held pending", got, res.Pending)
		}
		return nil
	})
	waitfor.Within(t, drain, func() error {
		ls, _, code := runCLI(nil, "queue", "ls", "--state", "deferred", "--config", cfgB)
		q, _, code2 := runCLI(nil, "queue", "ls", "--state", "queued", "--config", cfgB)
		if code != 0 || code2 != 0 || strings.Contains(ls, "@crash.test") || strings.Contains(q, "@crash.test") {
			return fmt.Errorf("recipients still pending in the restored queue")
		}
		return nil
	})
	seen := map[string]int{}
	for _, m := range sinkB.Messages() {
		seen[seqHdr.FindString(string(m.Data))]++
	}
	for seq, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", seq, c)
		}
	}
	if len(seen) != res.Pending {
		t.Errorf("restored daemon delivered %d messages, the backup held %d pending", len(seen), res.Pending)
	}
	sup := run(cfgB, "suppress", "ls")
	if !strings.Contains(sup, "complained@crash.test") || !strings.Contains(sup, "gone@crash.test") {
		t.Errorf("suppressions after restore:\n%s", sup)
	}
}

// TestRestoreTakesTheDirectoryOwner: root restores into an empty directory
// made for the daemon's user; every file restored belongs to that user,
// with data_dir's modes, so the daemon can open it.
func TestRestoreTakesTheDirectoryOwner(t *testing.T) {
	u := unprivtest.Get(t)
	dir := t.TempDir()
	st, err := queue.Open(filepath.Join(dir, "live"), queue.Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	m := &queue.Message{Sender: "app@sender.test", Arrived: time.Now(), Recipients: []queue.Recipient{{Address: "u@x.test"}}}
	if err := st.Enqueue(context.Background(), m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	svc := admin.NewService(admin.Options{Store: st, Snapshot: func(_ context.Context, d string) error { return st.Checkpoint(d) }})
	backupDir := filepath.Join(dir, "backup")
	if _, err := svc.Backup(context.Background(), admin.BackupRequest{Dir: backupDir}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	to := filepath.Join(dir, "restored")
	if err := os.Mkdir(to, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(to, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runCLI(nil, "restore", backupDir, to); code != 0 || !strings.Contains(out, "1 messages (1 recipients pending)") {
		t.Fatalf("restore: exit %d: %s%s", code, out, errs)
	}
	err = filepath.WalkDir(to, func(p string, e os.DirEntry, err error) error {
		if err != nil || p == to {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := info.Sys().(*syscall.Stat_t)
		if sys.Uid != u.UID || sys.Gid != u.GID {
			t.Errorf("%s belongs to %d:%d, want %s", p, sys.Uid, sys.Gid, u.Name)
		}
		if perm := info.Mode().Perm(); perm&0o027 != 0 {
			t.Errorf("%s has mode %v: other users could read it", p, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
