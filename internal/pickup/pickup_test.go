package pickup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

type harness struct {
	t      *testing.T
	dir    string
	qdir   string
	store  *queue.PebbleStore
	clk    *clock.Fake
	p      *Pickup
	queued atomic.Int32
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	// The clock starts at the wall time: temporary files age by their
	// ctime, which the file system sets.
	data := t.TempDir()
	h := &harness{t: t, dir: filepath.Join(data, "maildrop"), qdir: filepath.Join(data, "quarantine"),
		clk: clock.NewFake(time.Now().UTC().Truncate(time.Second))}
	var err error
	h.store, err = queue.Open(t.TempDir(), queue.Options{Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	h.p, err = Open(Options{Dir: h.dir, QuarantineDir: h.qdir, Intake: h.intake(h.store, 1000), Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.p.Close() })
	return h
}

// intake is the daemon's intake on st, with recipients limited to
// maxRcpts.
func (h *harness) intake(st intake.Store, maxRcpts int) *intake.Intake {
	return intake.New(intake.Options{Hostname: "mtaq.test", Store: st, Clock: h.clk, MaxMessageBytes: 1 << 20,
		MaxRecipients: maxRcpts, OnQueued: func(string) { h.queued.Add(1) }})
}

// drop writes a message as sendmail would, posted by this process's uid.
func (h *harness) drop(rcpts ...string) string {
	h.t.Helper()
	name, err := maildrop.Drop(h.dir, maildrop.Envelope{Sender: "cron@host.test", Rcpts: rcpts,
		Posted: h.clk.Now(), UID: os.Getuid()}, []byte("Subject: test\r\n\r\nhello\r\n"))
	if err != nil {
		h.t.Fatal(err)
	}
	return name
}

// messages returns what the queue holds.
func (h *harness) messages() []*queue.Message {
	h.t.Helper()
	ms, err := h.store.List(context.Background(), queue.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

func (h *harness) waitMessages(n int) []*queue.Message {
	h.t.Helper()
	var ms []*queue.Message
	waitfor.NoError(h.t, func() error {
		if ms = h.messages(); len(ms) < n {
			return fmt.Errorf("queue holds %d messages, want %d", len(ms), n)
		}
		return nil
	})
	return ms
}

func (h *harness) left() []string {
	files, _, err := maildrop.List(h.dir, h.clk.Now(), time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func TestImportAtStartAndWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.drop("a@x.test")
	h.drop("b@y.test", "c@y.test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ms := h.waitMessages(2)
	// A file is removed after its message is queued (a crash in between
	// costs a duplicate, never a loss): wait for the removal too.
	waitfor.NoError(t, func() error {
		if left, queued := h.left(), h.queued.Load(); len(left) != 0 || queued != 2 {
			return fmt.Errorf("after start: files left %v, OnQueued %d", left, queued)
		}
		return nil
	})
	body, _ := h.store.Body(context.Background(), ms[0].ID)
	wantRcv := "Received: from local (uid " + strconv.Itoa(os.Getuid()) + ")\r\n\tby mtaq.test (mtaq) with local id " + ms[0].ID
	if !strings.HasPrefix(string(body), wantRcv) || !strings.HasSuffix(string(body), "\r\n\r\nhello\r\n") {
		t.Fatalf("stored body %q", body)
	}
	if ms[0].Sender != "cron@host.test" || ms[0].Recipients[0].State != queue.Queued || ms[0].Arrived != h.clk.Now() {
		t.Fatalf("message %+v", ms[0])
	}

	// The loop sleeps on the fake clock; a new file waits for the tick.
	waitTimer(t, h.clk)
	h.drop("d@z.test")
	h.clk.Advance(time.Second)
	h.waitMessages(3)
}

// waitTimer waits until pickup has gone to sleep on the fake clock.
func waitTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	waitfor.True(t, "pickup to go to sleep on the fake clock", func() bool { return clk.Pending() > 0 })
}
