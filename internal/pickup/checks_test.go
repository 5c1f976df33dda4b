package pickup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/maildrop"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

func (h *harness) scan() int {
	h.t.Helper()
	n, err := h.p.Scan(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// inQuarantine reports whether name was moved to the quarantine.
func (h *harness) inQuarantine(name string) bool {
	h.t.Helper()
	des, err := os.ReadDir(h.qdir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), "-"+name+"-") {
			return true
		}
	}
	return false
}

func TestBadFilesMovedAside(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := maildrop.Marshal(maildrop.Envelope{Sender: "a@b.test", Rcpts: []string{"c@d.test"},
		Posted: h.clk.Now(), UID: os.Getuid()}, []byte("x\r\n"))
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, good, 0o600)
	files := map[string]func(path string){
		"garbage":   func(p string) { os.WriteFile(p, []byte("hello\n"), 0o600) },
		"other-uid": func(p string) { os.WriteFile(p, bytesReplace(good, "uid: ", "uid: 4"), 0o600) },
		"bad-rcpt":  func(p string) { os.WriteFile(p, bytesReplace(good, "c@d.test", "c@d..test"), 0o600) },
		"symlink":   func(p string) { os.Symlink(secret, p) },
		"hardlink":  func(p string) { os.Link(secret, p) },
		"too-big": func(p string) {
			os.WriteFile(p, append(good[:len(good)-3], make([]byte, 2<<20)...), 0o600)
		},
	}
	for name, mk := range files {
		mk(filepath.Join(h.dir, name))
	}
	if n := h.scan(); n != 0 {
		t.Fatalf("queued %d bad files", n)
	}
	for name := range files {
		if !h.inQuarantine(name) {
			t.Errorf("%s was not moved to the quarantine", name)
		}
	}
	if left := h.left(); len(left) != 0 || len(h.messages()) != 0 {
		t.Fatalf("left %v, queued %d", left, len(h.messages()))
	}
	if data, _ := os.ReadFile(secret); string(data) != string(good) {
		t.Fatal("the link target was changed")
	}
}

func bytesReplace(b []byte, old, new string) []byte {
	return []byte(strings.Replace(string(b), old, new, 1))
}

func TestSuppressedRecipientRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if err := h.store.Suppress(ctx, queue.Suppression{Address: "gone@x.test", Reason: "hard_bounce",
		Created: h.clk.Now(), LastSeen: h.clk.Now(), Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.drop("Gone@x.test", "ok@x.test", "OK@x.test")
	if n := h.scan(); n != 1 {
		t.Fatalf("queued %d", n)
	}
	m := h.messages()[0]
	if len(m.Recipients) != 2 || m.Recipients[0].State != queue.Rejected || m.Recipients[1].State != queue.Queued {
		t.Fatalf("recipients %+v", m.Recipients)
	}
	if err := h.store.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTempFilesIgnoredThenReaped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tmp := filepath.Join(h.dir, maildrop.TempPrefix+"123")
	os.WriteFile(tmp, []byte("MTAQ-MAILDROP 1\nsender: a@b.test\n"), 0o600)
	os.Chtimes(tmp, h.clk.Now(), h.clk.Now())
	if n := h.scan(); n != 0 {
		t.Fatalf("queued %d", n)
	}
	if _, err := os.Stat(tmp); err != nil || h.inQuarantine(maildrop.TempPrefix+"123") {
		t.Fatal("a file being written was touched")
	}
	h.clk.Advance(25 * time.Hour)
	h.scan()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an abandoned temporary file was kept")
	}
}

// failingStore refuses every Enqueue, like a full disk.
type failingStore struct{ intake.Store }

func (failingStore) Enqueue(context.Context, *queue.Message, []byte) error { return queue.ErrNoSpace }

func TestStorageErrorKeepsFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	name := h.drop("a@x.test")
	h.p.o.Intake = h.intake(failingStore{h.store}, 1000)
	if _, err := h.p.Scan(context.Background()); !errors.Is(err, queue.ErrNoSpace) {
		t.Fatalf("Scan: %v, want ErrNoSpace", err)
	}
	if left := h.left(); len(left) != 1 || left[0] != name || h.inQuarantine(name) {
		t.Fatalf("file not kept for a retry: %v", left)
	}
	h.p.o.Intake = h.intake(h.store, 1000)
	if n := h.scan(); n != 1 || len(h.left()) != 0 {
		t.Fatalf("retry queued %d, left %v", n, h.left())
	}
}

// toggleStore refuses Enqueue like a full disk while full is set, and counts
// the attempts.
type toggleStore struct {
	intake.Store
	full     atomic.Bool
	attempts atomic.Int32
}

func (s *toggleStore) Enqueue(ctx context.Context, m *queue.Message, b []byte) error {
	s.attempts.Add(1)
	if s.full.Load() {
		return fmt.Errorf("enqueue %s: %w", m.ID, queue.ErrNoSpace) // as the store words it
	}
	return s.Store.Enqueue(ctx, m, b)
}

// A full queue is one error line, not one per file per tick, and the files
// wait for room without being tried one by one.
func TestFullQueueLogsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	core, logs := observer.New(zap.InfoLevel)
	h.p.log = zap.New(core)
	st := &toggleStore{Store: h.store}
	st.full.Store(true)
	h.p.o.Intake = h.intake(st, 1000)
	for range 3 {
		h.drop("a@x.test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const ticks = 5
	for range ticks {
		waitTimer(t, h.clk)
		h.clk.Advance(time.Second)
	}
	waitTimer(t, h.clk)
	if got := st.attempts.Load(); got != ticks+1 {
		t.Fatalf("%d Enqueue attempts over %d scans, want one per scan", got, ticks+1)
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
		t.Fatalf("%d error lines while full, want 1: %v", n, logs.All())
	}
	st.full.Store(false)
	h.clk.Advance(time.Second)
	h.waitMessages(3)
	waitfor.NoError(t, func() error {
		if n := logs.FilterMessage("maildrop scan recovered").Len(); n != 1 {
			return fmt.Errorf("%d recovery lines: %v", n, logs.All())
		}
		return nil
	})
}
