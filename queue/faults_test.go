package queue

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/internal/clock"
)

// spaceFS reports whatever free space the test sets; everything else is
// the wrapped filesystem.
type spaceFS struct {
	vfs.FS
	avail atomic.Uint64
}

func (f *spaceFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	a := f.avail.Load()
	return vfs.DiskUsage{AvailBytes: a, TotalBytes: 1 << 40, UsedBytes: 1<<40 - a}, nil
}

// TestReserveRefusesOnlyNewMail: below the reserve Enqueue fails with
// ErrNoSpace and stores nothing, while every write the queue needs to
// drain (Lease, Apply, operator actions, suppressions, the webhook cursor,
// event trimming, Purge) still commits; acceptance resumes once space
// returns, and each change of state is logged once, not per message.
func TestReserveRefusesOnlyNewMail(t *testing.T) {
	const reserve = 8 << 20
	fs := &spaceFS{FS: vfs.NewMem()}
	fs.avail.Store(1 << 30)
	core, logs := observer.New(zap.WarnLevel)
	e := &env{t: t, clock: clock.NewFake(t0)}
	s, err := Open("queue-db", Options{FS: fs, Clock: e.clock, Logger: zap.New(core), MinFreeBytes: reserve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.s = s
	var ids []string
	for i := range 4 {
		ids = append(ids, e.enqueue(msg(t0, fmt.Sprintf("r%d@drain.test", i)), "Subject: before\r\n\r\nbody\r\n"))
	}

	fs.avail.Store(reserve - 1)
	for i := range 5 {
		m := msg(t0, "late@drain.test")
		err := s.Enqueue(bg, m, []byte("Subject: refused\r\n\r\nbody\r\n"))
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("enqueue %d below the reserve: %v, want ErrNoSpace", i, err)
		}
		if _, err := s.Message(bg, m.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused message %s was stored (%v)", m.ID, err)
		}
	}
	// Just enough for the reserve but not for the body: still refused.
	fs.avail.Store(reserve + 10)
	if err := s.Enqueue(bg, msg(t0, "late@drain.test"), []byte("Subject: x\r\n\r\n0123456789\r\n")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("enqueue into the reserve: %v", err)
	}

	fs.avail.Store(0) // the drain must not even look at free space
	e.ok(s.Lease(bg, []Lease{{ID: ids[0], Rcpt: 0, Until: t0.Add(time.Minute)}}))
	e.ok(s.Apply(bg, []Update{{ID: ids[0], Rcpt: 0, State: Delivered, CountAttempt: true,
		Reply: reply(250, "2.0.0", "ok"), Attempt: attempt(time.Second, "delivered", reply(250, "2.0.0", "ok"))}}))
	e.ok(s.Apply(bg, []Update{{ID: ids[1], Rcpt: 0, State: Deferred, NextAttempt: t0.Add(time.Hour), CountAttempt: true,
		Reply: reply(451, "4.7.1", "later"), Attempt: attempt(time.Second, "deferred", reply(451, "4.7.1", "later"))}}))
	e.ok(s.Apply(bg, []Update{{ID: ids[2], Rcpt: 0, State: Bounced, CountAttempt: true,
		Reply: reply(550, "5.1.1", "no such user"), Attempt: attempt(time.Second, "bounced", reply(550, "5.1.1", "no such user")),
		Suppress: &Suppression{Address: "r2@drain.test", Reason: "hard_bounce", Created: t0, LastSeen: t0, Count: 1}}}))
	_, err = s.Delete(bg, ids[3], t0.Add(time.Minute))
	e.ok(err)
	e.ok(s.SetCursor(bg, "hook", s.LastEvent()))
	_, err = s.TrimEvents(bg, t0.Add(time.Hour))
	e.ok(err)
	n, err := s.Purge(bg, t0.Add(time.Hour))
	e.ok(err)
	if n != 3 {
		t.Fatalf("purged %d messages at the reserve, want 3 (delivered, bounced, deleted)", n)
	}
	if m := e.message(ids[1]); m.Recipients[0].State != Deferred {
		t.Fatalf("deferred message is %s", m.Recipients[0].State)
	}

	fs.avail.Store(1 << 30)
	after := e.enqueue(msg(t0, "after@drain.test"), "Subject: after\r\n\r\nbody\r\n")
	if m := e.message(after); m.Recipients[0].State != Queued {
		t.Fatalf("message after space returned: %+v", m.Recipients[0])
	}
	fs.avail.Store(0)
	if err := s.Enqueue(bg, msg(t0, "x@drain.test"), []byte("b")); !errors.Is(err, ErrNoSpace) {
		t.Fatal(err)
	}
	fs.avail.Store(1 << 30)
	e.enqueue(msg(t0, "y@drain.test"), "b")

	refusing := logs.FilterMessageSnippet("refusing new mail").Len()
	resumed := logs.FilterMessageSnippet("accepting new mail").Len()
	if refusing != 2 || resumed != 2 || logs.Len() != 4 {
		t.Fatalf("log lines: %d refusing, %d resumed, %d in all; want 2, 2, 4 (two full periods, 7 refusals)",
			refusing, resumed, logs.Len())
	}
}

// faultChildEnv names the directory and fault mode of the child process
// TestWALFaultChild runs in.
const faultChildEnv = "MTAQ_QUEUE_FAULT_CHILD"

// TestInjectedWALFault finds out what Pebble does when a WAL write or fsync
// fails under a synced commit, in a child process because the answer is
// "exit": Pebble calls Logger.Fatalf ("fatal commit error") and the process
// ends with status 1. Enqueue never returns nil for the failed commit, so
// no 250 can follow, and reopening the directory finds every message
// acknowledged before the fault, consistent.
func TestInjectedWALFault(t *testing.T) {
	for _, mode := range []string{"write", "sync"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			out, code := runFaultChild(t, dir, mode)
			acked, armed, doomed := map[string]bool{}, false, ""
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 2 && f[0] == "acked":
					acked[f[1]] = true
				case len(f) == 2 && f[0] == "armed":
					armed, doomed = true, f[1]
				case len(f) > 0 && f[0] == "returned":
					t.Errorf("Enqueue returned after the injected fault (%s): Pebble no longer exits", line)
				}
			}
			if !armed || len(acked) != 20 {
				t.Fatalf("child did not reach the fault: %d acked, armed %v\n%s", len(acked), armed, out)
			}
			if acked[doomed] {
				t.Fatalf("the commit under the injected %s fault was acknowledged\n%s", mode, out)
			}
			if code != 1 || !strings.Contains(out, "fatal commit error") {
				t.Fatalf("child exit %d, want 1 from Pebble's fatal commit error\n%s", code, out)
			}
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(bg); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			for id := range acked {
				if m, err := s.Message(bg, id); err != nil || m.Recipients[0].State != Queued {
					t.Fatalf("acknowledged %s after restart: %v", id, err)
				}
			}
			_, err = s.Message(bg, doomed)
			t.Logf("%s fault: exit %d, %d acknowledged all present; the failed commit is present after restart: %v",
				mode, code, len(acked), err == nil)
		})
	}
}

// runFaultChild runs TestWALFaultChild in a child and returns its combined
// output and exit code. The child ends by itself (fault or 30 s); Cleanup
// kills it by PID if the test fails first.
func runFaultChild(t *testing.T, dir, mode string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWALFaultChild$", "-test.v")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with a killed go test
	cmd.Env = append(os.Environ(), faultChildEnv+"="+mode+":"+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("child still running after 60 s\n%s", out.String())
	}
	return "", 0
}

// TestWALFaultChild is the child of TestInjectedWALFault: it acknowledges
// 20 messages, then fails every write (or fsync) and tries one more.
func TestWALFaultChild(t *testing.T) {
	v := os.Getenv(faultChildEnv)
	if v == "" {
		t.Skip("child of TestInjectedWALFault")
	}
	mode, dir, _ := strings.Cut(v, ":")
	fail := map[errorfs.OpKind]bool{errorfs.OpFileWrite: true, errorfs.OpFileWriteAt: true}
	if mode == "sync" {
		fail = map[errorfs.OpKind]bool{errorfs.OpFileSync: true, errorfs.OpFileSyncData: true, errorfs.OpFileSyncTo: true}
	}
	var armed atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed.Load() && fail[op.Kind] {
			return errorfs.ErrInjected
		}
		return nil
	})
	log := zap.NewExample() // Fatalf reaches stdout, where the parent looks for it
	s, err := Open(dir, Options{FS: errorfs.Wrap(vfs.Default, inj), Logger: log, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	say := func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...); w.Flush() }
	for i := range 20 {
		m := msg(t0, fmt.Sprintf("r%d@fault.test", i))
		if err := s.Enqueue(bg, m, []byte("Subject: before\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		say("acked %s", m.ID)
	}
	m := msg(t0, "doomed@fault.test")
	m.ID = NewID(t0)
	say("armed %s", m.ID)
	armed.Store(true)
	err = s.Enqueue(bg, m, []byte("Subject: doomed\r\n\r\nbody\r\n"))
	say("returned %v", err)
	if err == nil {
		say("acked %s", m.ID)
	}
}
